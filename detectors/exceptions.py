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

    Not a ``ValueError``: the worker turns those into dead letters (bad input), and a
    packing failure is never the input's fault.
    """
