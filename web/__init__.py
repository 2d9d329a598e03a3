"""The web server: installer API, care-center inbox, operator dashboards."""
