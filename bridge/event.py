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
import re
from base64 import b64decode
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pybase64

from bridge.errors import PermanentError, Reason
from bridge.limits import MAX_MESSAGE_ID_CHARS

# The id travels in the X-Pubsub-Message-Id header (and names unkeyed tasks): printable ASCII, no
# surrounding spaces (HTTP strips them). Pub/Sub's own ids are decimal digits.
_SURROUNDING_SPACES = re.compile(r"^ +| +$")
_HEADER_SAFE_ID = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
# A publish time as Pub/Sub writes it: UTC, up to nanoseconds (``datetime`` keeps microseconds).
_PUBSUB_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?Z"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PubsubMessage:
    message_id: str
    data: bytes
    attributes: Mapping[str, str]
    publish_time: datetime | None  # None when neither the message nor the event says


class UnreadableMessage(PermanentError):
    """Raised if the event's message cannot be read whole (``bad_event``, ``bad_base64``).

    ``kept`` is what could be read of it (attributes, data or the data field's text, a printable
    id), for the rejection; None when not even that: the rejection then keeps the whole body.
    """

    def __init__(self, reason: Reason, detail: str, *, kept: PubsubMessage | None) -> None:
        super().__init__(reason, detail)
        self.kept = kept


def decode_event(*, event_id: str | None, event_time: str | None, data: Any) -> PubsubMessage:
    """Raised if unreadable: ``UnreadableMessage`` (``bad_event`` or ``bad_base64``)."""
    body = _as_object(data)
    # Some producers (and google-cloudevents' "simple" sample) send the bare message.
    message = body.get("message", body if "messageId" in body else None)
    if not isinstance(message, dict):
        raise UnreadableMessage(
            Reason.BAD_EVENT, "the event carries no Pub/Sub 'message' object", kept=None
        )
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise UnreadableMessage(
            Reason.BAD_EVENT, "message attributes are not a string map", kept=None
        )
    message_id = message.get("messageId") or message.get("message_id") or event_id
    publish_time = parse_time(
        message.get("publishTime") or message.get("publish_time") or event_time
    )
    raw_data = message.get("data")
    try:
        decoded = _decode_data(raw_data)
    except PermanentError as e:
        # Keep what the publisher sent: the attributes, and the data field's text as the data.
        kept = PubsubMessage(
            message_id=printable_id(message_id),
            data=_text_of(raw_data),
            attributes=attributes,
            publish_time=None,
        )
        raise UnreadableMessage(e.reason, e.detail, kept=kept) from e
    problem = _id_problem(message_id)
    if problem is not None or not isinstance(message_id, str):
        kept = PubsubMessage(
            message_id=printable_id(message_id),
            data=decoded,
            attributes=attributes,
            publish_time=publish_time,
        )
        raise UnreadableMessage(Reason.BAD_EVENT, problem or "no messageId", kept=kept)
    return PubsubMessage(
        message_id=message_id, data=decoded, attributes=attributes, publish_time=publish_time
    )


def printable_id(value: object) -> str:
    """A message id as it can be logged and stored in an attribute: as is when header-safe,
    else JSON-escaped (``"1\\r\\n"``), cut to ``MAX_MESSAGE_ID_CHARS``; "" when not a string."""
    if not isinstance(value, str):
        return ""
    if _id_problem(value) is None:
        return value
    escaped = json.dumps(value, ensure_ascii=True)[1:-1][:MAX_MESSAGE_ID_CHARS]
    return _SURROUNDING_SPACES.sub(lambda m: "\\u0020" * len(m.group()), escaped)


def _id_problem(message_id: object) -> str | None:
    if not isinstance(message_id, str) or not message_id:
        return "the message has no messageId"
    if len(message_id) > MAX_MESSAGE_ID_CHARS:
        return f"the messageId is over {MAX_MESSAGE_ID_CHARS} characters"
    if not _HEADER_SAFE_ID.fullmatch(message_id):
        return (
            "the messageId is not printable ASCII without surrounding spaces (it would travel "
            "in the X-Pubsub-Message-Id header)"
        )
    return None


def _text_of(value: object) -> bytes:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text.encode("utf-8", "surrogatepass")


def parse_time(value: object) -> datetime | None:
    """RFC 3339 (``2024-01-01T00:00:00.123456789Z``) -> aware datetime; None if unreadable."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    if _PUBSUB_TIME.fullmatch(value):  # Pub/Sub's own shape, which Python reads as it is
        try:
            return datetime.fromisoformat(value)
        except ValueError:  # a month 13, ...: the general reading says None too
            return None
    return _read_rfc3339(value)


def _read_rfc3339(value: str) -> datetime | None:
    """The general reading: any case of ``Z``, an offset, surrounding spaces, any digits."""
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
            raise UnreadableMessage(
                Reason.BAD_EVENT, "the event body is not JSON", kept=None
            ) from None
    if not isinstance(data, dict):
        raise UnreadableMessage(Reason.BAD_EVENT, "the event body is not a JSON object", kept=None)
    return data


def _decode_data(value: object) -> bytes:
    if value is None:
        return b""
    if not isinstance(value, str):
        raise PermanentError(Reason.BAD_BASE64, "message data is not a base64 string")
    try:
        # pybase64 (SIMD) decodes the ~2.7 KB of a 2 KB message in a tenth of the standard
        # library's time, and refuses exactly what it refuses (tests/test_event.py).
        return pybase64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:  # the standard library's words say what is wrong ("Incorrect padding", ...)
        return b64decode(value, validate=True)
    except (binascii.Error, ValueError) as e:
        raise PermanentError(Reason.BAD_BASE64, f"message data is not valid base64: {e}") from e
