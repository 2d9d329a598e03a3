"""Errors of the ingest bridge.

:class:`Rejected` is used as a signal inside the adapters: it carries the dead-letter reason
and a human-readable detail, and never escapes the bridge.
"""

from __future__ import annotations

from anbu.errors import AnbuError


class IngestError(AnbuError):
    """Base class of the bridge's errors."""


class Rejected(IngestError):
    """An input that cannot become an event; it goes to the dead-letter topic.

    Attributes:
        reason: short machine-readable reason (``not_json``, ``invalid_payload``, ...).
        detail: what was wrong, for the person reading the dead letter.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Ignored(IngestError):
    """A message deliberately not turned into events (a command topic, no readings).

    Counted in the metrics with outcome ``ignored_<reason>``; acknowledged without Kafka.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RegistryUnavailable(IngestError):
    """The registry topic could not be read (Kafka unreachable, topic missing)."""
