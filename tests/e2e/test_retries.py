"""Retries as the queue's policy says, seen at the worker: a misconfigured audience is refused 401
and retried until the configuration is fixed; a worker slower than the dispatch deadline is cut
off and retried; a failing worker is retried on the queue's backoff (doubling, then linear)."""

from __future__ import annotations

import itertools

import pytest

from bridge.stack.runner import CALLER_SA, Stack
from bridge.stack.worker import Received
from tests.e2e.conftest import (
    E2E_POLICY,
    SLOW_DEADLINE_S,
    SLOW_PATH,
    WRONG_AUDIENCE,
    delivered_once,
)

pytestmark = pytest.mark.e2e

EARLY_S = 0.05  # an attempt may come this much before its backoff (clock granularity)
LATE_S = 1.0  # ... and this much after it (dispatch loop, a loaded 2-core machine)


def attempts_of(stack: Stack, key: str) -> list[Received]:
    return [r for r in stack.worker.records() if r.header("X-Idempotency-Key") == key]


def assert_on_backoff(attempts: list[Received]) -> None:
    """Attempt n+1 came ``E2E_POLICY.backoff_s(n+1)`` after attempt n, within the tolerance."""
    for retry, (before, after) in enumerate(itertools.pairwise(attempts), 1):
        gap_s = after.received_at - before.received_at
        expected_s = E2E_POLICY.backoff_s(retry)
        assert expected_s - EARLY_S <= gap_s <= expected_s + LATE_S, (
            f"retry {retry} came {gap_s:.2f} s after the attempt before it, expected "
            f"{expected_s:.2f} s"
        )


def test_a_wrong_audience_is_refused_401_and_retried_until_fixed(stack: Stack, unique: str) -> None:
    key = f"aud-{unique}"
    stack.publish_envelope(
        {"service": "wrongaud", "payload": {"n": unique}, "idempotency_key": key}
    )

    refused = stack.worker.wait_for(
        lambda r: r.header("X-Idempotency-Key") == key, count=3, timeout_s=20
    )
    assert [r.status for r in refused[:3]] == [401, 401, 401]
    assert WRONG_AUDIENCE in refused[0].reason
    assert refused[0].claims["aud"] == WRONG_AUDIENCE  # the token itself was valid
    # fix the configuration: the worker accepts the audience the tasks were created with (a
    # custom audience on Cloud Run); the next retry drains the task
    stack.worker.accept_audience(WRONG_AUDIENCE)
    accepted = delivered_once(stack, lambda r: r.header("X-Idempotency-Key") == key)

    attempts = attempts_of(stack, key)
    assert attempts[-1] is accepted
    assert [r.status for r in attempts[:-1]] == [401] * (len(attempts) - 1)
    assert len(attempts) <= E2E_POLICY.max_attempts
    retry_counts = [r.header("X-CloudTasks-TaskRetryCount") for r in attempts]
    assert retry_counts == [str(n) for n in range(len(attempts))]
    assert {r.header("X-CloudTasks-TaskPreviousResponse") for r in attempts[1:]} == {"401"}
    assert_on_backoff(attempts)


def test_a_worker_slower_than_the_deadline_is_cut_off_and_retried(
    stack: Stack, unique: str
) -> None:
    """``slow``'s worker holds every task's first attempt past DEADLINE_SLOW_S."""
    key = f"slow-{unique}"
    stack.publish_envelope({"service": "slow", "payload": {"n": unique}, "idempotency_key": key})

    attempts = stack.worker.wait_for(
        lambda r: r.header("X-Idempotency-Key") == key, count=2, timeout_s=SLOW_DEADLINE_S + 20
    )
    first, retry = attempts[:2]
    assert first.path == retry.path == SLOW_PATH
    cut_after_s = retry.received_at - first.received_at
    # the first attempt was abandoned at the deadline, then the retry waited its backoff
    expected_s = SLOW_DEADLINE_S + E2E_POLICY.backoff_s(1)
    assert expected_s - EARLY_S - 0.5 <= cut_after_s <= expected_s + LATE_S + 1.0
    assert first.header("X-CloudTasks-TaskRetryCount") == "0"
    assert retry.header("X-CloudTasks-TaskRetryCount") == "1"
    delivered = delivered_once(stack, lambda r: r.header("X-Idempotency-Key") == key)
    assert delivered is retry


def test_retries_follow_the_queue_backoff(stack: Stack, unique: str) -> None:
    key = f"backoff-{unique}"
    failures = 4
    stack.worker.fail_first(key, attempts=failures)
    stack.publish_envelope({"service": "brain", "payload": {"n": unique}, "idempotency_key": key})
    expected_total_s = sum(E2E_POLICY.backoff_s(n) for n in range(1, failures + 1))

    accepted = delivered_once(
        stack, lambda r: r.header("X-Idempotency-Key") == key, timeout_s=expected_total_s + 20
    )

    attempts = attempts_of(stack, key)
    assert [r.status for r in attempts] == [503] * failures + [200]
    assert attempts[-1] is accepted
    assert [r.header("X-CloudTasks-TaskRetryCount") for r in attempts] == ["0", "1", "2", "3", "4"]
    assert {r.header("X-CloudTasks-TaskPreviousResponse") for r in attempts[1:]} == {"503"}
    assert_on_backoff(attempts)


def test_another_invoker_is_refused_403_and_retried(stack: Stack, unique: str) -> None:
    """The worker expects another account than the bridge's CALLER_SA (a wrong CALLER_SA, seen
    from the worker's side): 403, retried, until the invoker matches again."""
    check = stack.worker.check
    assert check is not None
    key = f"invoker-{unique}"
    check.caller_sa = "someone-else@local-bridge.iam.gserviceaccount.com"
    try:
        stack.publish_envelope(
            {"service": "testimonios", "payload": {"n": unique}, "idempotency_key": key}
        )
        refused = stack.worker.wait_for(
            lambda r: r.header("X-Idempotency-Key") == key, count=2, timeout_s=20
        )
    finally:
        check.caller_sa = CALLER_SA
    assert [r.status for r in refused[:2]] == [403, 403]
    assert CALLER_SA in refused[0].reason
    delivered_once(stack, lambda r: r.header("X-Idempotency-Key") == key)
