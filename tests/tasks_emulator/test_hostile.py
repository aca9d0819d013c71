"""What a red team tried, as a hostile user would: each answered as production answers it, never
a 5xx of the emulator's own, never a change the caller did not ask for.

Raw sockets for what no HTTP library sends (a chunked body past the limit, broken framing); the
official client over gRPC and REST for the rest.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from google.protobuf import field_mask_pb2

from tasks_emulator.rest_api import MAX_REQUEST_BYTES
from tests.tasks_emulator.conftest import PARENT, Emulator, grpc_client, new_queue_name

URL = "http://127.0.0.1:9/never"


def _paused_queue(emulator: Emulator) -> str:
    queue = new_queue_name()
    client = grpc_client(emulator)
    client.create_queue(parent=PARENT, queue={"name": queue})
    client.pause_queue(name=queue)
    return queue


def _exchange(emulator: Emulator, data: bytes, *, shut_write: bool = False) -> tuple[int, bytes]:
    """Send ``data`` as is (from a thread, so a server that answers early cannot deadlock us);
    the status and body of the answer."""
    host, port = emulator.http_url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:

        def send() -> None:
            try:
                sock.sendall(data)
                if shut_write:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                return  # the server answered and closed before taking everything

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        received = b""
        while b"\r\n\r\n" not in received or not _complete(received):
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            received += chunk
        sender.join(timeout=30)
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _complete(received: bytes) -> bool:
    head, _, body = received.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _create_body(queue: str, task_id: str, *, padding: int = 0) -> bytes:
    task = {"task": {"name": f"{queue}/tasks/{task_id}", "httpRequest": {"url": URL}}}
    return json.dumps(task).encode() + b" " * padding  # trailing spaces: still valid JSON


def _chunked(body: bytes, *, chunk_bytes: int = 1 << 20) -> bytes:
    out = b""
    for start in range(0, len(body), chunk_bytes):
        chunk = body[start : start + chunk_bytes]
        out += b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    return out + b"0\r\n\r\n"


def _head(queue: str, framing: str) -> bytes:
    return (
        f"POST /v2/{queue}/tasks HTTP/1.1\r\nHost: localhost\r\n"
        f"Content-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    ).encode()


def _task_ids(emulator: Emulator, queue: str) -> list[str]:
    return [t.name.rsplit("/", 1)[1] for t in grpc_client(emulator).list_tasks(parent=queue)]


# --- REST bodies and framing ---------------------------------------------------------------------
def test_a_chunked_body_past_10_mb_is_refused_whole_as_with_a_content_length(
    emulator: Emulator,
) -> None:
    queue = _paused_queue(emulator)
    # Valid JSON whose first 10 MB parse too: cut there, it would create a task.
    big = _create_body(queue, "big", padding=MAX_REQUEST_BYTES + 1024)
    status, body = _exchange(emulator, _head(queue, "Transfer-Encoding: chunked") + _chunked(big))
    assert status == 400
    assert b"Request payload size exceeds the limit" in body
    status, body = _exchange(emulator, _head(queue, f"Content-Length: {len(big)}") + big)
    assert status == 400
    assert b"Request payload size exceeds the limit" in body
    assert _task_ids(emulator, queue) == []
    # Just under the limit, chunked, it is a task.
    fits = _create_body(queue, "fits")
    fits += b" " * (MAX_REQUEST_BYTES - len(fits))
    status, body = _exchange(emulator, _head(queue, "Transfer-Encoding: chunked") + _chunked(fits))
    assert status == 200, body[:200]
    assert _task_ids(emulator, queue) == ["fits"]


@pytest.mark.parametrize(
    ("framing", "payload", "shut_write"),
    [
        ("Transfer-Encoding: chunked", b"zz\r\n{}\r\n0\r\n\r\n", False),  # not a chunk size
        ("Transfer-Encoding: chunked", b"ffffffffffffffffffff\r\n{}", True),  # absurd size
        ("Transfer-Encoding: chunked", b"5\r\n{}", True),  # the chunk ends early
        ("Content-Length: 1000", b'{"task": {}}', True),  # fewer bytes than announced
    ],
    ids=["bad-chunk-size", "huge-chunk-size", "short-chunk", "short-content-length"],
)
def test_broken_framing_is_the_clients_fault(
    emulator: Emulator, framing: str, payload: bytes, shut_write: bool
) -> None:
    queue = _paused_queue(emulator)
    status, body = _exchange(emulator, _head(queue, framing) + payload, shut_write=shut_write)
    assert status == 400, body
    assert json.loads(body)["error"]["status"] == "INVALID_ARGUMENT"
    assert _task_ids(emulator, queue) == []


# --- page tokens ---------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["AAAA", "A" * 100_000, "\x00\xff\xfe", "bm90IG1pbmU="])
def test_a_page_token_the_emulator_did_not_issue_is_invalid_argument(
    emulator: Emulator, token: str
) -> None:
    queue = _paused_queue(emulator)
    client = grpc_client(emulator)
    for task_id in ("a", "b"):
        client.create_task(
            parent=queue, task={"name": f"{queue}/tasks/{task_id}", "http_request": {"url": URL}}
        )
    with pytest.raises(exceptions.InvalidArgument) as caught:
        client.list_tasks(request={"parent": queue, "page_token": token})
    assert "page_token" in caught.value.message
    with pytest.raises(exceptions.InvalidArgument):
        client.list_queues(request={"parent": PARENT, "page_token": token})


def test_garbage_page_tokens_over_rest_and_tokens_of_another_list(emulator: Emulator) -> None:
    queue, other = _paused_queue(emulator), _paused_queue(emulator)
    client = grpc_client(emulator)
    for task_id in ("a", "b"):
        client.create_task(
            parent=queue, task={"name": f"{queue}/tasks/{task_id}", "http_request": {"url": URL}}
        )
    for raw in ("%00%ff%fe", "AAAA", "A" * 5000):
        answer = requests.get(f"{emulator.http_url}/v2/{queue}/tasks?pageToken={raw}", timeout=10)
        assert answer.status_code == 400, (raw[:10], answer.text)
        assert answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    page = client.list_tasks(request={"parent": queue, "page_size": 1})
    token = page.next_page_token
    assert token
    assert [t.name for t in client.list_tasks(request={"parent": queue, "page_token": token})]
    with pytest.raises(exceptions.InvalidArgument):  # a token of queue's list, not other's
        client.list_tasks(request={"parent": other, "page_token": token})


# --- headers -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X-Nul": "a\x00b"}, "contains a control character"),
        ({"X-Bell": "\x07"}, "contains a control character"),
        ({"X-Del": "a\x7f"}, "contains a control character"),
        ({"X\x00Name": "v"}, "is not a valid header name"),
        ({"X(Bad)": "v"}, "is not a valid header name"),
    ],
)
def test_a_control_byte_in_a_header_is_refused(
    client: Any, queue_name: str, headers: dict[str, str], message: str
) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        client.create_task(
            parent=queue_name, task={"http_request": {"url": URL, "headers": headers}}
        )
    assert message in caught.value.message
    assert list(client.list_tasks(parent=queue_name)) == []


def test_a_tab_in_a_header_value_is_fine(client: Any, queue_name: str) -> None:
    client.pause_queue(name=queue_name)
    task = client.create_task(
        parent=queue_name, task={"http_request": {"url": URL, "headers": {"X-Tab": "a\tb"}}}
    )
    assert task.http_request.headers["X-Tab"] == "a\tb"


# --- UpdateQueue ---------------------------------------------------------------------------------
def _rated_queue(client: Any) -> Any:
    name = new_queue_name()
    return client.create_queue(
        parent=PARENT,
        queue={
            "name": name,
            "rate_limits": {"max_dispatches_per_second": 10, "max_concurrent_dispatches": 7},
        },
    )


@pytest.mark.parametrize(
    ("path", "rate_limits", "message"),
    [
        (
            "rate_limits.max_dispatches_per_second",
            {"max_dispatches_per_second": 0},
            "max_dispatches_per_second must be greater than 0",
        ),
        (
            "rate_limits.max_concurrent_dispatches",
            {"max_concurrent_dispatches": 0},
            "max_concurrent_dispatches must be greater than 0",
        ),
        ("rate_limits.max_burst_size", {"max_burst_size": 3}, "is output only"),
    ],
    ids=["zero-rate", "zero-concurrency", "burst-is-output-only"],
)
def test_update_queue_says_what_is_wrong_and_changes_nothing(
    client: Any, path: str, rate_limits: dict[str, Any], message: str
) -> None:
    before = _rated_queue(client)
    with pytest.raises(exceptions.BadRequest) as caught:
        client.update_queue(
            queue={"name": before.name, "rate_limits": rate_limits},
            update_mask=field_mask_pb2.FieldMask(paths=[path]),
        )
    assert message in caught.value.message
    assert client.get_queue(name=before.name) == before


def test_update_queue_changes_only_the_masked_rate_field(client: Any) -> None:
    before = _rated_queue(client)
    after = client.update_queue(
        queue={"name": before.name, "rate_limits": {"max_concurrent_dispatches": 3}},
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_concurrent_dispatches"]),
    )
    assert after.rate_limits.max_concurrent_dispatches == 3
    assert after.rate_limits.max_dispatches_per_second == 10
    assert after.rate_limits.max_burst_size == before.rate_limits.max_burst_size
    assert after.retry_config == before.retry_config
