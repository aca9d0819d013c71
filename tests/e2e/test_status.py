"""``bridge status`` and ``bridge queues`` on the whole local stack, run as an operator runs them
(``python -m bridge`` with the function's variables): a message published to the topic, pushed
to main.py, made a task, dispatched to the worker, then looked up by its key.

Covered: a pending task and its queue, a retrying task with its last response, a completed one,
an unkeyed message found by its id, a key never published, a rejected message found without being
consumed and replayed once its cause is fixed, a dead-lettered message found where Pub/Sub moved
it, and ``make up``'s env file as all a shell needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.stack.poll import poll_until
from bridge.stack.runner import (
    CALLER_SA,
    PROJECT_ID,
    REJECTED_SUBSCRIPTION,
    REPO_ROOT,
    SERVICE_BY_NAME,
    Stack,
)
from bridge.stack.worker import Received
from tests.e2e.conftest import E2E_POLICY, delivered_once, log_line, queue_path

pytestmark = pytest.mark.e2e


Report = tuple[int, dict[str, Any]]


def status(stack: Stack, *args: str) -> Report:
    """``bridge status ARGS --json``: its exit code and report."""
    ran = stack.bridge_command("status", *args, "--json")
    assert ran.stdout, ran.stderr
    report: dict[str, Any] = json.loads(ran.stdout)
    assert report["exit_code"] == ran.returncode
    return ran.returncode, report


def status_when(
    stack: Stack, *args: str, ready: Callable[[Report], bool], what: str, timeout_s: float
) -> Report:
    """Run ``bridge status`` until its answer is ``ready``; that answer."""
    last: list[Report] = []

    def check() -> bool:
        last[:] = [status(stack, *args)]
        return ready(last[0])

    poll_until(check, what=what, timeout_s=timeout_s, interval_s=0.2)
    return last[0]


def found(answer: Report) -> bool:
    """Exit 4: found in the rejected or dead-letter subscription."""
    return answer[0] == 4


def keyed(key: str) -> Any:
    return lambda r: r.header("X-Idempotency-Key") == key


def test_a_pending_task_and_its_queue(stack: Stack, unique: str) -> None:
    key = f"status-pending-{unique}"
    service = SERVICE_BY_NAME["testimonios"]
    published_at = datetime.now(UTC)
    message_id = stack.publish_envelope(
        {"service": "testimonios", "payload": {"n": unique}, "idempotency_key": key, "delay_s": 60}
    )
    task = log_line(stack, message_id)["task"]

    code, report = status(stack, "--service", "testimonios", "--key", key)

    assert code == 0
    assert report["task"] == task  # the name the function gave it, derived again by the CLI
    assert (report["found"], report["state"]) == (True, "scheduled")
    assert report["queue"] == service.queue_path
    scheduled = datetime.fromisoformat(report["schedule_time"])
    assert published_at + timedelta(seconds=55) < scheduled < published_at + timedelta(seconds=70)
    assert report["detail"] == f"scheduled for {report['schedule_time']}"
    assert report["url"] == stack.worker_url(service)
    assert report["identity"] == CALLER_SA
    assert report["deadline_s"] == service.deadline_s
    assert report["dispatch_count"] == 0
    table = stack.bridge_command("status", "--service", "testimonios", "--key", key)
    assert table.returncode == 0
    assert f"scheduled for {report['schedule_time']}" in table.stdout
    assert "body" not in report  # personal data: only with --show-body
    _, full = status(stack, "--task", task, "--show-body")
    assert json.loads(full["body"]) == {"n": unique}

    ran = stack.bridge_command("queues", "--json")
    assert ran.returncode == 3, ran.stderr  # limbo's queue was never created: said, the others read
    queues = json.loads(ran.stdout)
    assert set(queues) >= set(SERVICE_BY_NAME)
    assert queues["limbo"]["state"] == "MISSING"
    testimonios = queues["testimonios"]
    assert testimonios["queue"] == service.queue_path
    assert testimonios["state"] == "RUNNING"
    assert testimonios["tasks"] >= 1  # this one, at least: it waits 60 s
    assert testimonios["counting_stopped"] is False
    assert testimonios["min_backoff_s"] == E2E_POLICY.min_backoff_s
    assert testimonios["max_backoff_s"] == E2E_POLICY.max_backoff_s
    assert testimonios["max_attempts"] == E2E_POLICY.max_attempts
    counted = stack.bridge_command("queues", "--max-count", "1")
    assert counted.returncode == 3, counted.stderr
    lines = counted.stdout.splitlines()
    assert lines[0] == f"queues in {service.queue_path.rsplit('/queues/', 1)[0]}"
    [line] = [x for x in lines if x.startswith("testimonios ")]
    assert f" {service.queue_id} " in line
    assert "RUNNING" in line


def test_a_retrying_task_shows_its_last_response_then_completes(stack: Stack, unique: str) -> None:
    key = f"status-retry-{unique}"
    failures = 6  # backoffs 0.5, 1, 2, 4, 4 s: several windows to see it waiting
    stack.worker.fail_first(key, attempts=failures)
    stack.publish_envelope({"service": "brain", "payload": {"n": unique}, "idempotency_key": key})
    stack.worker.wait_for(keyed(key), timeout_s=20)
    look = ["--service", "brain", "--key", key]
    _, report = status_when(
        stack,
        *look,
        ready=lambda answer: answer[1].get("state") == "retrying",
        what=f"task for {key} to be retrying",
        timeout_s=30,
    )
    assert report["dispatch_count"] >= 1
    assert report["last_response"]["code"] == 14  # google.rpc.Code UNAVAILABLE: the worker's 503
    assert f"attempt {report['dispatch_count'] + 1} scheduled for" in report["detail"]
    assert "last response UNAVAILABLE (14) '503 Service Unavailable'" in report["detail"]

    accepted = delivered_once(stack, keyed(key), timeout_s=40)
    assert accepted.header("X-CloudTasks-TaskRetryCount") == str(failures)
    code, report = status_when(
        stack,
        *look,
        ready=lambda answer: not answer[1]["found"],
        what=f"task for {key} to be done",
        timeout_s=10,
    )
    assert code == 0
    assert report["not_found"] == "recently"
    assert "will NOT run" in report["detail"]


def test_an_unkeyed_message_is_found_by_its_message_id(stack: Stack, unique: str) -> None:
    message_id = stack.publish_envelope(
        {"service": "regresos", "payload": {"n": unique}, "delay_s": 60}
    )
    task = log_line(stack, message_id)["task"]
    code, report = status(stack, "--service", "regresos", "--message-id", message_id)
    assert code == 0
    assert (report["task"], report["state"]) == (task, "scheduled")
    assert report["deadline_s"] == SERVICE_BY_NAME["regresos"].deadline_s


def test_the_stacks_env_file_is_all_a_shell_needs(stack: Stack) -> None:
    """``make up`` prints ``. <state>/bridge.env`` before ``bridge status``: nothing else."""
    done = subprocess.run(
        [
            "bash",
            "-c",
            '. "$0" && exec "$1" -m bridge queues --json',
            stack.env_file,
            sys.executable,
        ],
        env={"PATH": os.environ["PATH"]},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr  # limbo's queue is missing: the rest were read
    queues = json.loads(done.stdout)
    assert queues["brain"]["state"] == "RUNNING"
    assert queues["limbo"]["state"] == "MISSING"


def test_a_key_never_published_is_not_found(stack: Stack, unique: str) -> None:
    ran = stack.bridge_command("status", "--service", "regresos", "--key", f"never-{unique}")
    assert ran.returncode == 3, ran.stderr
    assert "not found (never seen)" in ran.stdout
    code, report = status(stack, "--service", "regresos", "--key", f"never-{unique}")
    assert (code, report["not_found"]) == (3, "never")
    assert "creates it" in report["detail"]


def configure_service(stack: Stack, name: str, suffix: str) -> None:
    """Deploy a new service's configuration: its queue, its variables, the function restarted."""
    queue_id = f"queue-{name}"
    stack.require_tasks().ensure_queue(queue_path(queue_id), E2E_POLICY)
    services = stack.function_env()["BRIDGE_SERVICES"]
    stack.extra_env.update(
        {
            "BRIDGE_SERVICES": f"{services},{name}:{suffix}",
            f"QUEUE_{suffix}": queue_id,
            f"URL_{suffix}": stack.worker.url(f"/{name}"),
        }
    )
    stack.restart_function()


def test_a_rejected_message_is_found_without_consuming_it_then_replayed(
    stack: Stack, unique: str
) -> None:
    """``archivo`` is not configured yet: its messages are rejected as unknown_service. The
    test configures it (it stays so for later tests: a new service harms none of them)."""
    archivo = "archivo"
    key = f"status-rejected-{unique}"
    message_id = stack.publish_envelope(
        {"service": archivo, "payload": {"n": unique}, "idempotency_key": key}
    )
    assert log_line(stack, message_id)["outcome"] == "rejected"
    look = ["--service", archivo, "--key", key, "--look-in", "rejected,dead-letter"]
    _, report = status_when(
        stack, *look, ready=found, what="the rejection in the operator subscription", timeout_s=20
    )
    assert (report["task"], report["not_found"]) == (None, "unconfigured")
    [rejection] = report["look_in"]["found"]
    assert (rejection["in"], rejection["reason"]) == ("rejected", "unknown_service")
    assert f"unknown service {archivo!r}" in rejection["error"]
    rejection_id = rejection["message_id"]

    # Not consumed: found again, and `bridge replay` lists it.
    again_code, again = status(stack, *look)
    assert again_code == 4
    assert [f["message_id"] for f in again["look_in"]["found"]] == [rejection_id]
    replay = ["replay", "--subscription", REJECTED_SUBSCRIPTION, "--project", PROJECT_ID]
    listing = stack.bridge_command(*replay)
    assert listing.returncode == 0, listing.stderr
    assert rejection_id in listing.stdout

    # The operator fixes the cause, then replays: the request runs once, as its original.
    configure_service(stack, archivo, "ARCHIVO")
    replayed = stack.bridge_command(*replay, "--message-id", message_id)
    assert replayed.returncode == 0, replayed.stderr
    assert "republished 1" in replayed.stderr
    request: Received = delivered_once(stack, keyed(key), timeout_s=30)
    assert request.path == f"/{archivo}"
    assert request.json() == {"n": unique}
    code, after = status(stack, *look)
    assert code == 0  # the task ran (recently); nothing left in the operator subscriptions
    assert (after["found"], after["not_found"]) == (False, "recently")
    assert after["look_in"]["found"] == []


def test_a_dead_lettered_message_is_found_where_pubsub_moved_it(stack: Stack, unique: str) -> None:
    """``limbo``'s queue does not exist: the bridge retries until Pub/Sub dead-letters it."""
    topic, dead = f"status-{unique}", f"status-{unique}-dead"
    stack.pubsub.create_topic(topic)
    stack.pubsub.create_topic(dead)
    stack.pubsub.create_subscription(f"{dead}-operator", topic_id=dead)
    stack.add_push_subscription(f"status-{unique}-push", topic_id=topic, dead_letter=(dead, 5))
    key = f"status-dead-{unique}"
    try:
        stack.publish_envelope(
            {"service": "limbo", "payload": {"n": unique}, "idempotency_key": key}, topic_id=topic
        )
        look = [
            "--service",
            "limbo",
            "--key",
            key,
            "--look-in",
            "dead-letter",
            "--dead-letter-subscription",
            f"{dead}-operator",
        ]
        _, report = status_when(
            stack,
            *look,
            ready=found,
            what="the message in the dead-letter subscription",
            timeout_s=60,
        )
        assert report["not_found"] == "no_queue"
        assert "does not exist" in report["detail"]
        [dead_lettered] = report["look_in"]["found"]
        assert (dead_lettered["in"], dead_lettered["reason"]) == ("dead-letter", "dead_lettered")
        assert len(stack.pubsub.pull(f"{dead}-operator")) == 1  # still there
    finally:
        stack.pubsub.delete_subscription(f"status-{unique}-push")
        stack.pubsub.delete_subscription(f"{dead}-operator")
        stack.pubsub.delete_topic(dead)
        stack.pubsub.delete_topic(topic)
