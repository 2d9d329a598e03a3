"""The root of every exception anbu raises on purpose.

Each package (``config``, ``ingest``, ``detectors``, ``alerts``, ``devices``, ``web``,
``anbu.stack``) defines its own ``exceptions`` module whose classes derive from
:class:`AnbuError`, so callers can catch "anything anbu refused" in one place.
"""


class AnbuError(Exception):
    """Base class for all errors anbu raises deliberately."""
