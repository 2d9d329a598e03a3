"""The embedded stack: Mosquitto, Apache Kafka and InfluxDB on one machine, and anbu's processes."""
