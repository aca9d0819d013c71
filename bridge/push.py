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
  JSON content type) or 400 (not JSON), one that is no push 400;
- anything else raised while reading (a structured body that is no JSON object, ...) is a 500, as
  it was.

Then ``PubsubBridge.handle`` decides; its ``TransientError`` is a 503 (Pub/Sub redelivers). The
retry is already logged as one structured line: an HTTP error, unlike an uncaught exception, adds
no traceback entry per redelivery.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from cloudevents import exceptions as ce_exceptions
from cloudevents.http import CloudEvent, from_http
from cloudevents.sdk.converters import is_binary
from functions_framework import event_conversion
from functions_framework.exceptions import EventConversionException
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from bridge.errors import TransientError
from bridge.pubsub_entry import PubsubBridge


class NotAPush(Exception):
    """Raised if the request is neither a CloudEvent nor a raw push: ``status`` is the answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def read_event(*, headers: Mapping[str, str], path: str, body: bytes) -> CloudEvent:
    """Raised if not a push: ``NotAPush`` (400 or 415)."""
    parsed = None if is_binary(headers) else _json_object(body)
    if parsed is not None and parsed.get("specversion") is None:
        # A raw push, the common case: ``from_http`` would parse it only to raise
        # MissingRequiredFields (no ce-* headers, no specversion). Parsed once, converted.
        return _converted(
            headers=headers, path=path, body=body, parsed=parsed, why="no specversion"
        )
    try:
        return from_http(headers, body)
    except (ce_exceptions.MissingRequiredFields, ce_exceptions.InvalidRequiredFields) as e:
        return _converted(headers=headers, path=path, body=body, parsed=None, why=repr(e))


def _converted(
    *, headers: Mapping[str, str], path: str, body: bytes, parsed: Any, why: str
) -> CloudEvent:
    try:
        return event_conversion.background_event_to_cloud_event(
            _RawPush(headers=headers, path=path, body=body, parsed=parsed)
        )
    except EventConversionException as e:
        raise NotAPush(
            HTTPStatus.BAD_REQUEST,
            f"not a CloudEvent ({why}), and not a Pub/Sub push either: {e!r}",
        ) from e


def _json_object(body: bytes) -> dict[str, Any] | None:
    """The body as a JSON object, or None (not JSON, not UTF-8, not an object)."""
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
        mimetype = self._headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if not (
            mimetype == "application/json"
            or (mimetype.startswith("application/") and mimetype.endswith("+json"))
        ):
            raise NotAPush(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "the request body is not JSON (Content-Type)"
            )
        if self._parsed is not None:
            return self._parsed
        try:
            return json.loads(self._body)
        except ValueError as e:
            raise NotAPush(HTTPStatus.BAD_REQUEST, f"the request body is not JSON: {e}") from e


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
            event = read_event(headers=request.headers, path=request.url.path, body=body)
        except NotAPush as e:
            return PlainTextResponse(e.detail, e.status)
        try:
            await self._bridge.handle(
                event_id=event.get("id"), event_time=event.get("time"), data=event.data
            )
        except TransientError as e:
            return PlainTextResponse(f"retry later: {e.code}", HTTPStatus.SERVICE_UNAVAILABLE)
        return PlainTextResponse("OK")
