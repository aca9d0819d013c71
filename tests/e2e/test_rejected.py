"""Malformed messages: acknowledged once (no redelivery loop), published to the rejected topic
with the reason, the original data and the original attributes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bridge.stack.poll import gather_for
from bridge.stack.runner import REJECTED_TOPIC, Stack
from tests.e2e.conftest import pull_matching

pytestmark = pytest.mark.e2e

REDELIVERY_WINDOW_S = 3.0  # the emulator redelivers an unacked push after ~1 s


@pytest.fixture
def rejected_subscription(stack: Stack, unique: str) -> Iterator[str]:
    """A pull subscription of our own on the rejected topic: sees only what follows."""
    subscription = f"rejected-{unique}"
    stack.pubsub.create_subscription(subscription, topic_id=REJECTED_TOPIC)
    yield subscription
    stack.pubsub.delete_subscription(subscription)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b'{"service": "brain", "payload": {"n": 1', "bad_json", id="bad_json"),
        pytest.param(
            '{"service": "contabilidad", "payload": {"año": 2026}}'.encode(),
            "unknown_service",
            id="unknown_service",
        ),
    ],
)
def test_malformed_message_is_acked_once_and_rejected(
    stack: Stack, rejected_subscription: str, unique: str, data: bytes, reason: str
) -> None:
    attributes = {"origin": "e2e", "case": unique}
    message_id = stack.pubsub.publish("enqueue-requests", data=data, attributes=attributes)

    [rejected] = pull_matching(
        stack,
        rejected_subscription,
        lambda m: m.attributes.get("bridge_message_id") == message_id,
        timeout_s=20,
    )

    assert rejected.data == data
    assert rejected.attributes["origin"] == "e2e"
    assert rejected.attributes["case"] == unique
    assert rejected.attributes["bridge_reason"] == reason
    assert rejected.attributes["bridge_error"]

    # Acked once: no redelivery within several redelivery periods, so no second log line and
    # no second rejection. (Absence can only be observed over a window.)
    more = gather_for(
        lambda: [
            m
            for m in stack.pubsub.pull(rejected_subscription)
            if m.attributes.get("bridge_message_id") == message_id
        ],
        window_s=REDELIVERY_WINDOW_S,
        interval_s=0.2,
    )
    assert more == []
    assert stack.outcomes(message_id) == ["rejected"]
    assert not [r for r in stack.worker.records() if r.header("X-Pubsub-Message-Id") == message_id]
