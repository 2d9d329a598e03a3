"""Errors of the embedded stack."""

from anbu.errors import AnbuError


class StackError(AnbuError):
    """The embedded stack could not be started, checked or stopped."""


class ServiceNotReady(StackError):
    """A service did not become ready in time.

    Attributes:
        service: the service's name.
        log_path: where its output went, to look at.
    """

    def __init__(self, service: str, waited_s: float, log_path: str | None = None) -> None:
        self.service = service
        self.log_path = log_path
        where = f"; see {log_path}" if log_path else ""
        super().__init__(f"{service} was not ready after {waited_s:.0f} s{where}")


class MissingProgram(StackError):
    """A program the stack needs is not installed; the message says how to install it."""
