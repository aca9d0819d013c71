"""Exactly once at the worker: the same idempotency key published twice, the same message
delivered twice, the same key POSTed twice to ``/enqueue``. Cloud Tasks (the emulator, as
production) refuses the second name with ALREADY_EXISTS; the bridge logs it as ``duplicate``."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from bridge.stack.poll import poll_until
from bridge.stack.runner import Stack
from tests.e2e.conftest import delivered_once

pytestmark = pytest.mark.e2e


def test_same_idempotency_key_published_twice_reaches_the_worker_once(
    stack: Stack, unique: str
) -> None:
    key = f"k-{unique}"
    envelope = {"service": "brain", "payload": {"n": unique}, "idempotency_key": key}
    first = stack.publish_envelope(envelope)
    second = stack.publish_envelope(envelope)
    assert first != second

    request = delivered_once(stack, lambda r: r.header("X-Idempotency-Key") == key)

    poll_until(
        lambda: bool(stack.outcomes(first)) and bool(stack.outcomes(second)),
        what="the bridge to log both messages",
        timeout_s=20,
    )
    outcomes = sorted(stack.outcomes(first) + stack.outcomes(second))
    assert outcomes == ["created", "duplicate"]
    assert request.json() == {"n": unique}
    logged = {e["task"] for e in stack.function_log() if e.get("message_id") in (first, second)}
    [task] = logged  # both messages named the same task
    assert task.endswith(f"/tasks/{request.task_id}")


def test_same_message_delivered_twice_reaches_the_worker_once(stack: Stack, unique: str) -> None:
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
        poll_until(
            lambda: len(stack.outcomes(message_id)) >= 2,
            what="two deliveries of the same message",
            timeout_s=20,
        )
        delivered_once(stack, lambda r: r.header("X-Pubsub-Message-Id") == message_id)
    finally:
        for subscription in subscriptions:
            stack.pubsub.delete_subscription(subscription)

    assert sorted(stack.outcomes(message_id)) == ["created", "duplicate"]


def post_enqueue(stack: Stack, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{stack.http_function_url}/enqueue",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=20) as answer:
        return int(answer.status), json.loads(answer.read())


def test_post_enqueue_twice_answers_duplicate_and_reaches_the_worker_once(
    stack: Stack, unique: str
) -> None:
    stack.start_http_function()
    key = f"http-{unique}"
    body = {"service": "testimonios", "payload": {"n": unique}, "idempotency_key": key}

    first_status, first = post_enqueue(stack, body)
    second_status, second = post_enqueue(stack, body)

    assert (first_status, second_status) == (200, 200)
    assert first["duplicate"] is False
    assert second["duplicate"] is True
    assert first["task"] == second["task"]
    request = delivered_once(stack, lambda r: r.header("X-Idempotency-Key") == key)
    assert first["task"].endswith(f"/tasks/{request.task_id}")
