"""Property-based tests: the *right* outcome for every generated message, not just "some error".

- valid envelopes (both modes) always become a task with a valid, deterministic name and a body
  equal to the payload;
- each kind of malformation yields its own ``bridge_reason``, with the original data kept;
- arbitrary bytes and attributes never make anything but a task or a classified rejection;
- hostile pushes (any message id, attribute, publish time, lone surrogates, control characters)
  never make a 5xx: only a task or a rejection Pub/Sub can store, and no header value that
  reaches a task holds a control character.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import string
from dataclasses import replace
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.config import Settings, load_settings
from bridge.errors import PermanentError, Reason
from bridge.event import decode_event
from bridge.http_entry import HttpBridge
from bridge.limits import MAX_DELAY_S
from bridge.logs import Outcome
from bridge.pubsub_entry import PubsubBridge
from tests.conftest import NOW, old_enqueuer_env, push_body
from tests.doubles import FakeGateway, RecordingSink, starlette_request

SETTINGS = load_settings(old_enqueuer_env())
# `make fuzz` multiplies every example count by FUZZ_SCALE (20 unless set: see the Makefile);
# without it (`make test`) the scale is 1.
SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
SERVICES = sorted(SETTINGS.routes)
TASK_NAME = re.compile(
    r"projects/demo-project/locations/us-central1/queues/[A-Za-z0-9-]{1,100}/tasks/[0-9a-f]{64}"
)
# Printable ASCII, no control character, no surrounding space (HTTP would strip it).
HEADER_VALUE = re.compile(r"(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?")
FIELDS = {"service", "payload", "delay_s", "idempotency_key", "deadline_s"}
UNREACHABLE_FROM_DATA = {
    Reason.BAD_EVENT,
    Reason.BAD_BASE64,
    Reason.MISSING_PAYLOAD,
    Reason.TASK_REJECTED,
}

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
payloads = st.dictionaries(st.text(max_size=10), json_values, max_size=6)
# Printable ASCII without surrounding spaces (HTTP would strip them).
keys = st.text(alphabet=string.printable[:95], min_size=1, max_size=60).filter(
    lambda k: k == k.strip(" ")
)


@st.composite
def envelopes(draw: st.DrawFn) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "service": draw(st.sampled_from(SERVICES)),
        "payload": draw(payloads),
    }
    if draw(st.booleans()):
        envelope["delay_s"] = draw(st.integers(0, MAX_DELAY_S))
    if draw(st.booleans()):
        envelope["idempotency_key"] = draw(keys)
    if draw(st.booleans()):
        envelope["deadline_s"] = draw(st.integers(15, 1800))
    return envelope


def handle(bridge: PubsubBridge, body: object) -> Outcome:
    return asyncio.run(bridge.handle(event_id=None, event_time=None, data=body))


def make_bridge(config: Settings = SETTINGS) -> tuple[PubsubBridge, FakeGateway, RecordingSink]:
    gateway, sink = FakeGateway(), RecordingSink()
    return (
        PubsubBridge(settings=config, gateway=gateway, rejections=sink, clock=lambda: NOW),
        gateway,
        sink,
    )


def encode(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


@settings(max_examples=300 * SCALE, suppress_health_check=[HealthCheck.too_slow])
@given(envelope=envelopes(), message_id=st.text(alphabet=string.digits, min_size=1, max_size=18))
def test_valid_envelopes_become_one_deterministic_task(
    envelope: dict[str, Any], message_id: str
) -> None:
    bridge, gateway, sink = make_bridge()
    body = push_body(envelope, message_id=message_id)
    assert handle(bridge, body) is Outcome.CREATED
    (spec,) = gateway.created.values()
    assert TASK_NAME.fullmatch(spec.task_name)
    assert json.loads(spec.body) == envelope["payload"]
    assert spec.route.service == envelope["service"]
    assert all(HEADER_VALUE.fullmatch(v) for v in spec.headers.values())
    # Redelivered: the same name, so Cloud Tasks would refuse a second task.
    assert handle(bridge, body) is Outcome.DUPLICATE
    assert sink.rejected == []


@settings(max_examples=200 * SCALE)
@given(envelope=envelopes())
def test_attribute_mode_gives_the_same_task_as_envelope_mode(envelope: dict[str, Any]) -> None:
    attributes = {"service": envelope["service"]}
    attributes |= {
        k: str(envelope[k]) for k in ("delay_s", "idempotency_key", "deadline_s") if k in envelope
    }
    by_envelope, by_attributes = make_bridge(), make_bridge()
    handle(by_envelope[0], push_body(envelope))
    handle(by_attributes[0], push_body(envelope["payload"], attributes=attributes))
    (one,) = by_envelope[1].created.values()
    (two,) = by_attributes[1].created.values()
    assert (one.task_name, one.schedule_time, one.deadline_s) == (
        two.task_name,
        two.schedule_time,
        two.deadline_s,
    )
    assert json.loads(one.body) == json.loads(two.body)
    # Attribute mode forwards the data byte for byte, as push_body published it.
    assert two.body == json.dumps(envelope["payload"], ensure_ascii=False).encode("utf-8")


def _without(envelope: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in envelope.items() if k != field}


@st.composite
def malformed(draw: st.DrawFn) -> tuple[bytes, Reason]:
    """A valid envelope with exactly one thing wrong, and the reason that must be given."""
    envelope = draw(envelopes())
    # bad_event, bad_base64, missing_payload and task_rejected cannot come from envelope bytes:
    # test_event, test_envelope and test_pubsub_entry cover them.
    kind = draw(st.sampled_from(sorted(set(Reason) - UNREACHABLE_FROM_DATA)))
    if kind is Reason.BAD_UTF8:
        return b"\xff" + encode(envelope), kind
    if kind is Reason.BAD_JSON:
        text = json.dumps(envelope, ensure_ascii=False)
        return text[: draw(st.integers(0, len(text) - 1))].encode("utf-8"), kind
    if kind is Reason.NOT_AN_OBJECT:
        return encode(draw(json_scalars | st.lists(json_values, max_size=3))), kind
    if kind is Reason.PAYLOAD_NOT_OBJECT:
        return encode(envelope | {"payload": draw(json_scalars | st.lists(json_values))}), kind
    if kind is Reason.MISSING_FIELD:
        return encode(_without(envelope, draw(st.sampled_from(["service", "payload"])))), kind
    if kind is Reason.UNKNOWN_FIELD:
        extra = draw(st.text(min_size=1, max_size=10).filter(lambda f: f not in FIELDS))
        return encode(envelope | {extra: draw(json_values)}), kind
    if kind is Reason.WRONG_TYPE:
        field = draw(st.sampled_from(["delay_s", "deadline_s"]))
        wrong = draw(
            st.text(max_size=5) | st.booleans() | st.floats(allow_nan=False) | st.lists(st.none())
        )
        return encode(envelope | {field: wrong}), kind
    if kind is Reason.OUT_OF_RANGE:
        field, bad = draw(
            st.sampled_from(["delay_s", "deadline_s"]).flatmap(
                lambda f: st.tuples(
                    st.just(f),
                    st.integers(max_value=-1 if f == "delay_s" else 14)
                    | st.integers(min_value=MAX_DELAY_S + 1 if f == "delay_s" else 1801),
                )
            )
        )
        return encode(envelope | {field: bad}), kind
    if kind is Reason.BAD_IDEMPOTENCY_KEY:
        key = draw(keys)
        if draw(st.booleans()):  # a surrounding space, which HTTP strips
            spaces = " " * draw(st.integers(1, 3))
            return encode(
                envelope
                | {"idempotency_key": draw(st.sampled_from([spaces + key, key + spaces, spaces]))}
            ), kind
        position = draw(st.integers(0, len(key)))
        unsafe = draw(st.sampled_from(["\r\n", "\n", "\x00", "\x7f", "\t", "ñ", "🚀", "\u2028"]))
        return encode(
            envelope | {"idempotency_key": key[:position] + unsafe + key[position:]}
        ), kind
    if kind is Reason.UNKNOWN_SERVICE:
        service = draw(st.text(min_size=1, max_size=20).filter(lambda s: s not in SETTINGS.routes))
        return encode(envelope | {"service": service}), kind
    assert kind is Reason.TOO_LARGE
    return encode(envelope | {"payload": {"blob": "x" * (SETTINGS.max_body_bytes + 1)}}), kind


@settings(
    max_examples=400 * SCALE,
    deadline=None,  # megabyte payloads on a shared machine: speed lives in benchmarks
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=malformed())
def test_each_malformation_is_rejected_with_its_reason(case: tuple[bytes, Reason]) -> None:
    data, reason = case
    bridge, gateway, sink = make_bridge()
    body = push_body("", attributes={"origin": "sheet"}, message_id="55")
    body["message"]["data"] = base64.b64encode(data).decode()
    assert handle(bridge, body) is Outcome.REJECTED
    (rejected,) = sink.rejected
    assert rejected.attributes["bridge_reason"] == reason.value
    assert rejected.data == data  # nothing lost
    assert rejected.attributes["origin"] == "sheet"
    assert rejected.attributes["bridge_message_id"] == "55"
    assert 0 < len(rejected.attributes["bridge_error"].encode()) <= 1024
    assert gateway.calls == 0


attribute_maps = st.dictionaries(
    st.sampled_from(["service", "delay_s", "deadline_s", "idempotency_key", "traceparent", "x"])
    | st.text(max_size=5),
    st.text(max_size=12) | st.sampled_from(SERVICES) | st.integers(0, 4000).map(str),
    max_size=5,
)


@settings(max_examples=400 * SCALE)
@given(
    data=st.binary(max_size=300) | envelopes().map(encode) | payloads.map(encode),
    attributes=attribute_maps,
)
def test_arbitrary_messages_become_a_task_or_a_classified_rejection(
    data: bytes, attributes: dict[str, str]
) -> None:
    bridge, gateway, sink = make_bridge(replace(SETTINGS, max_body_bytes=200))
    body = push_body("", attributes=attributes)
    body["message"]["data"] = base64.b64encode(data).decode()
    outcome = handle(bridge, body)
    if outcome is Outcome.REJECTED:
        (rejected,) = sink.rejected
        assert Reason(rejected.attributes["bridge_reason"])  # a documented code
        if rejected.attributes.get("bridge_wrapped") == "true":  # e.g. an empty attribute key
            wrapped = json.loads(rejected.data)
            assert (base64.b64decode(wrapped["data"]), wrapped["attributes"]) == (data, attributes)
        else:
            assert rejected.data == data
    else:
        assert outcome is Outcome.CREATED
        (spec,) = gateway.created.values()
        assert TASK_NAME.fullmatch(spec.task_name)
        assert all(HEADER_VALUE.fullmatch(v) for v in spec.headers.values())
        assert len(spec.body) <= 200


@settings(max_examples=300 * SCALE)
@given(
    event=json_values | st.dictionaries(st.just("message"), json_values),
    event_id=st.none() | st.text(max_size=20),
    event_time=st.none() | st.text(max_size=40) | st.datetimes().map(lambda d: d.isoformat() + "Z"),
)
def test_decoding_arbitrary_events_only_raises_permanent_errors(
    event: Any, event_id: str | None, event_time: str | None
) -> None:
    try:
        decode_event(event_id=event_id, event_time=event_time, data=event)
    except PermanentError as e:
        reason = e.reason
    else:
        return
    assert reason in (Reason.BAD_EVENT, Reason.BAD_BASE64)


@settings(max_examples=300 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.binary(max_size=400) | envelopes().map(encode) | malformed().map(lambda c: c[0]),
    traceparent=st.text(max_size=60),
    extra_headers=st.dictionaries(
        st.text(alphabet=string.ascii_letters + "-", min_size=1, max_size=12),
        st.text(alphabet=string.printable[:95], max_size=30),
        max_size=4,
    ),
)
def test_http_entry_answers_every_body_with_a_defined_status(
    body: bytes, traceparent: str, extra_headers: dict[str, str]
) -> None:
    gateway = FakeGateway()
    bridge = HttpBridge(settings=SETTINGS, gateway=gateway, clock=lambda: NOW)
    headers = {
        k: v
        for k, v in extra_headers.items()
        if k.lower() not in ("content-length", "transfer-encoding")
    }
    headers["Content-Type"] = "application/json"
    if traceparent.isascii() and traceparent.isprintable():
        headers["traceparent"] = traceparent
    response = asyncio.run(bridge.handle(starlette_request(body, headers=headers)))
    answer = json.loads(bytes(response.body))
    assert response.status_code in (200, 413, 422)
    if response.status_code == 200:
        (spec,) = gateway.created.values()
        assert answer["task"] == spec.task_name
        assert TASK_NAME.fullmatch(spec.task_name)
        assert all(HEADER_VALUE.fullmatch(v) for v in spec.headers.values())
    elif response.status_code == 422:
        (item,) = answer["detail"]
        assert Reason(item["type"])
        assert item["loc"][0] == "body"
        assert gateway.calls == 0


# Text as a hostile push can carry it in JSON: lone surrogates, control characters, spaces.
hostile_text = st.text(
    st.characters()
    | st.sampled_from(["\ud800", "\udfff", "\r", "\n", "\x00", "\x7f", " ", "\u2028"]),
    max_size=12,
)
hostile_attributes = st.dictionaries(
    st.sampled_from(
        ["service", "delay_s", "idempotency_key", "traceparent", "bridge_origin_message_id"]
    )
    | hostile_text,
    hostile_text | st.sampled_from(SERVICES) | st.integers(0, 10**7).map(str),
    max_size=5,
)
publish_times = (
    st.none()
    | hostile_text
    | st.datetimes().map(lambda d: d.isoformat() + "Z")
    | st.sampled_from(["9999-12-31T23:59:59.999999999Z", "0001-01-01T00:00:00Z"])
)
message_data = (
    envelopes().map(encode).map(lambda b: base64.b64encode(b).decode())
    | st.binary(max_size=100).map(lambda b: base64.b64encode(b).decode())
    | hostile_text
    | st.none()
    | st.integers()
)


@settings(max_examples=500 * SCALE, suppress_health_check=[HealthCheck.too_slow])
@given(
    message_id=hostile_text | st.text(alphabet=string.digits, min_size=1, max_size=18),
    attributes=hostile_attributes,
    publish_time=publish_times,
    data=message_data,
    delay_s=st.none() | st.integers(0, MAX_DELAY_S),
)
def test_no_push_makes_a_5xx_or_an_unsafe_header(
    message_id: str,
    attributes: dict[str, str],
    publish_time: str | None,
    data: Any,
    delay_s: int | None,
) -> None:
    bridge, gateway, sink = make_bridge()
    message: dict[str, Any] = {"messageId": message_id, "attributes": attributes, "data": data}
    if publish_time is not None:
        message["publishTime"] = publish_time
    if delay_s is not None and isinstance(data, str):
        envelope = {"service": SERVICES[0], "payload": {}, "delay_s": delay_s}
        message["data"] = base64.b64encode(encode(envelope)).decode()
    # Returning is a 2xx; a TransientError would be a 503 (here: a rejection Pub/Sub would
    # refuse, forever), anything else a 500.
    outcome = handle(bridge, {"message": message})
    if outcome is Outcome.REJECTED:
        (rejected,) = sink.rejected  # the strict sink took it: Pub/Sub would store it
        assert Reason(rejected.attributes["bridge_reason"])
        assert HEADER_VALUE.fullmatch(rejected.attributes["bridge_message_id"])
    else:
        assert outcome is Outcome.CREATED
        (spec,) = gateway.created.values()
        assert all(HEADER_VALUE.fullmatch(v) for v in spec.headers.values()), spec.headers
        if spec.schedule_time is not None:
            assert NOW < spec.schedule_time <= NOW + timedelta(seconds=MAX_DELAY_S)


@settings(max_examples=200 * SCALE, suppress_health_check=[HealthCheck.too_slow])
@given(
    service=hostile_text | st.sampled_from(SERVICES),
    key=hostile_text | keys,
    payload_text=hostile_text,
)
def test_no_request_to_post_enqueue_makes_a_500(service: str, key: str, payload_text: str) -> None:
    gateway = FakeGateway()
    bridge = HttpBridge(settings=SETTINGS, gateway=gateway, clock=lambda: NOW)
    envelope = {"service": service, "payload": {"t": payload_text}, "idempotency_key": key}
    for body in (
        json.dumps(envelope).encode(),  # lone surrogates as \ud800 escapes
        json.dumps(envelope, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    ):
        request = starlette_request(body, headers={"Content-Type": "application/json"})
        response = asyncio.run(bridge.handle(request))
        assert response.status_code in (200, 422), response.body
    for spec in gateway.created.values():
        assert all(HEADER_VALUE.fullmatch(v) for v in spec.headers.values()), spec.headers
