"""Waiting for a condition: the one polling loop of the tests and the benchmarks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T | None],
    timeout_s: float = 30.0,
    *,
    step_s: float = 0.1,
    what: str = "",
) -> T:
    """Call ``condition`` until it returns something truthy; return that.

    Args:
        condition: what to check; anything it raises goes up at once.
        timeout_s: how long to keep trying.
        step_s: the pause between two tries.
        what: what is awaited, for the error (default: ``condition``'s docstring or repr).

    Raises:
        TimeoutError: ``condition`` was still falsy after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            awaited = what or (condition.__doc__ or repr(condition)).strip()
            raise TimeoutError(f"timed out after {timeout_s} s waiting for {awaited}")
        time.sleep(step_s)
