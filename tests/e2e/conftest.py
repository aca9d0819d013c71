"""Session fixtures for the end-to-end tests: one real local stack (``bridge.stack.runner``).

The stack is the one ``make demo`` runs, plus one extra service, ``limbo``, whose queue does not
exist: Cloud Tasks answers FAILED_PRECONDITION, the bridge retries, and Pub/Sub dead-letters it.
A missing prerequisite (Java, the Pub/Sub emulator, the Cloud Tasks emulator's venv) skips these
tests with the reason, except under CI=true where it fails them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from bridge.config import DEFAULT_SERVICES
from bridge.stack.procs import MissingPrerequisite
from bridge.stack.pubsub_rest import PulledMessage
from bridge.stack.runner import Stack

LIMBO_QUEUE = "queue-limbo"  # never created in the emulator


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    extra_env = {
        "BRIDGE_SERVICES": f"{DEFAULT_SERVICES},limbo:LIMBO",
        "QUEUE_LIMBO": LIMBO_QUEUE,
        "URL_LIMBO": "http://127.0.0.1:9/limbo",
        "TASKS_TIMEOUT_S": "5",
    }
    running = Stack(extra_env=extra_env)
    try:
        running.start()
    except MissingPrerequisite as err:
        if os.environ.get("CI"):
            pytest.fail(str(err))
        pytest.skip(str(err))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def unique() -> str:
    """A fresh suffix for keys, topics and subscriptions, so tests never see each other's data."""
    return uuid.uuid4().hex[:10]


def wait_for(check: Callable[[], bool], *, what: str, timeout_s: float) -> None:
    """Poll ``check`` until true; fail the test at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.1)


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

    wait_for(poll, what=f"a matching message on {subscription_id}", timeout_s=timeout_s)
    return found
