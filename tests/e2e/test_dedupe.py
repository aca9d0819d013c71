"""Same idempotency key, or the same message delivered twice: the same task name.

gcloud-tasks-emulator does NOT dedupe by name: it accepts the second CreateTask and would
dispatch both. Real Cloud Tasks answers ALREADY_EXISTS, which the bridge treats as success
(outcome `duplicate`); that path is covered by the unit tests with a fake gateway. Here we pause
the queue and read the tasks back, to assert on the names the bridge chose.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.stack.runner import SERVICE_BY_NAME, Service, Stack
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture
def paused_brain(stack: Stack) -> Iterator[Service]:
    service = SERVICE_BY_NAME["brain"]
    tasks = stack.require_tasks()
    tasks.pause(service.queue_path)
    try:
        yield service
    finally:
        tasks.purge(service.queue_path)  # nothing of this test reaches the worker later
        tasks.resume(service.queue_path)


def task_names(stack: Stack, service: Service, message_ids: list[str]) -> list[str]:
    wait_for(
        lambda: all(stack.outcomes(m) for m in message_ids),
        what=f"the bridge to handle messages {message_ids}",
        timeout_s=20,
    )
    logged = {e["message_id"]: e for e in stack.function_log() if e.get("message_id")}
    names = [logged[m]["task"] for m in message_ids]
    listed = [t.name for t in stack.require_tasks().list_tasks(service.queue_path)]
    for name in names:
        assert name in listed, f"{name} is not in {service.queue_id}: {listed}"
    return names


def test_same_idempotency_key_published_twice_gives_one_task_name(
    stack: Stack, paused_brain: Service, unique: str
) -> None:
    envelope = {"service": "brain", "payload": {"n": unique}, "idempotency_key": f"k-{unique}"}
    first = stack.publish_envelope(envelope)
    second = stack.publish_envelope(envelope)
    other = stack.publish_envelope({**envelope, "idempotency_key": f"other-{unique}"})
    assert first != second

    names = task_names(stack, paused_brain, [first, second, other])

    assert names[0] == names[1]
    assert names[2] != names[0]
    listed = [t.name for t in stack.require_tasks().list_tasks(paused_brain.queue_path)]
    assert listed.count(names[0]) == 2  # the emulator kept both; Cloud Tasks would refuse one


def test_same_message_delivered_twice_gives_one_task_name(
    stack: Stack, paused_brain: Service, unique: str
) -> None:
    """Two push subscriptions on one topic: Pub/Sub delivers the very same message (same id)
    to the function twice, as an at-least-once redelivery would."""
    topic = f"twice-{unique}"
    stack.pubsub.create_topic(topic)
    subscriptions = [f"twice-{unique}-{n}" for n in (1, 2)]
    for subscription in subscriptions:
        stack.add_push_subscription(subscription, topic_id=topic)
    try:
        message_id = stack.publish_envelope(
            {"service": "brain", "payload": {"n": unique}}, topic_id=topic
        )
        wait_for(
            lambda: len(stack.outcomes(message_id)) >= 2,
            what="two deliveries of the same message",
            timeout_s=20,
        )
        entries = [e for e in stack.function_log() if e.get("message_id") == message_id]
    finally:
        for subscription in subscriptions:
            stack.pubsub.delete_subscription(subscription)

    assert len({e["task"] for e in entries}) == 1
    listed = [t.name for t in stack.require_tasks().list_tasks(paused_brain.queue_path)]
    assert listed.count(entries[0]["task"]) == 2
