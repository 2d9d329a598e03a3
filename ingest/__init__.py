"""Ingest: the MQTT to Kafka bridge and its per-format adapters."""
