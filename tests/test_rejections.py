from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from google.api_core import exceptions as core_exceptions
from google.auth import exceptions as auth_exceptions

from bridge.errors import PermanentError, Reason, TransientError
from bridge.limits import MAX_ATTRIBUTE_VALUE_BYTES, MAX_ATTRIBUTES, MAX_MESSAGE_BYTES
from bridge.rejections import (
    OutgoingMessage,
    PubsubRejectionSink,
    message_size,
    pubsub_problem,
    rejection_for,
    truncate_utf8,
)

ERROR = PermanentError(Reason.UNKNOWN_SERVICE, "service: unknown service 'x'")


def test_keeps_data_and_attributes_and_adds_the_reason() -> None:
    out = rejection_for(data=b"{raw}", attributes={"service": "x"}, message_id="77", error=ERROR)
    assert out.data == b"{raw}"
    assert out.attributes == {
        "service": "x",
        "bridge_reason": "unknown_service",
        "bridge_error": "service: unknown service 'x'",
        "bridge_message_id": "77",
    }


def test_a_stale_reason_is_replaced() -> None:
    stale = {"bridge_reason": "bad_json", "bridge_wrapped": "true", "a": "1"}
    out = rejection_for(data=b"", attributes=stale, message_id="1", error=ERROR)
    assert out.attributes["bridge_reason"] == "unknown_service"
    assert "bridge_wrapped" not in out.attributes


def test_the_error_sentence_fits_an_attribute() -> None:
    long_error = PermanentError(Reason.BAD_JSON, "ñ" * 2000)
    out = rejection_for(data=b"", attributes={}, message_id="1", error=long_error)
    assert len(out.attributes["bridge_error"].encode()) <= MAX_ATTRIBUTE_VALUE_BYTES


def test_truncate_utf8_never_splits_a_character() -> None:
    text = truncate_utf8("🚀" * 300, 1024)
    assert len(text.encode()) <= 1024
    assert text.endswith("...")


@pytest.mark.parametrize(
    "attributes",
    [
        {f"a{n}": "v" for n in range(MAX_ATTRIBUTES)},  # no room for ours
        {"k" * 300: "v"},  # key over 256 bytes (only a hand-made push can send it)
        {"a": "v" * 2000},  # value over 1024 bytes
    ],
)
def test_attributes_that_cannot_fit_move_into_the_data(attributes: dict[str, str]) -> None:
    out = rejection_for(data=b"\x00\xff", attributes=attributes, message_id="1", error=ERROR)
    assert out.attributes["bridge_wrapped"] == "true"
    assert len(out.attributes) <= MAX_ATTRIBUTES
    wrapped = json.loads(out.data)
    assert base64.b64decode(wrapped["data"]) == b"\x00\xff"
    assert wrapped["attributes"] == attributes


class FakeFuture:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def result(self, timeout: float) -> str:
        if self.error:
            raise self.error
        return "server-id"


class FakePublisher:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.published: list[tuple[str, bytes, dict[str, Any]]] = []

    def publish(self, topic: str, data: bytes, **attributes: Any) -> FakeFuture:
        self.published.append((topic, data, attributes))
        return FakeFuture(self.error)


def test_the_sink_publishes_lazily_and_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    publisher = FakePublisher()
    made: list[FakePublisher] = []

    def make_publisher() -> FakePublisher:
        made.append(publisher)
        return publisher

    monkeypatch.setattr("bridge.rejections.make_publisher", make_publisher)
    sink = PubsubRejectionSink(topic_path="projects/p/topics/rejected", timeout_s=5)
    assert made == []
    sink.reject(OutgoingMessage(data=b"x", attributes={"bridge_reason": "bad_json"}))
    sink.reject(OutgoingMessage(data=b"y", attributes={}))
    assert len(made) == 1
    assert publisher.published[0] == (
        "projects/p/topics/rejected",
        b"x",
        {"bridge_reason": "bad_json"},
    )


def test_a_failed_publish_is_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        "bridge.rejections.make_publisher", lambda: FakePublisher(TimeoutError("no answer"))
    )
    sink = PubsubRejectionSink(topic_path="projects/p/topics/rejected", timeout_s=5)
    with pytest.raises(TransientError) as caught:
        sink.reject(OutgoingMessage(data=b"x", attributes={}))
    assert "projects/p/topics/rejected" in caught.value.detail


def test_the_cause_of_a_timed_out_publish_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bridge.rejections.make_publisher", lambda: FakePublisher(TimeoutError()))
    sink = PubsubRejectionSink(topic_path="projects/p/topics/rejected", timeout_s=5)
    with pytest.raises(TransientError) as caught:
        sink.reject(OutgoingMessage(data=b"x", attributes={}))
    assert (
        caught.value.detail
        == "publishing to projects/p/topics/rejected: no confirmation within 5 s"
    )


def test_another_failure_names_its_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bridge.rejections.make_publisher", lambda: FakePublisher(OSError()))
    sink = PubsubRejectionSink(topic_path="projects/p/topics/rejected", timeout_s=5)
    with pytest.raises(TransientError) as caught:
        sink.reject(OutgoingMessage(data=b"x", attributes={}))
    assert caught.value.detail.endswith(": OSError")


LONG_ERROR = PermanentError(Reason.BAD_JSON, "e" * 5000)


def test_a_message_too_large_for_one_request_is_cut_and_says_so() -> None:
    data = bytes(range(256)) * 39_063  # 10,000,128 bytes
    out = rejection_for(data=data, attributes={"a": "b"}, message_id="9", error=LONG_ERROR)
    assert message_size(out) <= MAX_MESSAGE_BYTES
    assert pubsub_problem(out) is None
    assert data.startswith(out.data)
    assert len(out.data) > 9_990_000  # as much as fits
    assert out.attributes["bridge_data_bytes"] == str(len(data))
    assert out.attributes["bridge_data_sha256"] == hashlib.sha256(data).hexdigest()
    assert "data cut" in out.attributes["bridge_error"]
    assert out.attributes["a"] == "b"
    assert out.attributes["bridge_reason"] == "bad_json"


def test_a_message_near_the_limit_keeps_its_data_and_shortens_the_error() -> None:
    data = b"y" * 9_998_900  # published fine; our three attributes at full length do not fit
    out = rejection_for(data=data, attributes={}, message_id="9", error=LONG_ERROR)
    assert out.data == data
    assert message_size(out) <= MAX_MESSAGE_BYTES
    assert "bridge_data_bytes" not in out.attributes
    assert 0 < len(out.attributes["bridge_error"]) <= 200


def test_a_cut_message_with_wrapped_attributes_fits_too() -> None:
    attributes = {f"k{i}": "v" * 1000 for i in range(100)}
    out = rejection_for(data=b"z" * 10_000_000, attributes=attributes, message_id="9", error=ERROR)
    assert message_size(out) <= MAX_MESSAGE_BYTES
    assert out.attributes["bridge_wrapped"] == "true"
    wrapped = json.loads(out.data)
    assert wrapped["attributes"] == attributes
    assert b"z" * 1000 in base64.b64decode(wrapped["data"])


def test_attributes_that_are_not_utf8_move_into_the_data() -> None:
    out = rejection_for(data=b"{}", attributes={"a": "\ud800"}, message_id="1", error=ERROR)
    assert pubsub_problem(out) is None
    assert out.attributes["bridge_wrapped"] == "true"
    assert json.loads(out.data)["attributes"] == {"a": "\ud800"}


@pytest.mark.parametrize(
    "error",
    [
        core_exceptions.ServiceUnavailable("down"),
        core_exceptions.RetryError("gave up", cause=None),
        auth_exceptions.RefreshError("expired"),
        ConnectionResetError("reset"),
    ],
)
def test_pubsub_network_and_credential_failures_are_transient(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    monkeypatch.setattr("bridge.rejections.make_publisher", lambda: FakePublisher(error))
    sink = PubsubRejectionSink(topic_path="projects/p/topics/rejected", timeout_s=5)
    with pytest.raises(TransientError):
        sink.reject(OutgoingMessage(data=b"x", attributes={}))


@pytest.mark.parametrize("error", [TypeError("bad attribute"), KeyError("x"), AttributeError()])
def test_a_bug_is_not_dressed_as_a_retry(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    monkeypatch.setattr("bridge.rejections.make_publisher", lambda: FakePublisher(error))
    sink = PubsubRejectionSink(topic_path="projects/p/topics/rejected", timeout_s=5)
    with pytest.raises(type(error)):
        sink.reject(OutgoingMessage(data=b"x", attributes={}))
