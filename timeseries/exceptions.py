"""Errors of the series writer."""

from anbu.errors import AnbuError


class SeriesError(AnbuError):
    """The series writer could not set up or write its series."""
