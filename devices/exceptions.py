"""Errors the device registry raises on purpose (all derive from :class:`AnbuError`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from anbu.errors import AnbuError, ConflictKind, ForbiddenKind, InvalidKind, NotFoundKind


class RegistryError(AnbuError):
    """Base class of the registry's errors."""


class NotFound(RegistryError, NotFoundKind):
    """The entity does not exist, or the caller may not see it (said the same way on purpose).

    Attributes:
        kind: ``household``, ``device``, ...
        ident: the id asked for.
    """

    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class Conflict(RegistryError, ConflictKind):
    """The change clashes with what is stored (an id or MQTT topic already in use)."""


class InvalidInput(RegistryError, InvalidKind):
    """A value was refused; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason

    def http_fields(self) -> dict[str, Any]:
        """The field at fault, for the API's answer."""
        return {"field": self.field}


class Forbidden(RegistryError, ForbiddenKind):
    """The caller's role may not do this."""


@dataclass(frozen=True, slots=True)
class RowError:
    """One bad row of a CSV import.

    Attributes:
        line: the line number in the file (the header is line 1).
        field: the column at fault.
        reason: what was wrong.
    """

    line: int
    field: str
    reason: str


class ImportRejected(RegistryError, InvalidKind):
    """A CSV import was refused as a whole; ``errors`` lists every bad row."""

    def __init__(self, errors: list[RowError]) -> None:
        lines = sorted({e.line for e in errors})
        super().__init__(f"import refused, nothing imported: {len(lines)} bad row(s)")
        self.errors = errors

    def http_fields(self) -> dict[str, Any]:
        """Every bad row, for the API's answer."""
        return {"errors": [{"line": e.line, "field": e.field, "reason": e.reason}
                           for e in self.errors]}
