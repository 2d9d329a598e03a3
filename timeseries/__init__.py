"""Time series: activity, device health and metrics written to InfluxDB for the dashboards."""
