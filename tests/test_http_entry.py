"""``POST /enqueue`` on its own: the body cap whatever ``Content-Length`` says, status codes.

The real main.py behind functions-framework is tested in tests/test_main_contract.py; here the
request is built by hand, so the header can be missing or lie, as a hostile client's can.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.responses import Response

from bridge.config import Settings
from bridge.http_entry import HttpBridge
from bridge.limits import MAX_REQUEST_BYTES
from tests.conftest import NOW
from tests.doubles import FakeGateway, RequestBody, starlette_request

CHUNK_BYTES = 65_536  # what uvicorn hands the app at a time, about


def post(
    bridge: HttpBridge, body: bytes, *, content_length: int | None
) -> tuple[Response, RequestBody]:
    """``content_length`` None: a chunked body (the server knows where it ends); else the
    server delivers what the header claimed, as an HTTP server frames a request."""
    delivered = body if content_length is None else body[:content_length]
    stream = RequestBody(
        [delivered[i : i + CHUNK_BYTES] for i in range(0, len(delivered), CHUNK_BYTES)]
    )
    headers = {"Content-Type": "application/json"}
    if content_length is not None:
        headers["Content-Length"] = str(content_length)
    return asyncio.run(bridge.handle(starlette_request(stream, headers=headers))), stream


@pytest.fixture
def bridge(settings: Settings, gateway: FakeGateway) -> HttpBridge:
    return HttpBridge(settings=settings, gateway=gateway, clock=lambda: NOW)


def envelope_of_size(size: int) -> bytes:
    head, tail = b'{"service": "brain", "payload": {"x": "', b'"}}'
    return head + b"y" * (size - len(head) - len(tail)) + tail


def test_without_content_length_a_body_over_the_cap_is_413_read_no_further(
    bridge: HttpBridge, gateway: FakeGateway
) -> None:
    body = envelope_of_size(MAX_REQUEST_BYTES + 10 * CHUNK_BYTES)
    response, stream = post(bridge, body, content_length=None)
    assert response.status_code == 413
    # An ASGI body comes in chunks: one past the cap is pulled at most, never the rest.
    assert stream.read_bytes <= MAX_REQUEST_BYTES + CHUNK_BYTES
    assert gateway.calls == 0


def test_without_content_length_a_body_under_the_cap_is_read(
    bridge: HttpBridge, gateway: FakeGateway
) -> None:
    body = json.dumps({"service": "brain", "payload": {"a": 1}}).encode()
    response, _ = post(bridge, body, content_length=None)
    assert response.status_code == 200
    assert gateway.calls == 1


def test_a_content_length_over_the_cap_is_413_without_reading(
    bridge: HttpBridge, gateway: FakeGateway
) -> None:
    response, stream = post(bridge, b"{}", content_length=MAX_REQUEST_BYTES + 1)
    assert response.status_code == 413
    assert stream.read_bytes == 0
    assert gateway.calls == 0


def test_a_content_length_that_understates_the_body_reads_only_what_it_claimed(
    bridge: HttpBridge, gateway: FakeGateway
) -> None:
    # Claims 10 bytes, sends 10 MB: the body read is the 10 claimed bytes (not JSON: 422).
    response, stream = post(bridge, envelope_of_size(MAX_REQUEST_BYTES), content_length=10)
    assert response.status_code == 422
    assert stream.read_bytes <= 10
    assert gateway.calls == 0


def test_a_body_exactly_at_the_cap_is_read_and_judged_by_its_payload(
    bridge: HttpBridge, gateway: FakeGateway
) -> None:
    body = envelope_of_size(MAX_REQUEST_BYTES)
    response, stream = post(bridge, body, content_length=len(body))
    assert stream.read_bytes == len(body)  # read whole: not cut by the request cap
    assert response.status_code == 413  # its payload is over MAX_BODY_BYTES
    assert json.loads(bytes(response.body))["detail"].startswith("payload:")
    assert gateway.calls == 0
