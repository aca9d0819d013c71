"""The threats SECURITY.md lists, each pinned by a test (infrastructure ones: tests/terraform)."""

from __future__ import annotations

import asyncio
import json
import tracemalloc

import pytest

from bridge.envelope import parse_envelope
from bridge.errors import PermanentError, Reason
from bridge.logs import Outcome
from bridge.pubsub_entry import PubsubBridge
from tests.conftest import push_body
from tests.doubles import FakeGateway, RecordingSink


def handle(bridge: PubsubBridge, body: object) -> Outcome:
    return asyncio.run(bridge.handle(event_id="1", event_time=None, data=body))


@pytest.mark.parametrize("field", ["url", "audience", "queue", "headers", "oidc_token"])
def test_a_message_cannot_choose_where_the_task_goes(
    pubsub_bridge: PubsubBridge, sink: RecordingSink, field: str
) -> None:
    hostile = {"service": "brain", "payload": {}, field: "http://169.254.169.254/computeMetadata"}
    assert handle(pubsub_bridge, push_body(hostile)) is Outcome.REJECTED
    assert sink.rejected[0].attributes["bridge_reason"] == "unknown_field"


def test_attributes_cannot_choose_where_the_task_goes(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway
) -> None:
    attributes = {"service": "brain", "url": "http://169.254.169.254/", "audience": "evil"}
    handle(pubsub_bridge, push_body({"url": "http://169.254.169.254/"}, attributes=attributes))
    (spec,) = gateway.created.values()
    assert spec.route.url == "https://brain-abc-uc.a.run.app/process"
    assert spec.route.audience == "https://brain-abc-uc.a.run.app"


def test_a_service_name_cannot_reach_an_unlisted_route(
    pubsub_bridge: PubsubBridge, sink: RecordingSink, gateway: FakeGateway
) -> None:
    hostile = ("../brain", "BRAIN", "brain ", "__class__", "routes")
    for service in hostile:
        handle(pubsub_bridge, push_body({"service": service, "payload": {}}))
    # Each one rejected, none a task: a set of reasons would pass with four of five let through.
    assert [r.attributes["bridge_reason"] for r in sink.rejected] == ["unknown_service"] * 5
    assert gateway.calls == 0


@pytest.mark.parametrize(
    "key", ["K\r\nX-Injected: 1", "K\nHost: evil", "K\x00", "K\u2028X: 1", "K\x85"]
)
def test_headers_cannot_be_injected_through_the_key(key: str) -> None:
    with pytest.raises(PermanentError) as caught:
        parse_envelope(
            json.dumps({"service": "brain", "payload": {}, "idempotency_key": key}).encode()
        )
    assert caught.value.reason is Reason.BAD_IDEMPOTENCY_KEY


def test_headers_cannot_be_injected_through_traceparent(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway
) -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nX-Injected: 1"
    handle(
        pubsub_bridge,
        push_body({"service": "brain", "payload": {}}, attributes={"traceparent": trace}),
    )
    (spec,) = gateway.created.values()
    assert "traceparent" not in spec.headers
    assert all("\n" not in v and "\r" not in v for v in spec.headers.values())


def test_deeply_nested_json_is_refused_without_recursing(
    pubsub_bridge: PubsubBridge, sink: RecordingSink
) -> None:
    depth = 100_000
    data = '{"service": "brain", "payload": ' + '{"a": ' * depth + "1" + "}" * (depth + 1)
    assert handle(pubsub_bridge, push_body(data)) is Outcome.REJECTED
    assert sink.rejected[0].attributes["bridge_reason"] == "bad_json"


def test_an_oversized_payload_is_refused_with_bounded_memory(
    pubsub_bridge: PubsubBridge, sink: RecordingSink
) -> None:
    blob = "x" * 3_000_000  # three times the default limit
    body = push_body({"service": "brain", "payload": {"blob": blob}})
    tracemalloc.start()
    try:
        assert handle(pubsub_bridge, body) is Outcome.REJECTED
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sink.rejected[0].attributes["bridge_reason"] == "too_large"
    # The data itself (3 MB) plus its parsed and encoded copies: a small multiple, not a blow-up.
    assert peak < 6 * len(blob), peak
