"""``poll_until``: returns once the predicate holds, raises naming what at the deadline;
``gather_for``: everything fetched over the whole window."""

from __future__ import annotations

import time

import pytest

from bridge.stack.poll import TimedOut, gather_for, poll_until


def test_returns_as_soon_as_the_predicate_holds() -> None:
    calls: list[int] = []

    def third_time() -> bool:
        calls.append(1)
        return len(calls) >= 3

    poll_until(third_time, timeout_s=10, what="the third call", interval_s=0.001)
    assert len(calls) == 3


def test_raises_naming_what_it_waited_for() -> None:
    started = time.monotonic()
    with pytest.raises(TimedOut, match="waiting for the impossible"):
        poll_until(lambda: False, timeout_s=0.2, what="the impossible", interval_s=0.01)
    assert time.monotonic() - started >= 0.2  # it did wait the whole time


def test_a_timeout_is_a_failed_assertion_in_a_test() -> None:
    assert issubclass(TimedOut, AssertionError)


def test_gather_for_keeps_fetching_until_the_window_ends() -> None:
    arrivals = iter([[], ["late"], [], ["later", "last"]])
    started = time.monotonic()
    got = gather_for(lambda: next(arrivals, []), window_s=0.3, interval_s=0.05)
    assert got == ["late", "later", "last"]  # one immediate look would have seen nothing
    assert time.monotonic() - started >= 0.3
