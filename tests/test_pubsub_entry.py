from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import timedelta

import pytest

from bridge.config import Settings, load_settings
from bridge.errors import PermanentError, Reason, TransientError
from bridge.logs import Outcome
from bridge.message import ORIGIN_ATTRIBUTE
from bridge.naming import KeyKind, task_id_for
from bridge.pubsub_entry import PubsubBridge
from bridge.rejections import DroppingRejectionSink
from bridge.wrapped import wrap
from tests.conftest import NOW, PUBLISHED_AT, b64, old_enqueuer_env, push_body
from tests.doubles import FakeGateway, RecordingSink

ENVELOPE = {"service": "brain", "payload": {"texto": "ñandú"}, "idempotency_key": "CASE-001"}


def handle(bridge: PubsubBridge, body: object) -> Outcome:
    return asyncio.run(bridge.handle(event_id="ce-1", event_time=None, data=body))


def test_an_envelope_becomes_one_task(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway, sink: RecordingSink
) -> None:
    assert handle(pubsub_bridge, push_body(ENVELOPE)) is Outcome.CREATED
    (spec,) = gateway.created.values()
    assert spec.route.service == "brain"
    assert json.loads(spec.body) == {"texto": "ñandú"}
    assert spec.headers["X-Idempotency-Key"] == "CASE-001"
    assert spec.headers["X-Pubsub-Message-Id"] == "1001"
    assert sink.rejected == []


def test_the_same_key_twice_is_one_task(pubsub_bridge: PubsubBridge, gateway: FakeGateway) -> None:
    assert handle(pubsub_bridge, push_body(ENVELOPE, message_id="1")) is Outcome.CREATED
    assert handle(pubsub_bridge, push_body(ENVELOPE, message_id="2")) is Outcome.DUPLICATE
    assert len(gateway.created) == 1


def test_a_redelivered_message_without_key_is_one_task(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway
) -> None:
    unkeyed = {"service": "brain", "payload": {}}
    assert handle(pubsub_bridge, push_body(unkeyed, message_id="5")) is Outcome.CREATED
    assert handle(pubsub_bridge, push_body(unkeyed, message_id="5")) is Outcome.DUPLICATE
    assert handle(pubsub_bridge, push_body(unkeyed, message_id="6")) is Outcome.CREATED
    assert len(gateway.created) == 2


def test_a_replayed_message_is_named_after_its_original(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway
) -> None:
    unkeyed = {"service": "brain", "payload": {}}
    replayed = push_body(unkeyed, message_id="900", attributes={"bridge_origin_message_id": "5"})
    handle(pubsub_bridge, replayed)
    (spec,) = gateway.created.values()
    assert spec.task_name.endswith(task_id_for(service="brain", kind=KeyKind.MESSAGE_ID, value="5"))
    assert spec.headers["X-Idempotency-Key"] == "5"


def test_attribute_mode(pubsub_bridge: PubsubBridge, gateway: FakeGateway) -> None:
    body = push_body(
        {"texto": "ñ"}, attributes={"service": "testimonios", "delay_s": "30", "other": "x"}
    )
    assert handle(pubsub_bridge, body) is Outcome.CREATED
    (spec,) = gateway.created.values()
    assert spec.route.service == "testimonios"
    assert json.loads(spec.body) == {"texto": "ñ"}
    # Published 12:00:00.000000001, the delay counts from there.
    assert spec.schedule_time is not None
    assert abs(spec.schedule_time - (PUBLISHED_AT + timedelta(seconds=30))) < timedelta(seconds=1)


def test_traceparent_attribute_is_forwarded(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway
) -> None:
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    handle(pubsub_bridge, push_body(ENVELOPE, attributes={"traceparent": trace}))
    (spec,) = gateway.created.values()
    assert spec.headers["traceparent"] == trace


def test_a_malformed_message_is_acked_and_rejected_with_its_data(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway, sink: RecordingSink
) -> None:
    body = push_body("{not json", attributes={"origin": "sheet"}, message_id="77")
    assert handle(pubsub_bridge, body) is Outcome.REJECTED
    (rejected,) = sink.rejected
    assert rejected.data == b"{not json"
    assert rejected.attributes["origin"] == "sheet"
    assert rejected.attributes["bridge_reason"] == "bad_json"
    assert rejected.attributes["bridge_message_id"] == "77"
    assert gateway.calls == 0


def test_an_event_without_a_message_keeps_the_whole_body(
    pubsub_bridge: PubsubBridge, sink: RecordingSink
) -> None:
    body = {"msg": {"data": "e30=", "messageId": "8"}}
    assert handle(pubsub_bridge, body) is Outcome.REJECTED
    (rejected,) = sink.rejected
    assert rejected.attributes["bridge_reason"] == "bad_event"
    assert json.loads(rejected.data) == body


def test_data_that_is_not_base64_keeps_its_text_and_the_attributes(
    pubsub_bridge: PubsubBridge, sink: RecordingSink
) -> None:
    body = {
        "message": {"data": "%%%not-base64%%%", "messageId": "8", "attributes": {"origin": "x"}}
    }
    assert handle(pubsub_bridge, body) is Outcome.REJECTED
    (rejected,) = sink.rejected
    assert rejected.data == b"%%%not-base64%%%"
    assert rejected.attributes["origin"] == "x"
    assert rejected.attributes["bridge_reason"] == "bad_base64"
    assert rejected.attributes["bridge_message_id"] == "8"


def test_task_rejected_by_cloud_tasks_is_rejected(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway, sink: RecordingSink
) -> None:
    gateway.errors.append(PermanentError(Reason.TASK_REJECTED, "too big for Cloud Tasks"))
    assert handle(pubsub_bridge, push_body(ENVELOPE)) is Outcome.REJECTED
    assert sink.rejected[0].attributes["bridge_reason"] == "task_rejected"


def test_a_transient_failure_raises_so_pubsub_redelivers(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway, sink: RecordingSink
) -> None:
    gateway.errors.append(TransientError(code="UNAVAILABLE", detail="down"))
    with pytest.raises(TransientError):
        handle(pubsub_bridge, push_body(ENVELOPE))
    assert sink.rejected == []
    assert handle(pubsub_bridge, push_body(ENVELOPE)) is Outcome.CREATED  # the redelivery


def test_if_the_rejection_cannot_be_stored_the_message_is_retried(
    pubsub_bridge: PubsubBridge, sink: RecordingSink
) -> None:
    sink.fail_next = 1
    with pytest.raises(TransientError):
        handle(pubsub_bridge, push_body("{bad"))
    assert handle(pubsub_bridge, push_body("{bad")) is Outcome.REJECTED
    assert len(sink.rejected) == 1


def test_one_log_line_per_message_without_the_payload(
    pubsub_bridge: PubsubBridge, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = {"service": "brain", "payload": {"nombre": "María Secreta"}}
    handle(pubsub_bridge, push_body(secret, message_id="31"))
    handle(pubsub_bridge, push_body({"service": "nope", "payload": {"nombre": "María Secreta"}}))
    lines = capsys.readouterr().out.splitlines()
    assert "María" not in "".join(lines)
    created, rejected = (json.loads(line) for line in lines)
    assert created["severity"] == "INFO"
    assert created["outcome"] == "created"
    assert created["message_id"] == "31"
    assert (created["service"], created["queue"]) == ("brain", "queue-brain")
    assert created["task"].startswith(
        "projects/demo-project/locations/us-central1/queues/queue-brain/tasks/"
    )
    assert created["latency_ms"] >= 0
    assert len(created["data_sha256"]) == 16
    assert (rejected["outcome"], rejected["reason"], rejected["severity"]) == (
        "rejected",
        "unknown_service",
        "WARNING",
    )
    assert rejected["service"] == "nope"  # from the envelope: operators filter by it


def test_the_explicit_opt_out_drops_with_an_error_log(
    capsys: pytest.CaptureFixture[str],
) -> None:

    env = old_enqueuer_env()
    del env["REJECTED_TOPIC"]
    settings = load_settings(env | {"DROP_REJECTED": "true"})
    bridge = PubsubBridge(
        settings=settings,
        gateway=FakeGateway(),
        rejections=DroppingRejectionSink(),
        clock=lambda: NOW,
    )
    assert handle(bridge, push_body("{bad")) is Outcome.REJECTED
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line)["severity"] == "ERROR"


# -- hostile or broken pushes: bad_event and kept, never a 5xx or an injected header -----------


def test_a_publish_time_far_in_the_future_schedules_from_now(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway
) -> None:
    envelope = {"service": "brain", "payload": {}, "delay_s": 2_592_000}
    body = push_body(envelope, publish_time="9999-12-31T00:00:00Z")
    assert handle(pubsub_bridge, body) is Outcome.CREATED
    (spec,) = gateway.created.values()
    assert spec.schedule_time == NOW + timedelta(days=30)


@pytest.mark.parametrize(
    "message_id", ["1\r\nX-Injected: 1", "1\n", "\ud800", "1\x7f", " 1", "1 ", "ñ"]
)
def test_a_message_id_that_cannot_be_a_header_is_rejected_and_kept(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway, sink: RecordingSink, message_id: str
) -> None:
    body = push_body(ENVELOPE, attributes={"origin": "sheet"}, message_id=message_id)
    assert handle(pubsub_bridge, body) is Outcome.REJECTED
    assert gateway.calls == 0
    (rejected,) = sink.rejected
    assert rejected.attributes["bridge_reason"] == "bad_event"
    assert json.loads(rejected.data) == ENVELOPE  # the message's own data, not the event body
    assert rejected.attributes["origin"] == "sheet"
    kept_id = rejected.attributes["bridge_message_id"]
    assert kept_id.isascii()
    assert kept_id.isprintable()


def test_a_lone_surrogate_in_an_attribute_of_an_invalid_envelope_is_rejected(
    pubsub_bridge: PubsubBridge, sink: RecordingSink
) -> None:
    body = push_body({"service": "brain"}, attributes={"note\ud800": "v\udfff"})
    assert handle(pubsub_bridge, body) is Outcome.REJECTED  # not a retry, forever
    (rejected,) = sink.rejected
    assert rejected.attributes["bridge_reason"] == "missing_field"
    assert rejected.attributes["bridge_wrapped"] == "true"  # Pub/Sub cannot carry them as is
    wrapped = json.loads(rejected.data)
    assert wrapped["attributes"] == {"note\ud800": "v\udfff"}


def test_a_lone_surrogate_in_a_field_name_still_gives_a_publishable_rejection(
    pubsub_bridge: PubsubBridge, sink: RecordingSink
) -> None:
    body = push_body("", attributes={"service": "brain\ud800", "idempotency_key": "\udc00"})
    body["message"]["data"] = b64("{}")
    assert handle(pubsub_bridge, body) is Outcome.REJECTED
    (rejected,) = sink.rejected
    assert rejected.attributes["bridge_error"].encode()  # valid UTF-8


@pytest.mark.parametrize("origin", ["abc", "1\r\nX: 1", "", "12 ", "\ud800", "1" * 65])
def test_an_origin_attribute_that_is_not_a_message_id_is_rejected(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway, sink: RecordingSink, origin: str
) -> None:
    body = push_body({"service": "brain", "payload": {}}, attributes={ORIGIN_ATTRIBUTE: origin})
    assert handle(pubsub_bridge, body) is Outcome.REJECTED
    assert gateway.calls == 0
    assert sink.rejected[0].attributes["bridge_reason"] == "bad_event"
    assert ORIGIN_ATTRIBUTE in sink.rejected[0].attributes["bridge_error"]


# -- every rejection fits and can be replayed ----------------------------------------------


def test_a_10_mb_invalid_message_is_rejected_not_retried(
    pubsub_bridge: PubsubBridge, sink: RecordingSink
) -> None:
    body = push_body("")
    body["message"]["data"] = b64(b"{" * 10_000_000)  # the strict sink refuses what Pub/Sub would
    assert handle(pubsub_bridge, body) is Outcome.REJECTED
    (rejected,) = sink.rejected
    assert rejected.attributes["bridge_reason"] == "bad_json"
    assert rejected.attributes["bridge_data_bytes"] == "10000000"


def test_a_wrapped_replay_is_unwrapped_and_named_after_its_origin(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway
) -> None:
    attributes = {f"k{i}": "v" for i in range(99)} | {ORIGIN_ATTRIBUTE: "5"}
    data = wrap(json.dumps({"service": "brain", "payload": {"a": 1}}).encode(), attributes)
    body = push_body("", attributes={"bridge_wrapped": "true"}, message_id="900")
    body["message"]["data"] = b64(data)
    assert handle(pubsub_bridge, body) is Outcome.CREATED
    (spec,) = gateway.created.values()
    assert spec.task_name.endswith(task_id_for(service="brain", kind=KeyKind.MESSAGE_ID, value="5"))
    assert json.loads(spec.body) == {"a": 1}


def test_a_wrapped_message_that_is_not_the_wrapped_form_is_rejected(
    pubsub_bridge: PubsubBridge, sink: RecordingSink
) -> None:
    body = push_body("{oops", attributes={"bridge_wrapped": "true", "x": "1"})
    assert handle(pubsub_bridge, body) is Outcome.REJECTED
    (rejected,) = sink.rejected
    assert rejected.attributes["bridge_reason"] == "bad_event"
    assert rejected.data == b"{oops"
    assert "bridge_wrapped" not in rejected.attributes  # a replay must not unwrap it again


# -- what the worker receives: attribute mode is byte for byte ------------------------------


def test_attribute_mode_forwards_the_data_exactly_as_published(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway
) -> None:
    data = '{ "n": 1.10, "big": 1e2, "z": -0, "dup": 1, "dup": 2, "s": "\\u00e9\\/" }\n'
    handle(pubsub_bridge, push_body(data, attributes={"service": "brain"}))
    (spec,) = gateway.created.values()
    assert spec.body == data.encode()


@pytest.mark.parametrize("data", ['{"a": NaN}', '{"a": Infinity}', '{"a": -Infinity}'])
def test_attribute_mode_refuses_what_is_not_json(
    pubsub_bridge: PubsubBridge, sink: RecordingSink, data: str
) -> None:
    assert handle(pubsub_bridge, push_body(data, attributes={"service": "brain"})) is (
        Outcome.REJECTED
    )
    assert sink.rejected[0].attributes["bridge_reason"] == "bad_json"


def test_attribute_mode_counts_the_published_bytes_against_the_limit(
    settings: Settings, sink: RecordingSink
) -> None:
    bridge = PubsubBridge(
        settings=replace(settings, max_body_bytes=20),
        gateway=FakeGateway(),
        rejections=sink,
        clock=lambda: NOW,
    )
    padded = '{"a":                    1}'  # 27 bytes as published, 7 as compact JSON
    assert handle(bridge, push_body(padded, attributes={"service": "brain"})) is Outcome.REJECTED
    assert sink.rejected[0].attributes["bridge_reason"] == "too_large"


def test_envelope_mode_normalises_the_payload_as_the_readme_says(
    pubsub_bridge: PubsubBridge, gateway: FakeGateway
) -> None:
    payload = (
        '{ "n": 1.10, "big": 1e2, "z": -0, "zf": -0.0, "dup": 1, "dup": 2, "s": "\\u00e9\\/" }'
    )
    handle(pubsub_bridge, push_body('{"service": "brain", "payload": ' + payload + "}"))
    (spec,) = gateway.created.values()
    assert spec.body == '{"n":1.1,"big":100.0,"z":0,"zf":-0.0,"dup":2,"s":"é/"}'.encode()
