"""`eventually`: the one way tests and benchmarks wait for a condition, instead of fixed sleeps."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NotYet(AssertionError):
    """The condition did not hold within its timeout; names what it last saw."""


class GiveUp(Exception):
    """Raised by a condition that can no longer come true (the process it waits for exited): stops at once."""


def eventually(condition: Callable[[], T], timeout_s: float, interval_s: float = 0.1, what: str = "") -> T:
    """The first truthy value of `condition()` within `timeout_s`, polled every `interval_s`; an exception the
    condition raises counts as not yet (the last one is chained), but GiveUp, which ends the wait at once.
    Raises NotYet when time runs out."""
    deadline, last, error = time.monotonic() + timeout_s, None, None
    while True:
        try:
            last, error = condition(), None
        except GiveUp:
            raise
        except Exception as raised:  # e.g. a platform coming back: try again
            error = raised
        if last and error is None:
            return last
        if time.monotonic() >= deadline:
            raise NotYet(f"{what or 'condition'} not met after {timeout_s:g} s (last: {last!r})") from error
        time.sleep(interval_s)
