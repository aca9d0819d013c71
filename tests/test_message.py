"""``bridge.message``: a decoded Pub/Sub message's envelope, dedupe key and task."""

from __future__ import annotations

import json

import pytest

from bridge.config import Settings
from bridge.errors import PermanentError, Reason
from bridge.event import PubsubMessage, UnreadableMessage
from bridge.message import (
    ORIGIN_ATTRIBUTE,
    dedupe_key_of,
    envelope_of,
    exact_payload_of,
    plan_message,
    unwrapped,
)
from bridge.naming import KeyKind
from bridge.plan import DedupeKey
from bridge.wrapped import wrap
from tests.conftest import NOW, PUBLISHED_AT


def message(
    data: bytes, attributes: dict[str, str] | None = None, message_id: str = "999"
) -> PubsubMessage:
    return PubsubMessage(
        message_id=message_id, data=data, attributes=attributes or {}, publish_time=PUBLISHED_AT
    )


ENVELOPE = json.dumps({"service": "regresos", "payload": {"a": 1}}).encode()


def test_envelope_mode_reads_the_data_attribute_mode_the_attributes() -> None:
    assert envelope_of(message(ENVELOPE)).service == "regresos"
    assert exact_payload_of(message(ENVELOPE)) is None
    attribute_mode = message(b'{"a": 1}', {"service": "brain"})
    assert envelope_of(attribute_mode).service == "brain"
    assert exact_payload_of(attribute_mode) == b'{"a": 1}'


def test_the_dedupe_key_is_the_key_else_the_origin_else_the_message_id() -> None:
    keyed = json.dumps({"service": "brain", "payload": {}, "idempotency_key": "K-1"}).encode()
    origin = {ORIGIN_ATTRIBUTE: "123"}
    assert dedupe_key_of(envelope_of(message(keyed)), message(keyed, origin)) == DedupeKey(
        KeyKind.IDEMPOTENCY_KEY, "K-1"
    )
    plain = message(ENVELOPE, origin)
    assert dedupe_key_of(envelope_of(plain), plain) == DedupeKey(KeyKind.MESSAGE_ID, "123")
    bare = message(ENVELOPE)
    assert dedupe_key_of(envelope_of(bare), bare) == DedupeKey(KeyKind.MESSAGE_ID, "999")


@pytest.mark.parametrize("origin", ["", "12a", " 12", "1" * 65, "١٢"])
def test_an_origin_that_is_not_a_message_id_is_bad_event(origin: str) -> None:
    bad = message(ENVELOPE, {ORIGIN_ATTRIBUTE: origin})
    with pytest.raises(PermanentError) as caught:
        dedupe_key_of(envelope_of(bad), bad)
    assert caught.value.reason is Reason.BAD_EVENT


def test_a_wrapped_message_is_unwrapped_and_any_other_kept() -> None:
    plain = message(ENVELOPE)
    assert unwrapped(plain) is plain
    inner = {"k": "v", ORIGIN_ATTRIBUTE: "5"}
    outer = message(wrap(ENVELOPE, inner), {"bridge_wrapped": "true"}, message_id="77")
    assert unwrapped(outer) == PubsubMessage(
        message_id="77", data=ENVELOPE, attributes=inner, publish_time=PUBLISHED_AT
    )


def test_a_broken_wrapper_is_unreadable() -> None:
    with pytest.raises(UnreadableMessage) as caught:
        unwrapped(message(b"not json", {"bridge_wrapped": "true"}))
    assert caught.value.reason is Reason.BAD_EVENT


def test_a_replay_is_named_as_its_original(settings: Settings) -> None:
    # The literal is tests/test_naming.py's GOLDEN value for ("regresos", msg, "17000000000001").
    replay = message(ENVELOPE, {ORIGIN_ATTRIBUTE: "17000000000001"}, message_id="999")
    spec = plan_message(replay, settings=settings, now=NOW)
    assert spec.task_name.endswith(
        "/tasks/666b7f2ba1c0871f4483dbae998e4253d18e5815e488b796b730de5d38263509"
    )
    assert spec.headers["X-Idempotency-Key"] == "17000000000001"
    assert spec.headers["X-Pubsub-Message-Id"] == "999"
