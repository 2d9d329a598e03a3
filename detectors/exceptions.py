"""Errors of the detectors package."""

from anbu.errors import AnbuError


class DetectorError(AnbuError):
    """The detector core or worker refused something."""


class BacktestInputError(DetectorError):
    """A backtest input file is malformed.

    Attributes:
        path: the file.
        line: the 1-based line number, when known.
    """

    def __init__(self, path: str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")
        self.path = path
        self.line = line


class PackingError(DetectorError):
    """A household that cannot be packed, or bytes that are not a packed household.

    Never the input's fault: raised while applying a record, it is logged as a worker bug
    and counted, and the record is not dead-lettered (see :mod:`detectors.records`).
    """


class EventTimeAheadError(DetectorError):
    """A record's event time lies too far ahead of the worker's wall clock.

    Attributes:
        event_time: the furthest event time in the record (epoch seconds).
        limit: the latest event time accepted when it was read (epoch seconds).
        household_id: the household of that event.
    """

    def __init__(self, event_time: float, limit: float, household_id: str) -> None:
        super().__init__(
            f"event time {event_time:.0f} of household {household_id} is {event_time - limit:.0f}"
            " s past the latest accepted (worker wall clock + ingest.device_time_window + "
            "detectors.event_time_margin)")
        self.event_time = event_time
        self.limit = limit
        self.household_id = household_id
