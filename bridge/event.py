"""From a CloudEvent to the Pub/Sub message it carries, whatever shape it arrived in.

Shapes seen in practice: Eventarc binary and structured CloudEvents (body
``{"subscription", "message": {...}}``, sometimes with ``@type`` and snake_case duplicates
``message_id``/``publish_time``), and a raw push body converted by functions-framework
(``{"message": {"@type", "data", "attributes", "messageId", "publishTime"}}``, no subscription,
possibly an empty topic in ``source``). This module knows nothing of HTTP.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.errors import PermanentError, Reason


@dataclass(frozen=True, slots=True)
class PubsubMessage:
    message_id: str
    data: bytes
    attributes: Mapping[str, str]
    publish_time: datetime | None  # None when neither the message nor the event says


def decode_event(*, event_id: str | None, event_time: str | None, data: Any) -> PubsubMessage:
    """Raised if unreadable: ``PermanentError`` (``bad_event`` or ``bad_base64``)."""
    body = _as_object(data)
    # Some producers (and google-cloudevents' "simple" sample) send the bare message.
    message = body.get("message", body if "messageId" in body else None)
    if not isinstance(message, dict):
        raise PermanentError(Reason.BAD_EVENT, "the event carries no Pub/Sub 'message' object")
    message_id = message.get("messageId") or message.get("message_id") or event_id
    if not isinstance(message_id, str) or not message_id:
        raise PermanentError(Reason.BAD_EVENT, "the message has no messageId")
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise PermanentError(Reason.BAD_EVENT, "message attributes are not a string map")
    publish_time = message.get("publishTime") or message.get("publish_time") or event_time
    return PubsubMessage(
        message_id=message_id,
        data=_decode_data(message.get("data")),
        attributes=attributes,
        publish_time=parse_time(publish_time),
    )


def parse_time(value: object) -> datetime | None:
    """RFC 3339 (``2024-01-01T00:00:00.123456789Z``) -> aware datetime; None if unreadable."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, rest = text.partition(".")
    if dot:  # Pub/Sub gives nanoseconds; datetime takes at most microseconds
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _as_object(data: Any) -> dict[str, Any]:
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except ValueError:
            raise PermanentError(Reason.BAD_EVENT, "the event body is not JSON") from None
    if not isinstance(data, dict):
        raise PermanentError(Reason.BAD_EVENT, "the event body is not a JSON object")
    return data


def _decode_data(value: object) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise PermanentError(Reason.BAD_BASE64, "message data is not a base64 string")
    try:
        return b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise PermanentError(Reason.BAD_BASE64, f"message data is not valid base64: {e}") from e
