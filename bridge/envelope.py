"""The envelope a publisher sends, and its two spellings.

Envelope mode: the message data is the UTF-8 JSON object
``{"service", "payload", "delay_s"?, "idempotency_key"?, "deadline_s"?}``.
Attribute mode (a ``service`` attribute is present): the data is the payload object itself and
``delay_s``, ``idempotency_key``, ``deadline_s`` are attributes. Both end as one ``Envelope``,
checked by the same rules; every violation becomes a ``PermanentError`` with a precise reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bridge.errors import PermanentError, Reason
from bridge.limits import MAX_DEADLINE_S, MAX_DELAY_S, MAX_KEY_CHARS, MIN_DEADLINE_S

# A key travels in the X-Idempotency-Key header and a Pub/Sub attribute: printable ASCII only
# (0x20-0x7e), so it can neither inject a header line nor be re-encoded differently by a proxy;
# and no surrounding spaces, which HTTP strips: "K " and "K" would be two tasks the worker sees
# as one key.
_DIGITS = re.compile(r"[0-9]{1,12}")


class Envelope(BaseModel):
    """A validated request to enqueue ``payload`` for ``service``."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    service: str = Field(min_length=1, max_length=63)
    payload: dict[str, Any]
    delay_s: int = Field(default=0, ge=0, le=MAX_DELAY_S)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=MAX_KEY_CHARS)
    deadline_s: int | None = Field(default=None, ge=MIN_DEADLINE_S, le=MAX_DEADLINE_S)

    @field_validator("idempotency_key")
    @classmethod
    def _key_fits_in_a_header(cls, key: str | None) -> str | None:
        if key is None:
            return key
        if not (key.isascii() and key.isprintable()):
            raise pydantic_core.PydanticCustomError(
                "bad_idempotency_key",
                "must be printable ASCII (no control characters, CR/LF or non-ASCII letters)",
            )
        if key.startswith(" ") or key.endswith(" "):
            raise pydantic_core.PydanticCustomError(
                "bad_idempotency_key",
                "must not start or end with a space: HTTP strips it, so the worker would see "
                "another task's key",
            )
        return key


def parse_envelope(data: bytes) -> Envelope:
    """Envelope mode: ``data`` is the whole envelope as UTF-8 JSON.

    Parsed, then validated: ``model_validate_json`` builds the payload's values in a second pass
    over its own parse, which costs half again as much for a 2 KB payload of many fields and
    three times as much at 500 KB (BENCHMARKS.md, "Per-message CPU"); the answers are the same.
    """
    try:
        value = pydantic_core.from_json(data)
    except ValueError as e:
        raise _bad_json(data, str(e)) from e
    try:
        return Envelope.model_validate(value)
    except ValidationError as e:
        raise _permanent_from(e, data) from e


def parse_attribute_envelope(data: bytes, attributes: Mapping[str, str]) -> Envelope:
    """Attribute mode: ``data`` is the payload object; the rest comes from ``attributes``."""
    if not data.strip():
        raise PermanentError(
            Reason.MISSING_PAYLOAD,
            "attribute mode needs the payload JSON object as the message data (at least {})",
            field="payload",
        )
    try:  # no NaN/Infinity: these bytes go to the worker as they are
        payload = pydantic_core.from_json(data, allow_inf_nan=False)
    except ValueError as e:
        raise _bad_json(data, str(e)) from e
    fields: dict[str, Any] = {"service": attributes["service"], "payload": payload}
    for name in ("delay_s", "deadline_s"):
        if name in attributes:
            fields[name] = _attribute_int(name, attributes[name])
    if "idempotency_key" in attributes:
        fields["idempotency_key"] = attributes["idempotency_key"]
    try:
        return Envelope.model_validate(fields)
    except ValidationError as e:
        raise _permanent_from(e, data) from e


def _attribute_int(name: str, raw: str) -> int:
    # Attributes are strings by nature; accept plain decimal digits only ("30", not "+30", "3e1").
    if not _DIGITS.fullmatch(raw):
        raise PermanentError(
            Reason.WRONG_TYPE, f"attribute {name}: {raw!r} is not a whole number", field=name
        )
    return int(raw)


def _bad_json(data: bytes, problem: str) -> PermanentError:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return PermanentError(Reason.BAD_UTF8, f"data is not valid UTF-8 (byte {e.start})")
    return PermanentError(Reason.BAD_JSON, f"data is not valid JSON: {problem}")


_REASON_BY_ERROR_TYPE = {
    "model_type": Reason.NOT_AN_OBJECT,
    "model_attributes_type": Reason.NOT_AN_OBJECT,
    "missing": Reason.MISSING_FIELD,
    "extra_forbidden": Reason.UNKNOWN_FIELD,
    "greater_than_equal": Reason.OUT_OF_RANGE,
    "less_than_equal": Reason.OUT_OF_RANGE,
    "string_too_short": Reason.OUT_OF_RANGE,
    "string_too_long": Reason.OUT_OF_RANGE,
    "bad_idempotency_key": Reason.BAD_IDEMPOTENCY_KEY,
}


_OBJECT_TYPES = {"model_type", "model_attributes_type", "dict_type"}
_NOT_AN_OBJECT = "Input should be an object"  # what pydantic says of JSON input


def _permanent_from(error: ValidationError, data: bytes) -> PermanentError:
    first = error.errors(include_url=False, include_input=False)[0]
    kind = first["type"]
    if kind == "json_invalid":
        return _bad_json(data, first["msg"].removeprefix("Invalid JSON: "))
    field = ".".join(str(part) for part in first["loc"]) or None
    if field == "payload" and kind == "dict_type":
        reason = Reason.PAYLOAD_NOT_OBJECT
    else:
        reason = _REASON_BY_ERROR_TYPE.get(kind, Reason.WRONG_TYPE)
    where = f"{field}: " if field else "envelope: "
    # Validated from Python values, pydantic says "a valid dictionary"; a publisher sent JSON.
    message = _NOT_AN_OBJECT if kind in _OBJECT_TYPES else first["msg"]
    return PermanentError(reason, where + message, field=field)
