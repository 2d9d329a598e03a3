"""Errors of the operator dashboards."""

from anbu.errors import UnavailableKind
from web.exceptions import WebError


class DashboardError(WebError):
    """A dashboard could not be built."""


class BadRangeError(DashboardError):
    """The requested time range is not valid (the message says why)."""


class SeriesUnavailableError(DashboardError, UnavailableKind):
    """InfluxDB could not be queried; the page says so instead of showing empty charts."""
