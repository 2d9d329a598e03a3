"""Rate-limited logging: a flood of bad payloads must not become a flood of log lines."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any


class RateLimitedLog:
    """Logs each kind of message at most once per interval, with a count of the suppressed.

    Args:
        logger: where to log.
        every_s: at most one line per key in this many seconds.
        max_keys: keys remembered; past that the oldest are forgotten.
    """

    def __init__(self, logger: logging.Logger, every_s: float, max_keys: int = 10_000) -> None:
        self.logger = logger
        self.every_s = every_s
        self.max_keys = max_keys
        self._last: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _allow(self, key: str) -> int | None:
        now = time.monotonic()
        with self._lock:
            last, suppressed = self._last.get(key, (-1e18, 0))
            if now - last < self.every_s:
                self._last[key] = (last, suppressed + 1)
                return None
            if len(self._last) >= self.max_keys and key not in self._last:
                self._last.pop(next(iter(self._last)))
            self._last[key] = (now, 0)
            return suppressed

    def log(self, level: int, key: str, msg: str, *args: Any) -> None:
        """Log ``msg % args`` unless ``key`` was logged within the interval."""
        suppressed = self._allow(key)
        if suppressed is None:
            return
        if suppressed:
            msg += " (%d similar suppressed)"
            args = (*args, suppressed)
        self.logger.log(level, msg, *args)

    def warning(self, key: str, msg: str, *args: Any) -> None:
        """Rate-limited warning."""
        self.log(logging.WARNING, key, msg, *args)

    def error(self, key: str, msg: str, *args: Any) -> None:
        """Rate-limited error."""
        self.log(logging.ERROR, key, msg, *args)
