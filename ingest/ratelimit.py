"""Rate-limited logging: a flood of bad payloads must not become a flood of log lines.

The limit is per *kind* of problem (``unregistered``, ``not_json``, ``send``...), never per
topic or device: a flood of junk on 50,000 distinct topics is one kind and logs one line per
interval, with the count of the suppressed. The line names the latest example, so an
operator still sees where the junk comes from.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

OTHER_KINDS = "(other kinds)"
"""The shared limit of every kind past ``max_kinds``."""


class RateLimitedLog:
    """Logs each kind of message at most once per interval, with a count of the suppressed.

    Args:
        logger: where to log.
        every_s: at most one line per kind in this many seconds.
        max_kinds: distinct kinds limited one by one; any further kind shares a single
            limit with all the others, so even a caller that passed per-topic keys by
            mistake logs at most ``max_kinds + 1`` lines per interval.
    """

    def __init__(self, logger: logging.Logger, every_s: float, max_kinds: int = 64) -> None:
        self.logger = logger
        self.every_s = every_s
        self.max_kinds = max_kinds
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _allow(self, kind: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            if kind not in self._last and len(self._last) >= self.max_kinds:
                kind = OTHER_KINDS
            last, suppressed = self._last.get(kind, (-1e18, 0))
            if now - last < self.every_s:
                self._last[kind] = (last, suppressed + 1)
                return None
            self._last[kind] = (now, 0)
            return suppressed

    def log(self, level: int, kind: str, msg: str, *args: Any) -> None:
        """Log ``msg % args`` unless a message of ``kind`` was logged within the interval."""
        suppressed = self._allow(kind)
        if suppressed is None:
            return
        if suppressed:
            msg += " (%d similar suppressed)"
            args = (*args, suppressed)
        self.logger.log(level, msg, *args)

    def warning(self, kind: str, msg: str, *args: Any) -> None:
        """Rate-limited warning."""
        self.log(logging.WARNING, kind, msg, *args)

    def error(self, kind: str, msg: str, *args: Any) -> None:
        """Rate-limited error."""
        self.log(logging.ERROR, kind, msg, *args)
