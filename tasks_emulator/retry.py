"""A queue's retry policy: how long to wait before the next attempt, and whether there is one.

The rules are the comments of ``RetryConfig`` in googleapis ``google/cloud/tasks/v2/queue.proto``:
the interval starts at ``min_backoff``, doubles ``max_doublings`` times, then grows linearly by
``2^max_doublings * min_backoff``, capped at ``max_backoff``; retrying stops only once both
``max_attempts`` and ``max_retry_duration`` are exhausted. Pure: time is passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks_emulator import api
from tasks_emulator.validation import seconds

UNLIMITED_ATTEMPTS = -1
# 2**128 times the smallest Duration (1 ns) exceeds the largest one (~3e11 s): past this many
# doublings every interval is max_backoff, and capping the exponent keeps the float finite.
_MAX_EXPONENT = 128


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A queue's ``retry_config`` in seconds, as production applies it."""

    max_attempts: int  # attempts in all, the first included; -1 = unlimited
    max_retry_duration_s: float  # measured from the first attempt; 0 = no time limit
    min_backoff_s: float
    max_backoff_s: float
    max_doublings: int

    @classmethod
    def from_pb(cls, retry_config: api.RetryConfig) -> RetryPolicy:
        """Read a raw ``RetryConfig`` as given (the service fills production's defaults in).

        Durations keep their fractions: the proto says backoffs are "truncated to the nearest
        second", yet production's own default ``min_backoff`` is 0.1 s, so we truncate nothing.
        """
        return cls(
            max_attempts=int(retry_config.max_attempts),
            max_retry_duration_s=seconds(retry_config.max_retry_duration),
            min_backoff_s=seconds(retry_config.min_backoff),
            max_backoff_s=seconds(retry_config.max_backoff),
            max_doublings=int(retry_config.max_doublings),
        )


def backoff_s(policy: RetryPolicy, *, failed_attempts: int) -> float:
    """The wait before the next attempt once the task has failed ``failed_attempts`` (>= 1) times.

    The proto's example: min 10 s, max 300 s, 3 doublings -> 10, 20, 40, 80, 160, 240, 300, 300.
    """
    if failed_attempts < 1:
        raise ValueError(f"failed_attempts must be at least 1, got {failed_attempts}")
    steps = failed_attempts - 1  # intervals grown so far: the first retry waits min_backoff
    doublings = max(policy.max_doublings, 0)
    if steps <= doublings:
        interval_s = policy.min_backoff_s * 2.0 ** min(steps, _MAX_EXPONENT)
    else:
        # After the doublings, each further step adds the last doubled interval once more.
        last_doubled_s = policy.min_backoff_s * 2.0 ** min(doublings, _MAX_EXPONENT)
        interval_s = last_doubled_s * (1 + steps - doublings)
    return min(interval_s, policy.max_backoff_s)


def may_retry(policy: RetryPolicy, *, attempts: int, first_attempt_s: float, now_s: float) -> bool:
    """Whether a task that failed its ``attempts``-th attempt is attempted again.

    Production stops "only when max_attempts and max_retry_duration are both satisfied". A limit
    that is unlimited (-1 attempts, a 0 duration) is satisfied from the start, so the other one
    alone decides; with neither set the task is retried until task retention removes it.
    """
    unlimited_attempts = policy.max_attempts == UNLIMITED_ATTEMPTS
    unlimited_duration = policy.max_retry_duration_s <= 0
    if unlimited_attempts and unlimited_duration:
        return True
    attempts_exhausted = unlimited_attempts or attempts >= policy.max_attempts
    elapsed_s = now_s - first_attempt_s
    duration_exhausted = unlimited_duration or elapsed_s >= policy.max_retry_duration_s
    return not (attempts_exhausted and duration_exhausted)
