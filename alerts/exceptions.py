"""Errors raised by the alerts service and the inbox."""

from __future__ import annotations

from anbu.errors import AnbuError, ConflictKind, NotFoundKind


class AlertsError(AnbuError):
    """Base class for the alerts package's errors."""


class AlertNotFound(AlertsError, NotFoundKind):
    """No alert with that id (or not one the caller may see)."""


class TransitionRefused(AlertsError, ConflictKind):
    """The requested state change is not allowed from the alert's current state.

    Attributes:
        state: the alert's current state.
    """

    def __init__(self, message: str, *, state: str) -> None:
        super().__init__(message)
        self.state = state


class NotifyError(AlertsError):
    """A notifier could not deliver.

    Attributes:
        retryable: true when trying again may succeed (timeouts, 5xx, connection refused).
    """

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
