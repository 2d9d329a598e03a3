"""Errors of the web server."""

from anbu.errors import AnbuError


class WebError(AnbuError):
    """The web server could not start or serve."""
