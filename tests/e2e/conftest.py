"""Session fixtures for the end-to-end tests: one real local stack (``bridge.stack.runner``).

The stack is the one ``make demo`` runs, with Terraform's queue settings except the backoff,
scaled down so retries are seen in seconds (``E2E_POLICY``), and three extra services:

- ``limbo``, whose queue does not exist: Cloud Tasks answers NOT_FOUND, the bridge retries,
  Pub/Sub dead-letters it;
- ``wrongaud``, whose ``AUD_WRONGAUD`` is not an audience the worker accepts: every attempt is
  refused 401, as Cloud Run would refuse it;
- ``slow``, with ``DEADLINE_SLOW_S=15`` (Cloud Tasks' minimum): a worker slower than that is cut
  off.

A missing prerequisite (Java, the Pub/Sub emulator) skips these tests with the reason, except
under CI=true where it fails them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from bridge.config import DEFAULT_SERVICES
from bridge.stack.poll import poll_until
from bridge.stack.procs import MissingPrerequisite
from bridge.stack.pubsub_rest import PulledMessage
from bridge.stack.queue_policy import terraform_defaults
from bridge.stack.runner import PROJECT_ID, REGION, Stack
from bridge.stack.worker import Received
from tests.prerequisites import missing_prerequisite

LIMBO_QUEUE = "queue-limbo"  # never created in the emulator
WRONG_AUDIENCE = "https://wrong-audience.example"
WRONGAUD_PATH = "/wrong-aud"
SLOW_PATH = "/slow"
SLOW_DEADLINE_S = 15
# Terraform's attempts, doublings and rates; its 10 s-600 s backoff scaled to 0.5 s-4 s.
E2E_POLICY = terraform_defaults().replace(min_backoff_s=0.5, max_backoff_s=4.0)


def queue_path(queue_id: str) -> str:
    return f"projects/{PROJECT_ID}/locations/{REGION}/queues/{queue_id}"


def running_stack() -> Iterator[Stack]:
    """The local stack as the end-to-end tests configure it, started, and stopped after.

    Served once per run by the session fixture ``stack`` in tests/conftest.py, which the e2e and
    the publishers' end-to-end tests share: one stack per run, never a second one.
    """
    extra_env = {
        "BRIDGE_SERVICES": f"{DEFAULT_SERVICES},limbo:LIMBO,wrongaud:WRONGAUD,slow:SLOW",
        "QUEUE_LIMBO": LIMBO_QUEUE,
        "URL_LIMBO": "http://127.0.0.1:9/limbo",
        "QUEUE_WRONGAUD": "queue-wrongaud",
        "AUD_WRONGAUD": WRONG_AUDIENCE,
        "QUEUE_SLOW": "queue-slow",
        "DEADLINE_SLOW_S": str(SLOW_DEADLINE_S),
        "TASKS_TIMEOUT_S": "5",
    }
    running = Stack(
        extra_env=extra_env,
        queue_policy=E2E_POLICY,
        extra_queues=("queue-wrongaud", "queue-slow"),
    )
    running.extra_env["URL_WRONGAUD"] = running.worker.url(WRONGAUD_PATH)
    running.extra_env["URL_SLOW"] = running.worker.url(SLOW_PATH)
    running.worker.hang(SLOW_PATH, hold_s=120)  # released when the worker stops
    try:
        running.start()
    except MissingPrerequisite as err:
        missing_prerequisite(str(err))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def unique() -> str:
    """A fresh suffix for keys, topics and subscriptions, so tests never see each other's data."""
    return uuid.uuid4().hex[:10]


SETTLE_S = 2.0  # a second delivery, if any, arrives within this window (dispatch is immediate)


def delivered_once(
    stack: Stack, predicate: Callable[[Received], bool], *, timeout_s: float = 20.0
) -> Received:
    """The one request the worker accepted (2xx) matching ``predicate``: waits for it, then
    for a bounded window, and fails if a second one arrived."""
    first = stack.worker.wait_for(lambda r: r.ok and predicate(r), timeout_s=timeout_s)[0]
    time.sleep(SETTLE_S)  # absence can only be observed over a window
    accepted = [r for r in stack.worker.records() if r.ok and predicate(r)]
    assert accepted == [first], f"the worker accepted {len(accepted)} requests, wanted one"
    return first


def pull_matching(
    stack: Stack,
    subscription_id: str,
    match: Callable[[PulledMessage], bool],
    *,
    timeout_s: float,
) -> list[PulledMessage]:
    """Pull (and ack) from a subscription until a message matches; every matching one so far."""
    found: list[PulledMessage] = []

    def poll() -> bool:
        found.extend(m for m in stack.pubsub.pull(subscription_id) if match(m))
        return bool(found)

    poll_until(poll, what=f"a matching message on {subscription_id}", timeout_s=timeout_s)
    return found


def log_line(stack: Stack, message_id: str) -> dict[str, Any]:
    """The bridge's one log line for ``message_id``; waits for it."""
    found: list[dict[str, Any]] = []

    def logged() -> bool:
        found[:] = [e for e in stack.function_log() if e.get("message_id") == message_id]
        return bool(found)

    poll_until(logged, what=f"the log line of message {message_id}", timeout_s=20)
    [entry] = found
    return entry
