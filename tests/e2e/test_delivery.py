"""Through the real chain: Pub/Sub emulator -> functions-framework (main.py) -> Cloud Tasks
emulator -> recording worker. What the worker receives, and when."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from bridge.stack import procs
from bridge.stack.runner import CALLER_SA, SERVICE_BY_NAME, SERVICES, Stack
from bridge.stack.worker import Received
from tests.e2e.conftest import wait_for

pytestmark = pytest.mark.e2e

TASK_ID = re.compile(r"[0-9a-f]{64}")


def payload_for(service: str, unique: str) -> dict[str, Any]:
    return {
        "case_id": f"CASE-{unique}",
        "nota": "Declaración de la señora Núñez: «sí», 日本語, emoji 🧾",
        "service_seen": service,
        "nested": {"row": 359, "ok": True, "none": None},
    }


def received_for(stack: Stack, message_id: str, *, timeout_s: float = 20.0) -> Received:
    [request] = stack.worker.wait_for(
        lambda r: r.header("X-Pubsub-Message-Id") == message_id, timeout_s=timeout_s
    )
    return request


def assert_task_request(
    request: Received, *, path: str, payload: dict[str, Any], key: str, message_id: str
) -> None:
    assert request.method == "POST"
    assert request.path == path
    assert request.header("Content-Type") == "application/json"
    assert request.header("X-Idempotency-Key") == key
    assert request.header("X-Pubsub-Message-Id") == message_id
    assert TASK_ID.fullmatch(request.header("X-CloudTasks-TaskName") or "")
    assert request.json() == payload  # the payload, untouched: no envelope around it
    assert "Núñez" in request.body.decode("utf-8")  # valid UTF-8, the text intact


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_envelope_mode_reaches_the_right_worker(stack: Stack, unique: str, service: str) -> None:
    payload = payload_for(service, unique)
    key = f"e2e-{service}-{unique}"
    message_id = stack.publish_envelope(
        {"service": service, "payload": payload, "idempotency_key": key}
    )

    request = received_for(stack, message_id)

    target = SERVICE_BY_NAME[service]
    assert_task_request(request, path=target.path, payload=payload, key=key, message_id=message_id)
    queue_header = request.header("X-CloudTasks-QueueName") or ""
    assert queue_header.endswith(f"/queues/{target.queue_id}")  # the emulator sends the full path
    [entry] = [e for e in stack.function_log() if e.get("message_id") == message_id]
    assert entry["outcome"] == "created"
    assert entry["queue"] == target.queue_id
    assert entry["task"].endswith(f"/tasks/{request.header('X-CloudTasks-TaskName')}")


def test_envelope_without_key_uses_the_message_id(stack: Stack, unique: str) -> None:
    payload = payload_for("brain", unique)
    message_id = stack.publish_envelope({"service": "brain", "payload": payload})

    request = received_for(stack, message_id)

    assert_task_request(
        request, path="/process", payload=payload, key=message_id, message_id=message_id
    )


def test_attribute_mode_reaches_the_right_worker(stack: Stack, unique: str) -> None:
    payload = payload_for("regresos", unique)
    key = f"e2e-attr-{unique}"
    message_id = stack.publish_attributes(payload, service="regresos", idempotency_key=key)

    request = received_for(stack, message_id)

    assert_task_request(
        request,
        path=SERVICE_BY_NAME["regresos"].path,
        payload=payload,
        key=key,
        message_id=message_id,
    )


def test_task_carries_oidc_identity_deadline_and_name(stack: Stack, unique: str) -> None:
    """The emulator does not send the OIDC token nor enforce the deadline, but it stores both:
    read them back from a paused queue."""
    service = SERVICE_BY_NAME["transcripciones"]
    tasks = stack.require_tasks()
    tasks.pause(service.queue_path)
    try:
        key = f"e2e-oidc-{unique}"
        message_id = stack.publish_envelope(
            {"service": service.name, "payload": {"n": unique}, "idempotency_key": key}
        )
        wait_for(
            lambda: "created" in stack.outcomes(message_id),
            what="the bridge to create the task",
            timeout_s=20,
        )
        [entry] = [e for e in stack.function_log() if e.get("message_id") == message_id]
        [task] = [t for t in tasks.list_tasks(service.queue_path) if t.name == entry["task"]]
    finally:
        tasks.purge(service.queue_path)
        tasks.resume(service.queue_path)

    assert task.name.startswith(f"{service.queue_path}/tasks/")
    assert TASK_ID.fullmatch(task.name.rsplit("/", 1)[-1])
    request = task.http_request
    assert request.url == stack.worker.url(service.path)
    assert request.oidc_token.service_account_email == CALLER_SA
    assert request.oidc_token.audience == stack.worker.url("")  # the URL's origin by default
    assert int(task.dispatch_deadline.total_seconds()) == service.deadline_s
    assert request.headers["X-Idempotency-Key"] == key


def test_delay_is_honoured(stack: Stack, unique: str) -> None:
    delay_s = 3
    before = time.time()
    delayed = stack.publish_envelope(
        {"service": "testimonios", "payload": {"n": unique}, "delay_s": delay_s}
    )
    prompt = stack.publish_envelope({"service": "testimonios", "payload": {"n": unique}})

    prompt_request = received_for(stack, prompt)
    delayed_request = received_for(stack, delayed, timeout_s=delay_s + 20)

    # scheduled at publish time + delay_s; publish time is after `before`
    assert delayed_request.received_at >= before + delay_s - 0.01
    assert delayed_request.received_at < before + delay_s + 15
    assert prompt_request.received_at < delayed_request.received_at
    assert prompt_request.received_at < before + delay_s


def test_every_server_listens_on_loopback_only(stack: Stack) -> None:
    loopback = {
        "0100007F",  # 127.0.0.1
        "00000000000000000000000001000000",  # ::1
        "0000000000000000FFFF00000100007F",  # ::ffff:127.0.0.1
    }
    for port in (stack.pubsub_port, stack.tasks_port, stack.function_port, stack.worker.port):
        addresses = procs.listening_addresses(port)
        assert addresses, f"nothing listens on {port}"
        assert addresses <= loopback, f"port {port} listens on {addresses}"
