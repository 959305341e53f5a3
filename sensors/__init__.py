"""The device side: wire formats, validation, the MQTT ingest consumer and the simulator."""
