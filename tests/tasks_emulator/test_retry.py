"""The retry policy against the RetryConfig comments of queue.proto, with literal numbers."""

from __future__ import annotations

import pytest
from google.cloud.tasks_v2.types import queue
from google.protobuf import duration_pb2

from tasks_emulator.retry import RetryPolicy, backoff_s, may_retry

RetryConfig = queue.RetryConfig.pb()


def _policy(
    *,
    max_attempts: int = 100,
    max_retry_duration_s: float = 0.0,
    min_backoff_s: float = 0.1,
    max_backoff_s: float = 3600.0,
    max_doublings: int = 16,
) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=max_attempts,
        max_retry_duration_s=max_retry_duration_s,
        min_backoff_s=min_backoff_s,
        max_backoff_s=max_backoff_s,
        max_doublings=max_doublings,
    )


def _series(policy: RetryPolicy, count: int) -> list[float]:
    return [backoff_s(policy, failed_attempts=n) for n in range(1, count + 1)]


def test_the_protos_worked_example() -> None:
    policy = _policy(min_backoff_s=10, max_backoff_s=300, max_doublings=3)
    assert _series(policy, 9) == [10, 20, 40, 80, 160, 240, 300, 300, 300]


def test_production_defaults_double_sixteen_times_then_grow_linearly_up_to_an_hour() -> None:
    policy = _policy()  # min 0.1 s, max 3600 s, 16 doublings
    series = _series(policy, 20)
    assert series[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert series[15] == pytest.approx(3276.8)  # 0.1 * 2**15
    assert series[16] == 3600.0  # 0.1 * 2**16 = 6553.6, capped
    assert series[19] == 3600.0


def test_zero_doublings_grow_linearly_by_min_backoff() -> None:
    policy = _policy(min_backoff_s=5, max_backoff_s=18, max_doublings=0)
    assert _series(policy, 5) == [5, 10, 15, 18, 18]


def test_min_equal_to_max_is_a_constant_interval() -> None:
    policy = _policy(min_backoff_s=5, max_backoff_s=5, max_doublings=16)
    assert _series(policy, 4) == [5, 5, 5, 5]


def test_linear_phase_step_is_the_last_doubled_interval() -> None:
    policy = _policy(min_backoff_s=1, max_backoff_s=1000, max_doublings=2)
    assert _series(policy, 7) == [1, 2, 4, 8, 12, 16, 20]


def test_huge_attempt_counts_stay_capped_and_finite() -> None:
    policy = _policy(min_backoff_s=0.1, max_backoff_s=3600, max_doublings=2_000_000)
    assert backoff_s(policy, failed_attempts=1_000_000) == 3600.0
    assert backoff_s(_policy(), failed_attempts=10**12) == 3600.0


def test_failed_attempts_below_one_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="failed_attempts"):
        backoff_s(_policy(), failed_attempts=0)


def test_from_pb_reads_durations_with_fractions() -> None:
    config = RetryConfig(
        max_attempts=7,
        max_retry_duration=duration_pb2.Duration(seconds=60),
        min_backoff=duration_pb2.Duration(seconds=0, nanos=100_000_000),
        max_backoff=duration_pb2.Duration(seconds=3600),
        max_doublings=16,
    )
    assert RetryPolicy.from_pb(config) == _policy(
        max_attempts=7, max_retry_duration_s=60.0, min_backoff_s=0.1
    )


@pytest.mark.parametrize(
    ("max_attempts", "max_retry_duration_s", "attempts", "elapsed_s", "expected"),
    [
        # Attempts alone decide when there is no time limit.
        (3, 0.0, 2, 1e9, True),
        (3, 0.0, 3, 0.0, False),
        # The duration alone decides when attempts are unlimited.
        (-1, 60.0, 10**6, 59.9, True),
        (-1, 60.0, 1, 60.0, False),
        # Both set: stop only once both are exhausted.
        (3, 60.0, 3, 59.0, True),  # attempts used up, time left
        (3, 60.0, 2, 600.0, True),  # time used up, attempts left
        (3, 60.0, 3, 60.0, False),
        # Neither set: retried until task retention removes it.
        (-1, 0.0, 10**9, 1e12, True),
        # One attempt in all: never retried.
        (1, 0.0, 1, 0.0, False),
    ],
)
def test_may_retry_stops_only_once_both_limits_are_exhausted(
    max_attempts: int,
    max_retry_duration_s: float,
    attempts: int,
    elapsed_s: float,
    expected: bool,
) -> None:
    policy = _policy(max_attempts=max_attempts, max_retry_duration_s=max_retry_duration_s)
    first_attempt_s = 1_700_000_000.0
    now_s = first_attempt_s + elapsed_s
    assert (
        may_retry(policy, attempts=attempts, first_attempt_s=first_attempt_s, now_s=now_s)
        is expected
    )
