"""The embedded stack: Mosquitto, Tansu and InfluxDB on one machine, and anbu's processes."""
