"""Through the real chain: Pub/Sub emulator -> functions-framework (main.py) -> Cloud Tasks
emulator -> recording worker. What the worker receives (a verified token included), and when."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from bridge.stack import procs
from bridge.stack.poll import poll_until
from bridge.stack.runner import CALLER_SA, SERVICE_BY_NAME, SERVICES, Stack
from bridge.stack.worker import Received

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
    assert request.ok, f"the worker answered {request.status}: {request.reason}"
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
    assert request.header("User-Agent") == "Google-Cloud-Tasks"
    assert request.header("X-CloudTasks-TaskRetryCount") == "0"


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
    assert request.header("X-CloudTasks-QueueName") == target.queue_id  # the short id
    # the worker may get the task before the function has written its log line
    poll_until(lambda: bool(stack.outcomes(message_id)), what="the log line", timeout_s=10)
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


def test_the_token_verifies_for_the_caller_and_the_audience(stack: Stack, unique: str) -> None:
    """The worker verified the OIDC token with google-auth against the emulator's keys (it
    answers 401/403 otherwise): the claims are the ones Cloud Run's IAM would check."""
    service = SERVICE_BY_NAME["transcripciones"]
    message_id = stack.publish_envelope({"service": service.name, "payload": {"n": unique}})

    request = received_for(stack, message_id)

    assert (request.header("Authorization") or "").startswith("Bearer ")
    assert request.claims["email"] == CALLER_SA
    assert request.claims["email_verified"] is True
    assert request.claims["aud"] == stack.worker.url("")  # AUD unset: the URL's origin
    assert request.claims["exp"] - request.claims["iat"] == 3600


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
    eta_s = float(delayed_request.header("X-CloudTasks-TaskETA") or 0)
    assert eta_s >= before + delay_s - 0.01
    assert delayed_request.received_at >= eta_s
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
    ports = (stack.pubsub_port, stack.tasks_port, stack.tasks_http_port, stack.function_port)
    for port in (*ports, stack.worker.port):
        addresses = procs.listening_addresses(port)
        assert addresses, f"nothing listens on {port}"
        assert addresses <= loopback, f"port {port} listens on {addresses}"
