"""``bridge.wrapped``: a message's data and attributes carried in the data, and read back."""

from __future__ import annotations

import json

import pytest

from bridge.wrapped import WRAPPED_ATTRIBUTE, is_wrapped, unwrap, wrap


@pytest.mark.parametrize(
    ("data", "attributes"),
    [
        (b"", {}),
        (b"\x00\xff binary", {"a": "1"}),
        ('{"texto": "Señora Núñez"}'.encode(), {"service": "brain", "ñ": "ü" * 300}),
        (b"x", {"lone": "\ud800"}),  # only a hand-made push carries one: escaped, still JSON
    ],
)
def test_wrap_and_unwrap_give_back_the_same_message(
    data: bytes, attributes: dict[str, str]
) -> None:
    wrapped = wrap(data, attributes)
    assert set(json.loads(wrapped)) == {"data", "attributes"}
    assert unwrap(wrapped) == (data, attributes)


def test_a_non_ascii_attribute_stays_readable_utf8() -> None:
    assert "Núñez".encode() in wrap(b"", {"who": "Núñez"})


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"not json", "JSONDecodeError"),
        (b'{"data": "AA=="}', "KeyError"),
        (b'{"data": "not base64!", "attributes": {}}', "Error"),
        (b'["data", "attributes"]', "TypeError"),
        (b'{"data": "AA==", "attributes": {"a": 1}}', "not a string map"),
        (b'{"data": "AA==", "attributes": ["a"]}', "not a string map"),
    ],
)
def test_unwrap_refuses_what_is_no_wrapped_form(data: bytes, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        unwrap(data)


@pytest.mark.parametrize(
    ("attributes", "wrapped"),
    [({WRAPPED_ATTRIBUTE: "true"}, True), ({WRAPPED_ATTRIBUTE: "false"}, False), ({}, False)],
)
def test_only_bridge_wrapped_true_marks_a_wrapped_message(
    attributes: dict[str, str], wrapped: bool
) -> None:
    assert is_wrapped(attributes) is wrapped
