"""The root of every exception anbu raises on purpose.

Each package (``config``, ``ingest``, ``detectors``, ``alerts``, ``devices``, ``web``,
``anbu.stack``) defines its own ``exceptions`` module whose classes derive from
:class:`AnbuError`, so callers can catch "anything anbu refused" in one place.
"""


class AnbuError(Exception):
    """Base class for all errors anbu raises deliberately."""


# What kind of refusal an error is, whatever package raised it. A package's exception derives
# from its package's root and from one of these; the web app answers each kind with one HTTP
# status (anbu/http_errors.py), so no package writes its own error-to-HTTP mapping.


class NotFoundKind(AnbuError):
    """The thing asked for does not exist, or the caller may not know that it does."""


class ForbiddenKind(AnbuError):
    """The caller may not do this."""


class ConflictKind(AnbuError):
    """The request clashes with the current state (a duplicate, a retired row, ...)."""


class InvalidKind(AnbuError):
    """The request's input is not valid; :meth:`http_fields` may name the field."""


class UnavailableKind(AnbuError):
    """A service the answer needs (InfluxDB, ...) cannot be reached now."""
