"""The token bucket and the derived burst size, with time passed in as plain numbers."""

from __future__ import annotations

import math
import threading

import pytest

from tasks_emulator.ratelimit import TokenBucket, max_burst_for


@pytest.mark.parametrize(
    ("rate_per_s", "burst"),
    [(500.0, 100), (1.0, 10), (0.5, 10), (10.0, 10), (42.5, 43), (100.0, 100), (250.0, 100)],
)
def test_max_burst_for_matches_the_observed_values(rate_per_s: float, burst: int) -> None:
    assert max_burst_for(rate_per_s) == burst


@pytest.mark.parametrize("rate_per_s", [0.0, -1.0, math.nan, math.inf])
def test_max_burst_for_odd_rates_is_still_a_positive_burst(rate_per_s: float) -> None:
    assert max_burst_for(rate_per_s) == 10


def test_starts_full_and_empties_after_burst_takes() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=3, now_s=100.0)
    assert [bucket.take(100.0) for _ in range(4)] == [True, True, True, False]


def test_refills_at_the_rate() -> None:
    bucket = TokenBucket(rate_per_s=2.0, burst=2, now_s=0.0)
    assert bucket.take(0.0)
    assert bucket.take(0.0)
    assert bucket.wait_s(0.0) == pytest.approx(0.5)
    assert not bucket.take(0.4)
    assert bucket.wait_s(0.4) == pytest.approx(0.1)
    assert bucket.take(0.5)
    assert not bucket.take(0.5)


def test_never_holds_more_than_burst() -> None:
    bucket = TokenBucket(rate_per_s=100.0, burst=5, now_s=0.0)
    taken = sum(bucket.take(3600.0) for _ in range(10))
    assert taken == 5


def test_wait_is_zero_with_a_token_and_infinite_at_zero_rate() -> None:
    bucket = TokenBucket(rate_per_s=0.0, burst=1, now_s=0.0)
    assert bucket.wait_s(0.0) == 0.0
    assert bucket.take(0.0)
    assert bucket.wait_s(1e9) == math.inf
    assert not bucket.take(1e9)


def test_a_clock_stepping_back_adds_no_tokens() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=1, now_s=10.0)
    assert bucket.take(10.0)
    assert not bucket.take(5.0)
    assert bucket.wait_s(10.0) == pytest.approx(1.0)


def test_reconfigure_keeps_earned_tokens_up_to_the_new_burst() -> None:
    bucket = TokenBucket(rate_per_s=1.0, burst=10, now_s=0.0)
    bucket.reconfigure(rate_per_s=1.0, burst=2, now_s=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [True, True, False]
    bucket.reconfigure(rate_per_s=10.0, burst=2, now_s=0.0)
    assert bucket.wait_s(0.0) == pytest.approx(0.1)
    assert bucket.take(0.1)


def test_reconfigure_to_a_lower_rate_applies_from_now_on() -> None:
    bucket = TokenBucket(rate_per_s=10.0, burst=1, now_s=0.0)
    assert bucket.take(0.0)
    bucket.reconfigure(rate_per_s=1.0, burst=1, now_s=0.05)  # half a token earned at 10/s
    assert bucket.wait_s(0.05) == pytest.approx(0.5)


def test_concurrent_takes_never_exceed_the_tokens() -> None:
    bucket = TokenBucket(rate_per_s=0.0, burst=100, now_s=0.0)
    results: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [bucket.take(0.0) for _ in range(50)]
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 100
