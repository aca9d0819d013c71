"""BufferTask by plain HTTP, as webhooks and curl send it (no client library calls it):
POST /v2/{queue}/tasks/{taskId}:buffer (or tasks:buffer), the body is the task's body and the
queue's http_target says where it goes."""

from __future__ import annotations

from typing import Any

import requests
from google.cloud import tasks_v2

from tests.tasks_emulator.conftest import PARENT, Emulator, Worker, grpc_client, new_queue_name


def _target_queue(emulator: Emulator, worker: Worker) -> str:
    queue = new_queue_name()
    grpc_client(emulator).create_queue(
        parent=PARENT,
        queue={
            "name": queue,
            "http_target": {
                "uri_override": {
                    "scheme": tasks_v2.UriOverride.Scheme.HTTP,
                    "host": "127.0.0.1",
                    "port": int(worker.url.rsplit(":", 1)[1]),
                    "path_override": {"path": "/buffered"},
                }
            },
        },
    )
    return queue


def _buffer(emulator: Emulator, path: str, body: bytes, **headers: str) -> Any:
    return requests.post(f"{emulator.http_url}/v2/{path}", data=body, headers=headers, timeout=10)


def test_buffer_with_a_task_id_delivers_the_body_to_the_queues_target(
    emulator: Emulator, worker: Worker
) -> None:
    queue = _target_queue(emulator, worker)
    answer = _buffer(
        emulator, f"{queue}/tasks/buf-1:buffer", b'{"n": 1}', **{"Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["task"]["name"] == f"{queue}/tasks/buf-1"
    (delivery,) = worker.wait_for("buf-1", 1, timeout_s=10)
    assert (delivery.method, delivery.path, delivery.body) == ("POST", "/buffered", b'{"n": 1}')
    assert delivery.headers["Content-Type"] == "application/json"
    again = _buffer(emulator, f"{queue}/tasks/buf-1:buffer", b"again")
    assert again.status_code == 409
    assert again.json()["error"]["status"] == "ALREADY_EXISTS"


def test_buffer_without_a_task_id_generates_one(emulator: Emulator, worker: Worker) -> None:
    queue = _target_queue(emulator, worker)
    answer = _buffer(emulator, f"{queue}/tasks:buffer", b"raw bytes \xff")
    assert answer.status_code == 200, answer.text
    task_id = answer.json()["task"]["name"].rsplit("/", 1)[1]
    assert task_id.isdigit()
    (delivery,) = worker.wait_for(task_id, 1, timeout_s=10)
    assert delivery.body == b"raw bytes \xff"


def test_buffer_needs_a_queue_with_a_target_and_a_good_task_id(
    emulator: Emulator, worker: Worker
) -> None:
    queue = new_queue_name()
    grpc_client(emulator).create_queue(parent=PARENT, queue={"name": queue})
    no_target = _buffer(emulator, f"{queue}/tasks:buffer", b"x")
    assert no_target.status_code == 400
    assert no_target.json()["error"]["status"] == "FAILED_PRECONDITION"
    missing = _buffer(emulator, f"{new_queue_name()}/tasks:buffer", b"x")
    assert missing.status_code == 404
    bad_id = _buffer(emulator, f"{_target_queue(emulator, worker)}/tasks/bad.id:buffer", b"x")
    assert bad_id.status_code == 400
    assert "Task ID" in bad_id.json()["error"]["message"]
    get = requests.get(f"{emulator.http_url}/v2/{queue}/tasks:buffer", timeout=10)
    assert get.status_code == 405
