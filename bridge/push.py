"""The Pub/Sub entry over HTTP: one push request in, one answer out, on the ASGI stack.

A push arrives as a CloudEvent (Eventarc: binary or structured mode) or as a raw push body
(a push subscription straight to the function's URL). functions-framework's ASGI CloudEvent
wrapper takes only the former (a raw push gets 400 there); its Flask wrapper, which served the
bridge before, converted the latter. So ``enqueue`` is an HTTP function, and ``read_event`` does
what that Flask wrapper did, with functions-framework's own conversion, so that every shape
accepted before is accepted, and every request refused before is refused with the same status:

- a CloudEvent (``cloudevents.http.from_http``): as is;
- not one (required attributes missing or invalid): converted as a raw push
  (``event_conversion.background_event_to_cloud_event``); a body that is not JSON is 415 (not a
  JSON content type) or 400 (not JSON), one that is no push 400. The common case, a well-formed
  raw push, is read directly into what that conversion gives (``_raw_push``): the same id, time
  and data, without building the CloudEvent (a tenth of the bridge's own CPU per message);
- anything else raised while reading (a structured body that is no JSON object, ...) is a 500, as
  it was.

Then ``PubsubBridge.handle`` decides; its ``TransientError`` is a 503 (Pub/Sub redelivers). The
retry is already logged as one structured line: an HTTP error, unlike an uncaught exception, adds
no traceback entry per redelivery.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, NamedTuple

import pydantic_core
from cloudevents import exceptions as ce_exceptions
from cloudevents.http import CloudEvent, from_http
from cloudevents.sdk.converters import is_binary
from functions_framework import event_conversion
from functions_framework.exceptions import EventConversionException
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from bridge.errors import TransientError
from bridge.pubsub_entry import PubsubBridge

_SPECVERSION_HEADER = "ce-specversion"
# The ``@type`` functions-framework gives a converted raw push's message.
_PUBSUB_MESSAGE_TYPE = "type.googleapis.com/google.pubsub.v1.PubsubMessage"


class NotAPush(Exception):
    """Raised if the request is neither a CloudEvent nor a raw push: ``status`` is the answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Push(NamedTuple):
    """What the bridge reads of a push: its CloudEvent's id, time and data (as they came)."""

    event_id: Any
    event_time: Any
    data: Any

    @classmethod
    def of(cls, event: CloudEvent) -> Push:
        return cls(event.get("id"), event.get("time"), event.data)


def read_event(*, headers: Headers, path: str, body: bytes) -> Push:
    """Raised if not a push: ``NotAPush`` (400 or 415)."""
    # Binary mode needs ce-specversion among its headers (``is_binary``); Starlette's headers
    # answer ``in`` in any case without copying them all, as ``is_binary`` does to every push.
    binary = _SPECVERSION_HEADER in headers and is_binary(headers)
    parsed = None if binary else _json_object(body)
    if parsed is not None and parsed.get("specversion") is None:
        # A raw push, the common case: ``from_http`` would parse it only to raise
        # MissingRequiredFields (no ce-* headers, no specversion). Parsed once, converted.
        return _raw_push(parsed, headers=headers) or _converted(
            headers=headers, path=path, body=body, parsed=parsed, why="no specversion"
        )
    try:
        return Push.of(from_http(headers, body))
    except (ce_exceptions.MissingRequiredFields, ce_exceptions.InvalidRequiredFields) as e:
        return _converted(headers=headers, path=path, body=body, parsed=None, why=repr(e))


def _raw_push(parsed: dict[str, Any], *, headers: Mapping[str, str]) -> Push | None:
    """A well-formed raw push as ``event_conversion`` converts it; None for any other body, which
    takes the conversion itself (``tests/test_push.py`` holds the two to the same answers)."""
    message = parsed.get("message")
    if (
        "subscription" not in parsed
        or "context" in parsed
        or not isinstance(message, dict)
        or "data" not in message
        or "messageId" not in message
        or not _is_json(headers)
    ):
        return None
    message_id = message["messageId"]
    # functions-framework stamps a push without a publish time with its own (naive UTC + "Z")
    publish_time = (
        message["publishTime"]
        if "publishTime" in message
        else _now_as_functions_framework_writes_it()
    )
    data = {
        "message": {
            "@type": _PUBSUB_MESSAGE_TYPE,
            "data": message["data"],
            "attributes": message.get("attributes", {}),
            "messageId": message_id,
            "publishTime": publish_time,
        }
    }
    return Push(message_id, publish_time, data)


def _converted(
    *, headers: Mapping[str, str], path: str, body: bytes, parsed: Any, why: str
) -> Push:
    try:
        return Push.of(
            event_conversion.background_event_to_cloud_event(
                _RawPush(headers=headers, path=path, body=body, parsed=parsed)
            )
        )
    except EventConversionException as e:
        raise NotAPush(
            HTTPStatus.BAD_REQUEST,
            f"not a CloudEvent ({why}), and not a Pub/Sub push either: {e!r}",
        ) from e


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as ``json.loads`` reads it if it is a JSON object, else None (not JSON, not
    UTF-8, not an object).

    pydantic's parser (jiter) reads a push in a fifth of ``json.loads``' time, and gives the same
    value for every body both accept; it refuses a few that ``json.loads`` takes (lone surrogate
    escapes, a byte-order mark), which then take ``json.loads`` itself.
    """
    try:
        value = pydantic_core.from_json(body)
    except ValueError:
        try:
            value = json.loads(body)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


class _RawPush:
    """What ``event_conversion`` reads of a request: ``path`` and Flask's ``get_json()``, which
    refuses a body of another content type (415) or one that is not JSON (400)."""

    def __init__(
        self, *, headers: Mapping[str, str], path: str, body: bytes, parsed: Any = None
    ) -> None:
        self.path = path
        self._headers = headers
        self._body = body
        self._parsed = parsed  # the body already parsed, if it was

    def get_json(self) -> Any:
        if not _is_json(self._headers):
            raise NotAPush(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the request body is not JSON (Content-Type)"
            )
        if self._parsed is not None:
            return self._parsed
        try:
            return json.loads(self._body)
        except ValueError as e:
            raise NotAPush(HTTPStatus.BAD_REQUEST, f"the request body is not JSON: {e}") from e


def _now_as_functions_framework_writes_it() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat() + "Z"


def _is_json(headers: Mapping[str, str]) -> bool:
    """Flask's ``is_json``: what its ``get_json()`` reads, else 415."""
    mimetype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return mimetype == "application/json" or (
        mimetype.startswith("application/") and mimetype.endswith("+json")
    )


class PushEntry:
    """``enqueue``: the answer to one push."""

    def __init__(self, bridge: PubsubBridge) -> None:
        self._bridge = bridge

    async def answer(self, request: Request) -> PlainTextResponse:
        if request.method != "POST":
            return PlainTextResponse(
                "Method Not Allowed", HTTPStatus.METHOD_NOT_ALLOWED, headers={"Allow": "POST"}
            )
        body = await request.body()
        try:
            # The scope's path is what Flask's ``request.path`` was (``request.url`` would build
            # a whole URL for it).
            push = read_event(headers=request.headers, path=request.scope["path"], body=body)
        except NotAPush as e:
            return PlainTextResponse(e.detail, e.status)
        try:
            await self._bridge.handle(
                event_id=push.event_id, event_time=push.event_time, data=push.data
            )
        except TransientError as e:
            return PlainTextResponse(f"retry later: {e.code}", HTTPStatus.SERVICE_UNAVAILABLE)
        return PlainTextResponse("OK")
