"""``bridge.publishing``: envelopes checked by the bridge's model, exact request sizes, batching,
error translation, and real publishing to the emulator, decoded by the bridge's own decoder."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

import pytest
from google.api_core import exceptions as api
from google.auth import exceptions as auth
from google.pubsub_v1.types import PublishRequest, PubsubMessage

import bridge.publishing
from bridge.envelope import Envelope, parse_envelope
from bridge.errors import Reason
from bridge.limits import MAX_REQUEST_BYTES
from bridge.message import traceparent_of
from bridge.publishing.publisher import (
    AccessDenied,
    InvalidEnvelope,
    MissingTopic,
    Publisher,
    PublishFailed,
    PubsubTransport,
    batches,
    build_envelope,
    envelope_message,
    message_size,
    publish,
    publish_traced,
    topic_path_for,
    traced_message,
    translate_error,
)
from bridge.rejections import OutgoingMessage
from bridge.trace import parse_traceparent
from tests.publishers.conftest import (
    PROJECT,
    Emulator,
    Topic,
    as_bridge_sees_it,
    decoded_envelope,
    new_topic,
)

SPANISH = {"nota": "Declaración de la señora Núñez: «sí», año 2026, emoji 🧾👩🏽‍⚕️", "n": 3}


@pytest.mark.parametrize(
    ("service", "payload", "options", "reason"),
    [
        ("", {}, {}, Reason.OUT_OF_RANGE),
        ("x" * 64, {}, {}, Reason.OUT_OF_RANGE),
        ("brain", [1, 2], {}, Reason.PAYLOAD_NOT_OBJECT),
        ("brain", "text", {}, Reason.PAYLOAD_NOT_OBJECT),
        ("brain", {}, {"delay_s": -1}, Reason.OUT_OF_RANGE),
        ("brain", {}, {"delay_s": 30 * 24 * 3600 + 1}, Reason.OUT_OF_RANGE),
        ("brain", {}, {"deadline_s": 14}, Reason.OUT_OF_RANGE),
        ("brain", {}, {"deadline_s": 1801}, Reason.OUT_OF_RANGE),
        ("brain", {}, {"idempotency_key": "a\r\nX-Evil: 1"}, Reason.BAD_IDEMPOTENCY_KEY),
        ("brain", {}, {"idempotency_key": "clé"}, Reason.BAD_IDEMPOTENCY_KEY),
        ("brain", {}, {"idempotency_key": ""}, Reason.OUT_OF_RANGE),
        ("brain", {"x": math.nan}, {}, Reason.BAD_JSON),
        ("brain", {"x": "\ud800"}, {}, Reason.BAD_UTF8),
        ("brain", {"blob": "x" * 1_000_000}, {}, Reason.TOO_LARGE),
    ],
)
def test_invalid_envelopes_are_refused_with_the_bridges_reason(
    service: str, payload: Any, options: dict[str, Any], reason: Reason
) -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        build_envelope(service, payload, **options)
    assert caught.value.reason is reason


def test_delay_and_deadline_must_be_whole_numbers() -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        build_envelope("brain", {}, delay_s=1.5)  # type: ignore[arg-type]
    assert caught.value.reason is Reason.WRONG_TYPE


def test_the_message_is_the_envelope_the_bridge_reads_back() -> None:
    envelope = build_envelope(
        "brain", SPANISH, delay_s=30, idempotency_key="case-7", deadline_s=600
    )
    message = envelope_message(envelope)
    assert parse_envelope(message.data) == envelope
    assert message.attributes == {}
    assert "señora Núñez: «sí»".encode() in message.data  # raw UTF-8, not \u escapes
    assert json.loads(message.data) == {
        "service": "brain",
        "payload": SPANISH,
        "delay_s": 30,
        "idempotency_key": "case-7",
        "deadline_s": 600,
    }


@pytest.mark.parametrize(
    ("payload", "reason"), [({"x": math.inf}, Reason.BAD_JSON), ({"x": "\udc00"}, Reason.BAD_UTF8)]
)
def test_an_envelope_built_by_hand_is_checked_too(payload: dict[str, Any], reason: Reason) -> None:
    envelope = Envelope(service="brain", payload=payload)
    with pytest.raises(InvalidEnvelope) as caught:
        Publisher(topic="projects/p/topics/t", transport=FlakyTransport(1)).publish(envelope)
    assert caught.value.reason is reason


def test_defaults_are_left_out_of_the_message() -> None:
    message = envelope_message(build_envelope("brain", {"a": 1}))
    assert json.loads(message.data) == {"service": "brain", "payload": {"a": 1}}


@pytest.mark.parametrize(
    "messages",
    [
        [OutgoingMessage(b"", {"service": "brain"})],
        [OutgoingMessage(b"x" * 200, {})],
        [OutgoingMessage("ñ".encode() * 70_000, {"ké": "vàlue" * 40, "b": ""})],
        [OutgoingMessage(b"{}", {f"k{i}": "v" * i for i in range(100)}) for _ in range(3)],
    ],
)
def test_message_size_is_the_exact_protobuf_size(messages: list[OutgoingMessage]) -> None:
    topic = "projects/p/topics/enqueue-requests"
    request = PublishRequest(
        topic=topic,
        messages=[PubsubMessage(data=m.data, attributes=dict(m.attributes)) for m in messages],
    )
    expected = PublishRequest.pb(request).ByteSize()
    assert 1 + 1 + len(topic) + sum(message_size(m) for m in messages) == expected


def test_batches_hold_at_most_1000_messages_in_order() -> None:
    messages = [OutgoingMessage(str(i).encode(), {}) for i in range(2500)]
    split = list(batches(messages, topic_path="projects/p/topics/t"))
    assert [len(b) for b in split] == [1000, 1000, 500]
    assert [m for b in split for m in b] == messages


def test_batches_stay_under_10_mb_per_request() -> None:
    topic = "projects/p/topics/enqueue-requests"
    messages = [OutgoingMessage(bytes([65 + i % 26]) * 900_000, {"i": str(i)}) for i in range(25)]
    split = list(batches(messages, topic_path=topic))
    assert len(split) == 3
    for batch in split:
        request = PublishRequest(
            topic=topic,
            messages=[PubsubMessage(data=m.data, attributes=dict(m.attributes)) for m in batch],
        )
        assert PublishRequest.pb(request).ByteSize() <= MAX_REQUEST_BYTES
    assert [m for b in split for m in b] == messages


def test_a_message_too_large_for_any_request_is_refused() -> None:
    with pytest.raises(InvalidEnvelope) as caught:
        list(batches([OutgoingMessage(b"x" * MAX_REQUEST_BYTES, {})], topic_path="projects/p/t"))
    assert caught.value.reason is Reason.TOO_LARGE


def test_topic_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    assert topic_path_for("projects/a/topics/b") == "projects/a/topics/b"
    assert topic_path_for("enqueue-requests", "p1") == "projects/p1/topics/enqueue-requests"
    with pytest.raises(MissingTopic, match="--project"):
        topic_path_for("enqueue-requests")
    monkeypatch.setenv("CLOUDSDK_CORE_PROJECT", "p2")
    assert topic_path_for("enqueue-requests") == "projects/p2/topics/enqueue-requests"
    for bad in ("", "projects/a/subscriptions/b", "a/b", " t", "projects//topics/t"):
        with pytest.raises(MissingTopic):
            topic_path_for(bad, "p1")


@pytest.mark.parametrize(
    ("error", "kind", "words"),
    [
        (api.NotFound("Topic not found"), MissingTopic, "does not exist"),
        (api.PermissionDenied("no"), AccessDenied, "roles/pubsub.publisher"),
        (api.Unauthenticated("no"), AccessDenied, "roles/pubsub.publisher"),
        (auth.DefaultCredentialsError("none"), AccessDenied, "gcloud auth"),
        (api.ServiceUnavailable("down"), PublishFailed, "ServiceUnavailable"),
        (api.DeadlineExceeded("slow"), PublishFailed, "DeadlineExceeded"),
        (api.InvalidArgument("bad"), PublishFailed, "refused"),
    ],
)
def test_client_errors_become_errors_to_act_on(
    error: Exception, kind: type[Exception], words: str
) -> None:
    translated = translate_error(error, topic_path="projects/p/topics/t")
    assert type(translated) is kind
    assert words in str(translated)


class FailingClient:
    """A GAPIC publisher double raising ``error`` on every publish."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def publish(self, **_: Any) -> Any:
        raise self.error


def test_a_bug_in_the_client_call_is_not_translated() -> None:
    # A TypeError is our mistake, not Pub/Sub's: it must not read as "Pub/Sub failed" (exit 6).
    transport = PubsubTransport(client=FailingClient(TypeError("unexpected keyword")))
    with pytest.raises(TypeError):
        transport.send("projects/p/topics/t", [OutgoingMessage(b"{}", {})])


def test_the_transport_translates_permission_denied() -> None:
    transport = PubsubTransport(client=FailingClient(api.PermissionDenied("denied")))
    with pytest.raises(AccessDenied):
        transport.send("projects/p/topics/t", [OutgoingMessage(b"{}", {})])


class FlakyTransport:
    """Takes ``ok_requests`` requests, then fails like an outage."""

    def __init__(self, ok_requests: int) -> None:
        self.ok_requests = ok_requests
        self.sent: list[int] = []

    def send(self, topic_path: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        if len(self.sent) == self.ok_requests:
            raise PublishFailed("publishing failed: ServiceUnavailable: down")
        self.sent.append(len(messages))
        return [f"id-{sum(self.sent)}-{i}" for i in range(len(messages))]


def test_a_failure_says_how_many_were_published_before_it() -> None:
    envelopes = [build_envelope("brain", {"i": i}) for i in range(2500)]
    transport = FlakyTransport(ok_requests=2)
    publisher = Publisher(topic="projects/p/topics/t", transport=transport)
    with pytest.raises(PublishFailed) as caught:
        publisher.publish_many(envelopes)
    assert caught.value.published == 2000
    assert transport.sent == [1000, 1000]


class RecordingTransport:
    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    def send(self, topic_path: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        self.sent.extend(messages)
        return [str(len(self.sent))]


TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_traced_publish_carries_the_callers_traceparent_and_returns_it() -> None:
    transport = RecordingTransport()
    publisher = Publisher(topic="t", project="p", transport=transport)
    sent = publisher.publish_traced(build_envelope("brain", {"a": 1}), traceparent=TRACE)
    assert (sent.message_id, sent.traceparent) == ("1", TRACE)
    (message,) = transport.sent
    assert message.attributes == {"traceparent": TRACE}
    sent_envelope = parse_envelope(message.data)
    assert sent_envelope.idempotency_key is not None  # generated: the caller gave none
    assert sent_envelope.model_copy(update={"idempotency_key": None}) == build_envelope(
        "brain", {"a": 1}
    )


def test_without_one_a_new_sampled_traceparent_is_made_each_time() -> None:
    transport = RecordingTransport()
    publisher = Publisher(topic="t", project="p", transport=transport)
    made = [publisher.publish_traced(build_envelope("brain", {})).traceparent for _ in range(3)]
    assert len(set(made)) == 3
    for value in made:
        context = parse_traceparent(value)
        assert context is not None
        assert context.sampled
    assert [m.attributes["traceparent"] for m in transport.sent] == made


@pytest.mark.parametrize("bad", ["", "abc", TRACE.upper(), TRACE + "\r\nX: 1"])
def test_an_invalid_traceparent_is_refused_before_sending(bad: str) -> None:
    transport = RecordingTransport()
    publisher = Publisher(topic="t", project="p", transport=transport)
    with pytest.raises(InvalidEnvelope, match="traceparent"):
        publisher.publish_traced(build_envelope("brain", {}), traceparent=bad)
    assert transport.sent == []


def test_a_request_without_a_key_is_sent_with_a_new_one_and_a_given_key_is_kept() -> None:
    transport = RecordingTransport()
    publisher = Publisher(topic="t", project="p", transport=transport)
    publisher.publish_many(
        [
            build_envelope("brain", {"i": 1}),
            build_envelope("brain", {"i": 1}),
            build_envelope("brain", {"i": 2}, idempotency_key="mine"),
        ]
    )
    publisher.publish_traced(build_envelope("brain", {"i": 3}))
    keys = [parse_envelope(m.data).idempotency_key or "" for m in transport.sent]
    assert keys[2] == "mine"
    generated = [keys[0], keys[1], keys[3]]
    assert len(set(generated)) == 3  # one per request, even for equal envelopes
    for key in generated:
        assert re.fullmatch(r"pub-[0-9a-f]{32}", key), key


class LosesFirstReply:
    """A GAPIC publisher whose first reply is lost: the request reaches Pub/Sub, then the call
    fails DEADLINE_EXCEEDED, as a timeout after the commit does. Honours the ``retry`` given."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.requests: list[Any] = []

    def publish(self, *, request: Any, timeout: float, retry: Any) -> Any:
        def attempt() -> Any:
            response = self.real.publish(request=request, timeout=timeout, retry=None)
            self.requests.append(request)
            if len(self.requests) == 1:
                raise api.DeadlineExceeded("the reply was lost")
            return response

        return retry(attempt)()


def test_a_publish_whose_reply_was_lost_is_retried_with_the_same_key(
    pubsub_env: Emulator, topic: Topic
) -> None:
    lossy = LosesFirstReply(PubsubTransport().client())
    publisher = Publisher(topic=topic.id, transport=PubsubTransport(client=lossy))
    message_id = publisher.publish(build_envelope("brain", {"row": "ñ"}))
    assert len(lossy.requests) == 2  # retried after the lost reply
    pulled = topic.pull_all(expect=2)  # two messages in Pub/Sub, two ids ...
    assert len({m.message_id for m in pulled}) == 2
    assert message_id in {m.message_id for m in pulled}
    keys = {decoded_envelope(m).idempotency_key for m in pulled}
    (key,) = keys  # ... and one key: the bridge names both the same task
    assert key is not None
    assert key.startswith("pub-")


def test_traced_message_keeps_other_attributes() -> None:
    message = traced_message(OutgoingMessage(b"{}", {"service": "brain"}), TRACE)
    assert message.attributes == {"service": "brain", "traceparent": TRACE}


# -- against the emulator ---------------------------------------------------------------------


def test_a_traced_publish_reaches_the_bridge_with_its_trace(
    pubsub_env: Emulator, topic: Topic
) -> None:
    sent = publish_traced("brain", {"row": 7}, idempotency_key="row-7", topic=topic.id)
    [pulled] = topic.pull_all(expect=1)
    assert pulled.message_id == sent.message_id
    assert traceparent_of(as_bridge_sees_it(pulled)) == sent.traceparent
    assert decoded_envelope(pulled).idempotency_key == "row-7"


def test_publish_reaches_the_topic_as_the_intended_envelope(
    pubsub_env: Emulator, topic: Topic
) -> None:
    message_id = publish(
        "transcripciones", SPANISH, idempotency_key="row-12", delay_s=5, topic=topic.id
    )
    [pulled] = topic.pull_all(expect=1)
    assert pulled.message_id == message_id
    assert decoded_envelope(pulled) == Envelope(
        service="transcripciones", payload=SPANISH, delay_s=5, idempotency_key="row-12"
    )


def test_publish_is_callable_from_the_package(pubsub_env: Emulator, topic: Topic) -> None:
    message_id = bridge.publishing.publish("brain", {"a": "ñ"}, topic=topic.path)
    assert publish("brain", {"a": "ü"}, topic=topic.path) != message_id
    pulled = topic.pull_all(expect=2)
    assert {decoded_envelope(m).payload["a"] for m in pulled} == {"ñ", "ü"}


def test_publish_many_sends_2500_in_three_requests(pubsub_env: Emulator, topic: Topic) -> None:
    envelopes = [
        build_envelope("brain", {"i": i, "t": "acción"}, idempotency_key=f"k-{i}")
        for i in range(2500)
    ]
    requests: list[int] = []
    ids = Publisher(topic=topic.id).publish_many(envelopes, on_request=requests.append)
    assert requests == [1000, 1000, 500]
    assert len(set(ids)) == 2500
    pulled = topic.pull_all(expect=2500)
    by_id = {m.message_id: decoded_envelope(m) for m in pulled}
    assert [by_id[i] for i in ids] == envelopes


def test_a_missing_topic_is_reported_as_such(pubsub_env: Emulator) -> None:
    with pytest.raises(MissingTopic, match="does not exist"):
        publish("brain", {}, topic="no-such-topic", project=PROJECT)


def test_invalid_envelopes_send_nothing(pubsub_env: Emulator) -> None:
    fresh = new_topic(pubsub_env.rest)
    with pytest.raises(InvalidEnvelope):
        publish("brain", {"k": 1}, deadline_s=5, topic=fresh.id)
    assert fresh.pull_for() == []
