from __future__ import annotations

import base64
import json
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bridge.errors import PermanentError, Reason
from bridge.event import (
    UnreadableMessage,
    _read_rfc3339,
    decode_event,
    parse_time,
    printable_id,
)
from tests.conftest import b64, push_body

SAMPLES = Path(__file__).parent / "data" / "cloudevents"


def sample(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / f"MessagePublishedData-{name}.json").read_text())
    return loaded


@pytest.mark.parametrize(
    ("name", "message_id", "data", "attributes", "published"),
    [
        ("binary", "message-id", b"\x01\x02\x03\x04", {}, None),
        (
            "text",
            "message-id",
            b"test message 3",
            {"attr1": "attr1-value"},
            "2021-02-05T04:06:14.109",
        ),
        ("duplicatedFields", "message-id", b"\x01\x02\x03\x04", {}, "2021-02-05T04:06:14.109"),
        ("simple", "3103425958877813", b"Hello World!", {}, "2021-10-01T20:37:27.386"),
    ],
)
def test_google_cloudevents_samples(
    name: str, message_id: str, data: bytes, attributes: dict[str, str], published: str | None
) -> None:
    message = decode_event(event_id="ce-id", event_time=None, data=sample(name))
    assert (message.message_id, message.data, dict(message.attributes)) == (
        message_id,
        data,
        attributes,
    )
    expected = datetime.fromisoformat(published).replace(tzinfo=UTC) if published else None
    assert message.publish_time == expected


def test_raw_push_as_functions_framework_converts_it() -> None:
    converted = {
        "message": {
            "@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage",
            "data": b64('{"a": 1}'),
            "attributes": {},
            "messageId": "42",
            "publishTime": "2026-11-28T12:00:00.5Z",
        }
    }
    message = decode_event(event_id="42", event_time="2026-11-28T12:00:00.5Z", data=converted)
    assert message.message_id == "42"
    assert message.data == b'{"a": 1}'
    assert message.publish_time == datetime(2026, 11, 28, 12, 0, 0, 500000, tzinfo=UTC)


def test_fallbacks_to_the_cloudevent_id_and_time() -> None:
    body = {"message": {"data": b64("{}")}}
    message = decode_event(event_id="ce-7", event_time="2026-01-02T03:04:05Z", data=body)
    assert message.message_id == "ce-7"
    assert message.publish_time == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_snake_case_only_fields_are_read() -> None:
    body = {"message": {"data": "", "message_id": "9", "publish_time": "2026-01-01T00:00:00Z"}}
    message = decode_event(event_id=None, event_time=None, data=body)
    assert (message.message_id, message.data) == ("9", b"")
    assert message.publish_time == datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("attributes", [None, {}])
def test_absent_or_empty_attributes(attributes: dict[str, str] | None) -> None:
    body = push_body("{}", attributes=attributes)
    assert decode_event(event_id=None, event_time=None, data=body).attributes == {}


def test_a_body_given_as_bytes_is_parsed() -> None:
    body = json.dumps(push_body('{"x": 1}')).encode()
    assert decode_event(event_id=None, event_time=None, data=body).data == b'{"x": 1}'


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"subscription": "s"}, Reason.BAD_EVENT),
        ({"message": "text"}, Reason.BAD_EVENT),
        ([1, 2], Reason.BAD_EVENT),
        (b"not json", Reason.BAD_EVENT),
        (None, Reason.BAD_EVENT),
        ({"message": {"data": ""}}, Reason.BAD_EVENT),  # no id anywhere
        ({"message": {"data": "", "messageId": "1", "attributes": {"a": 1}}}, Reason.BAD_EVENT),
        ({"message": {"data": "", "messageId": "1", "attributes": ["a"]}}, Reason.BAD_EVENT),
        ({"message": {"data": "!!!", "messageId": "1"}}, Reason.BAD_BASE64),
        ({"message": {"data": "ñ", "messageId": "1"}}, Reason.BAD_BASE64),
        ({"message": {"data": 12, "messageId": "1"}}, Reason.BAD_BASE64),
        ({"message": {"data": "", "messageId": "1\r\nX-Injected: 1"}}, Reason.BAD_EVENT),
        ({"message": {"data": "", "messageId": "1\n"}}, Reason.BAD_EVENT),
        ({"message": {"data": "", "messageId": "1\x00"}}, Reason.BAD_EVENT),
        ({"message": {"data": "", "messageId": "\ud800"}}, Reason.BAD_EVENT),
        ({"message": {"data": "", "messageId": "ñ"}}, Reason.BAD_EVENT),
        ({"message": {"data": "", "messageId": " 1"}}, Reason.BAD_EVENT),
        ({"message": {"data": "", "messageId": "1" * 501}}, Reason.BAD_EVENT),
    ],
)
def test_unreadable_events(data: Any, reason: Reason) -> None:
    with pytest.raises(PermanentError) as caught:
        decode_event(event_id=None, event_time=None, data=data)
    assert caught.value.reason is reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T12:00:00Z", datetime(2026, 11, 28, 12, tzinfo=UTC)),
        ("2026-11-28T12:00:00.123456789Z", datetime(2026, 11, 28, 12, 0, 0, 123456, tzinfo=UTC)),
        ("2026-11-28T12:00:00.1+00:00", datetime(2026, 11, 28, 12, 0, 0, 100000, tzinfo=UTC)),
        ("2026-11-28T12:00:00", None),  # no zone: not trusted
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_time(text: str | None, expected: datetime | None) -> None:
    assert parse_time(text) == expected


def test_a_message_id_that_is_not_header_safe_keeps_the_message_for_the_rejection() -> None:
    body = {
        "message": {
            "data": b64("{}"),
            "messageId": "42\r\nX-Injected: 1",
            "attributes": {"service": "brain"},
        }
    }
    with pytest.raises(UnreadableMessage) as caught:
        decode_event(event_id=None, event_time=None, data=body)
    assert caught.value.reason is Reason.BAD_EVENT
    assert "X-Pubsub-Message-Id" in caught.value.detail
    kept = caught.value.kept
    assert kept is not None
    assert (kept.data, dict(kept.attributes)) == (b"{}", {"service": "brain"})
    assert kept.message_id == "42\\r\\nX-Injected: 1"  # escaped: printable, one line


@pytest.mark.parametrize("value", ["\ud800", "a\nb", "ñ", "", None, 7, " ", " 1 ", "x" * 600])
def test_printable_id_is_always_printable_ascii(value: object) -> None:
    text = printable_id(value)
    assert text.isascii()
    assert text.isprintable()
    assert text == text.strip()


def mangled_base64(rng: random.Random) -> str:
    """Valid base64 of a random length, then up to five random edits (padding, spaces, line
    breaks, other alphabets' letters, non-ASCII), as a hostile or broken publisher sends it."""
    chars = list(base64.b64encode(rng.randbytes(rng.choice([0, 1, 2, 3, 31, 32, 33, 255, 2000]))))
    alphabet = b"ABCxyz019+/" + b"= \n-_.\x00" * 3
    for _ in range(rng.choice([0, 1, 1, 2, 5])):
        where = rng.randrange(len(chars) + 1)
        edit = rng.random()
        if edit < 0.4:
            chars.insert(where, rng.choice(alphabet))
        elif chars and edit < 0.7:
            chars[min(where, len(chars) - 1)] = rng.choice(alphabet)
        elif chars:
            del chars[min(where, len(chars) - 1)]
    text = bytes(chars).decode("ascii")
    return text + "é" if rng.random() < 0.02 else text


def standard_library_reads(text: str) -> bytes | str:
    """The data as ``base64.b64decode(validate=True)`` decodes it, or its error's words."""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as e:  # binascii.Error is one
        return str(e)


def test_data_is_decoded_and_refused_exactly_as_the_standard_library_does() -> None:
    rng = random.Random(7)
    refused = 0
    for _ in range(5000):
        text = mangled_base64(rng)
        body = {"message": {"data": text, "messageId": "1"}}
        expected = standard_library_reads(text)
        if isinstance(expected, bytes):
            assert decode_event(event_id=None, event_time=None, data=body).data == expected
            continue
        refused += 1
        with pytest.raises(UnreadableMessage) as caught:
            decode_event(event_id=None, event_time=None, data=body)
        assert caught.value.reason is Reason.BAD_BASE64
        assert caught.value.detail == f"message data is not valid base64: {expected}"
    assert 1000 < refused < 4000  # both sides of the line were tried


def test_pubsubs_own_time_shape_reads_as_the_general_reading_reads_it() -> None:
    rng = random.Random(11)
    for _ in range(3000):
        fields = [rng.randrange(10**n) for n in (4, 2, 2, 2, 2, 2)]  # months 0-99: some invalid
        text = "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}".format(*fields)
        digits = rng.randrange(10)
        if digits:
            text += "." + "".join(rng.choice("0123456789") for _ in range(digits))
        text += "Z"
        assert parse_time(text) == _read_rfc3339(text), text
