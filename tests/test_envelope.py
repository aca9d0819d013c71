from __future__ import annotations

import json
import random

import pytest
from pydantic import ValidationError

from bridge.envelope import Envelope, _permanent_from, parse_attribute_envelope, parse_envelope
from bridge.errors import PermanentError, Reason
from bridge.limits import MAX_DELAY_S

VALID = {"service": "regresos", "payload": {"row": 359, "texto": "año ñandú 🚀"}}


def envelope_bytes(**changes: object) -> bytes:
    return json.dumps({**VALID, **changes}, ensure_ascii=False).encode("utf-8")


def test_a_minimal_envelope_gets_the_defaults() -> None:
    envelope = parse_envelope(envelope_bytes())
    assert envelope.payload == VALID["payload"]
    assert (envelope.delay_s, envelope.idempotency_key, envelope.deadline_s) == (0, None, None)


def test_every_field() -> None:
    data = envelope_bytes(delay_s=MAX_DELAY_S, idempotency_key="CASE-001", deadline_s=1800)
    envelope = parse_envelope(data)
    assert (envelope.delay_s, envelope.idempotency_key, envelope.deadline_s) == (
        MAX_DELAY_S,
        "CASE-001",
        1800,
    )


@pytest.mark.parametrize(
    ("data", "reason", "field"),
    [
        (b"\xff\xfe{}", Reason.BAD_UTF8, None),
        (b"{not json", Reason.BAD_JSON, None),
        (b"", Reason.BAD_JSON, None),
        (b'{"service": "brain", "payload": {"a": "\\ud800"}}', Reason.BAD_JSON, None),
        (b"[1, 2]", Reason.NOT_AN_OBJECT, None),
        (b'"regresos"', Reason.NOT_AN_OBJECT, None),
        (b'{"payload": {}}', Reason.MISSING_FIELD, "service"),
        (b'{"service": "brain"}', Reason.MISSING_FIELD, "payload"),
        (envelope_bytes(payload=[1, 2]), Reason.PAYLOAD_NOT_OBJECT, "payload"),
        (envelope_bytes(payload="{}"), Reason.PAYLOAD_NOT_OBJECT, "payload"),
        (envelope_bytes(payload=None), Reason.PAYLOAD_NOT_OBJECT, "payload"),
        (envelope_bytes(priority=1), Reason.UNKNOWN_FIELD, "priority"),
        (envelope_bytes(delay_s="30"), Reason.WRONG_TYPE, "delay_s"),
        (envelope_bytes(delay_s=30.0), Reason.WRONG_TYPE, "delay_s"),
        (envelope_bytes(delay_s=True), Reason.WRONG_TYPE, "delay_s"),
        (envelope_bytes(service=7), Reason.WRONG_TYPE, "service"),
        (envelope_bytes(idempotency_key=12), Reason.WRONG_TYPE, "idempotency_key"),
        (envelope_bytes(deadline_s="900"), Reason.WRONG_TYPE, "deadline_s"),
        (envelope_bytes(delay_s=-1), Reason.OUT_OF_RANGE, "delay_s"),
        (envelope_bytes(delay_s=MAX_DELAY_S + 1), Reason.OUT_OF_RANGE, "delay_s"),
        (envelope_bytes(deadline_s=14), Reason.OUT_OF_RANGE, "deadline_s"),
        (envelope_bytes(deadline_s=3600), Reason.OUT_OF_RANGE, "deadline_s"),
        (envelope_bytes(service=""), Reason.OUT_OF_RANGE, "service"),
        (envelope_bytes(idempotency_key=""), Reason.OUT_OF_RANGE, "idempotency_key"),
        (envelope_bytes(idempotency_key="k" * 501), Reason.OUT_OF_RANGE, "idempotency_key"),
        (envelope_bytes(idempotency_key="a\r\nX-Evil: 1"), Reason.BAD_IDEMPOTENCY_KEY, None),
        (envelope_bytes(idempotency_key="tab\there"), Reason.BAD_IDEMPOTENCY_KEY, None),
        (envelope_bytes(idempotency_key="NIÑO-001"), Reason.BAD_IDEMPOTENCY_KEY, None),
        # HTTP strips surrounding spaces: the worker would see "CASE-WS" for all three.
        (envelope_bytes(idempotency_key="CASE-WS "), Reason.BAD_IDEMPOTENCY_KEY, None),
        (envelope_bytes(idempotency_key=" CASE-WS"), Reason.BAD_IDEMPOTENCY_KEY, None),
        (envelope_bytes(idempotency_key=" "), Reason.BAD_IDEMPOTENCY_KEY, None),
    ],
)
def test_each_malformation_has_its_reason(data: bytes, reason: Reason, field: str | None) -> None:
    with pytest.raises(PermanentError) as caught:
        parse_envelope(data)
    assert caught.value.reason is reason
    if field:
        assert caught.value.field == field
        assert caught.value.detail.startswith(f"{field}: ")


def test_attribute_mode_takes_the_payload_from_data() -> None:
    envelope = parse_attribute_envelope(
        '{"texto": "ñ"}'.encode(),
        {"service": "brain", "delay_s": "30", "idempotency_key": "K-1", "deadline_s": "60"},
    )
    assert envelope.payload == {"texto": "ñ"}
    assert (envelope.service, envelope.delay_s, envelope.idempotency_key) == ("brain", 30, "K-1")
    assert envelope.deadline_s == 60


def test_attribute_mode_ignores_other_attributes() -> None:
    envelope = parse_attribute_envelope(b"{}", {"service": "brain", "origin": "sheets"})
    assert envelope.payload == {}


@pytest.mark.parametrize(
    ("data", "attributes", "reason"),
    [
        (b"", {}, Reason.MISSING_PAYLOAD),
        (b"  ", {}, Reason.MISSING_PAYLOAD),
        (b"[1]", {}, Reason.PAYLOAD_NOT_OBJECT),
        (b"{bad", {}, Reason.BAD_JSON),
        (b"\xc3\x28", {}, Reason.BAD_UTF8),
        (b"{}", {"delay_s": "+30"}, Reason.WRONG_TYPE),
        (b"{}", {"delay_s": "3e1"}, Reason.WRONG_TYPE),
        (b"{}", {"delay_s": " 30"}, Reason.WRONG_TYPE),
        (b"{}", {"delay_s": "9999999"}, Reason.OUT_OF_RANGE),
        (b"{}", {"deadline_s": "3600"}, Reason.OUT_OF_RANGE),
        (b"{}", {"deadline_s": "ninety"}, Reason.WRONG_TYPE),
        (b"{}", {"idempotency_key": "a\nb"}, Reason.BAD_IDEMPOTENCY_KEY),
        (b"{}", {"service": ""}, Reason.OUT_OF_RANGE),
    ],
)
def test_attribute_mode_checks_the_same_rules(
    data: bytes, attributes: dict[str, str], reason: Reason
) -> None:
    with pytest.raises(PermanentError) as caught:
        parse_attribute_envelope(data, {"service": "brain", **attributes})
    assert caught.value.reason is reason


@pytest.mark.parametrize("key", ["CASE-WS ", " CASE-WS", " ", "  K  "])
def test_a_key_with_surrounding_spaces_says_why(key: str) -> None:
    with pytest.raises(PermanentError) as caught:
        parse_envelope(envelope_bytes(idempotency_key=key))
    assert caught.value.reason is Reason.BAD_IDEMPOTENCY_KEY
    assert "must not start or end with a space" in caught.value.detail


def test_inner_spaces_are_fine() -> None:
    assert parse_envelope(envelope_bytes(idempotency_key="CASE 1 B")).idempotency_key == "CASE 1 B"


def key_reason(key: str) -> Reason | None:
    try:
        parse_envelope(envelope_bytes(idempotency_key=key))
    except PermanentError as e:
        return e.reason
    return None


def test_a_key_is_accepted_exactly_when_every_character_is_printable_ascii() -> None:
    for code in [*range(0x100), 0x2028, 0xFEFF, 0x1F600]:
        expected = None if 0x20 <= code <= 0x7E else Reason.BAD_IDEMPOTENCY_KEY
        assert key_reason(f"K{chr(code)}K") is expected, hex(code)


def read_in_one_pass(data: bytes) -> object:
    """What pydantic's own JSON validation answers (``parse_envelope`` parses, then validates)."""
    try:
        return Envelope.model_validate_json(data).model_dump()
    except ValidationError as e:
        problem = _permanent_from(e, data)
        return (problem.reason, problem.detail, problem.field)


def read_by_the_bridge(data: bytes) -> object:
    try:
        return parse_envelope(data).model_dump()
    except PermanentError as e:
        return (e.reason, e.detail, e.field)


def test_an_envelope_is_answered_as_pydantics_json_validation_answers_it() -> None:
    valid = (
        b'{"service": "brain", "payload": {"a": [1, 2.5, "x\\u00e9", null, true]}, '
        b'"delay_s": 10, "idempotency_key": "K-1", "deadline_s": 60}'
    )
    rng = random.Random(5)
    answers = set()
    for _ in range(3000):
        data = bytearray(valid)
        for _ in range(rng.choice([1, 1, 2, 3])):
            where = rng.randrange(len(data) + 1)
            edit = rng.random()
            if edit < 0.4:
                data.insert(where, rng.choice(b'{}[]",:019.eE-+ \\untrfalsy\xff\x00'))
            elif where < len(data):
                if edit < 0.7:
                    data[where] = rng.choice(b'{}[]",:019.eE-+ \\untrfalsy\xff\x00')
                else:
                    del data[where]
        expected = read_in_one_pass(bytes(data))
        assert read_by_the_bridge(bytes(data)) == expected, bytes(data)
        answers.add(expected[0] if isinstance(expected, tuple) else "valid")
    assert len(answers) > 5  # valid ones and several reasons were met


@pytest.mark.parametrize("data", [b"null", b"[]", b'"x"', b"1"])
def test_an_envelope_that_is_no_object_says_so_in_jsons_words(data: bytes) -> None:
    with pytest.raises(PermanentError) as caught:
        parse_envelope(data)
    assert (caught.value.reason, caught.value.detail) == (
        Reason.NOT_AN_OBJECT,
        "envelope: Input should be an object",
    )
