"""One way to wait for something: poll a predicate until it holds, or raise naming what; and
one way to see that nothing arrives: gather what a fetch returns over a bounded window.

The stack, the tests and the benchmarks all wait with this: never a blind sleep, and never a
silent partial result at the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


class TimedOut(AssertionError):
    """Raised if the predicate still did not hold at the deadline; the message names ``what``.

    An ``AssertionError``, so a test that waits fails as a failed assertion, not as an error.
    """


def poll_until(
    predicate: Callable[[], bool], *, timeout_s: float, what: str, interval_s: float = 0.05
) -> None:
    """Call ``predicate`` until it returns true. Raised at ``timeout_s``: ``TimedOut``."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            raise TimedOut(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def gather_for(
    fetch: Callable[[], Iterable[T]], *, window_s: float, interval_s: float = 0.1
) -> list[T]:
    """Everything ``fetch`` returns over ``window_s`` (at least one call): a check that nothing
    arrives observes a bounded window, never one immediate look that a late arrival would miss."""
    gathered: list[T] = []
    deadline = time.monotonic() + window_s
    while True:
        gathered.extend(fetch())
        if time.monotonic() >= deadline:
            return gathered
        time.sleep(interval_s)
