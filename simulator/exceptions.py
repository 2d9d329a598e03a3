"""Errors the simulator raises on purpose."""

from anbu.errors import AnbuError


class SimulatorError(AnbuError):
    """The simulator was asked for something it cannot do (bad option, unreachable broker)."""


class RegistryUnavailable(SimulatorError):
    """The demo could not seed the registry (``devices`` is not installed or refused)."""
