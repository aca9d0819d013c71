"""``bridge.push.read_event`` reads every request as functions-framework's Flask CloudEvent
wrapper (which served the bridge before the ASGI stack) read it: the same event (id, time,
data) or the same refusal (400, 415, 500), case by case. The reference is that wrapper itself,
serving tests/functions/capture/main.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app, event_conversion
from starlette.datastructures import Headers

from bridge.push import NotAPush, PushEntry, read_event
from tests.doubles import starlette_request
from tests.functions.capture import events

CAPTURE = str(Path(events.__file__).with_name("main.py"))
TOPIC = "//pubsub.googleapis.com/projects/p/topics/t"
MESSAGE = {
    "data": base64.b64encode(b'{"service": "brain", "payload": {}}').decode(),
    "attributes": {"a": "b"},
    "messageId": "m-1",
    "publishTime": "2026-11-28T12:00:00.123Z",
}
RAW = {"message": MESSAGE, "subscription": "projects/p/subscriptions/s"}
JSON = {"Content-Type": "application/json"}
CE = {
    "ce-id": "ce-1",
    "ce-specversion": "1.0",
    "ce-source": TOPIC,
    "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
    "ce-time": "2026-11-28T12:00:00Z",
    "Content-Type": "application/json",
}
STRUCTURED = {
    "specversion": "1.0",
    "id": "ce-2",
    "source": TOPIC,
    "type": "google.cloud.pubsub.topic.v1.messagePublished",
    "time": "2026-11-28T12:00:00Z",
    "datacontenttype": "application/json",
    "data": {"message": MESSAGE},
}


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


CASES: dict[str, tuple[str, dict[str, str], bytes]] = {
    "raw push": ("/", JSON, dumps(RAW)),
    "raw push, topic in the path": ("/projects/p/topics/t", JSON, dumps(RAW)),
    "raw push, JSON content type with a charset": (
        "/",
        {"Content-Type": "application/json; charset=utf-8"},
        dumps(RAW),
    ),
    "raw push without data": ("/", JSON, dumps({**RAW, "message": {"messageId": "m-2"}})),
    "raw push without messageId": ("/", JSON, dumps({**RAW, "message": {"data": "e30="}})),
    "raw push without subscription": ("/", JSON, dumps({"message": MESSAGE})),
    "raw push, messageId a number": (
        "/",
        JSON,
        dumps({**RAW, "message": {**MESSAGE, "messageId": 7}}),
    ),
    "raw push, attributes null": (
        "/",
        JSON,
        dumps({**RAW, "message": {**MESSAGE, "attributes": None}}),
    ),
    "raw push without attributes": (
        "/",
        JSON,
        dumps({**RAW, "message": {k: v for k, v in MESSAGE.items() if k != "attributes"}}),
    ),
    "raw push, data null": ("/", JSON, dumps({**RAW, "message": {**MESSAGE, "data": None}})),
    "raw push, publishTime a number": (
        "/",
        JSON,
        dumps({**RAW, "message": {**MESSAGE, "publishTime": 1}}),
    ),
    "raw push with snake_case duplicates": (
        "/",
        JSON,
        dumps({**RAW, "message": {**MESSAGE, "message_id": "m-1", "publish_time": "x"}}),
    ),
    "raw push, message a list": ("/", JSON, dumps({**RAW, "message": [MESSAGE]})),
    "raw push, message a string": ("/", JSON, dumps({**RAW, "message": "m"})),
    "raw push beside a context": ("/", JSON, dumps({**RAW, "context": {}})),
    "raw push, subscription null": ("/", JSON, dumps({**RAW, "subscription": None})),
    "raw push as text/plain": ("/", {"Content-Type": "text/plain"}, dumps(RAW)),
    "raw push without a content type": ("/", {}, dumps(RAW)),
    "not JSON": ("/", JSON, b"{oops"),
    "empty body": ("/", JSON, b""),
    "not UTF-8": ("/", JSON, b'{"message": "\xff"}'),
    "a JSON list": ("/", JSON, b"[1, 2]"),
    "a JSON string": ("/", JSON, b'"x"'),
    "specversion null": ("/", JSON, dumps({**RAW, "specversion": None})),
    "unknown specversion": ("/", JSON, dumps({**RAW, "specversion": "9.9"})),
    "binary mode": ("/", CE, dumps(RAW)),
    "binary mode, body not JSON": ("/", CE, b"plain text"),
    "binary mode, header names in capitals": (
        "/",
        {name.upper(): value for name, value in CE.items()},
        dumps(RAW),
    ),
    "binary mode, unknown specversion": ("/", {**CE, "ce-specversion": "0.9"}, dumps(RAW)),
    "binary mode, no ce-id": ("/", {k: v for k, v in CE.items() if k != "ce-id"}, dumps(RAW)),
    "structured mode": (
        "/",
        {"Content-Type": "application/cloudevents+json"},
        dumps(STRUCTURED),
    ),
    "structured mode without id": (
        "/",
        {"Content-Type": "application/cloudevents+json"},
        dumps({k: v for k, v in STRUCTURED.items() if k != "id"}),
    ),
    "structured body as application/json": ("/", JSON, dumps(STRUCTURED)),
    # Bodies that pydantic's parser (the fast read) refuses and json.loads takes:
    "raw push, a lone surrogate escape in an attribute": (
        "/",
        JSON,
        dumps({**RAW, "message": {**MESSAGE, "attributes": {"a": "\ud800"}}}),
    ),
    "raw push after a UTF-8 byte-order mark": ("/", JSON, b"\xef\xbb\xbf" + dumps(RAW)),
    "raw push in UTF-16": ("/", JSON, json.dumps(RAW).encode("utf-16")),
    "raw push nested deeper than pydantic's parser reads": (
        "/",
        JSON,
        dumps(RAW)[:-1] + b', "deep": ' + b"[" * 300 + b"]" * 300 + b"}",
    ),
}


def flask_reads(path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    client = create_app("capture", CAPTURE, "cloudevent").test_client()
    events.EVENTS.clear()
    status = client.post(path, data=body, headers=headers).status_code
    return status, (events.EVENTS[0] if events.EVENTS else None)


def asgi_reads(path: str, headers: dict[str, str], body: bytes) -> tuple[int, Any]:
    request = starlette_request(body, path=path, headers=headers)
    try:
        event = read_event(headers=request.headers, path=path, body=body)
    except NotAPush as e:
        return e.status, None
    except Exception:
        return 500, None
    return 200, tuple(event)


@pytest.mark.parametrize("case", list(CASES))
def test_every_request_reads_as_functions_frameworks_flask_wrapper_read_it(case: str) -> None:
    path, headers, body = CASES[case]
    assert asgi_reads(path, headers, body) == flask_reads(path, headers, body)


def test_the_cases_cover_every_answer() -> None:
    statuses = {flask_reads(*CASES[case])[0] for case in CASES}
    assert statuses == {200, 400, 415, 500}


def test_a_raw_push_without_publish_time_gets_a_time_as_before() -> None:
    body = dumps({**RAW, "message": {k: v for k, v in MESSAGE.items() if k != "publishTime"}})
    status, event = asgi_reads("/", JSON, body)
    assert status == 200
    assert event[1]  # functions-framework stamps the time it converted the push


class NoBridge:
    async def handle(self, **_: Any) -> None:
        raise AssertionError("not reached")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_only_post_is_a_push(method: str) -> None:
    entry = PushEntry(NoBridge())  # type: ignore[arg-type]
    response = asyncio.run(entry.answer(starlette_request(b"", path="/", method=method)))
    assert (response.status_code, response.headers["Allow"]) == (405, "POST")


def test_a_well_formed_raw_push_is_read_without_the_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(_: Any) -> Any:
        raise AssertionError("the conversion ran for the common case")

    monkeypatch.setattr(event_conversion, "background_event_to_cloud_event", refuse)
    event = read_event(headers=Headers(JSON), path="/", body=dumps(RAW))
    assert (event.event_id, event.data["message"]["data"]) == ("m-1", MESSAGE["data"])
