"""The device registry: care centers, households, residents, gateways and devices."""
