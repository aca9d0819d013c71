"""Duplicates that say why: a key re-published after its task ran is ``reserved`` (a WARNING, the
work will not run again); a key re-published while its task still waits is ``pending``."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as api_exceptions

from bridge.stack.poll import TimedOut, poll_until
from bridge.stack.runner import Stack
from tests.e2e.conftest import log_line

pytestmark = pytest.mark.e2e

NOT_AGAIN_S = 3.0  # a second delivery, if any, would arrive within this window


def test_key_republished_after_its_task_ran_is_reserved_and_does_not_run(
    stack: Stack, unique: str
) -> None:
    key = f"reserved-{unique}"
    envelope = {"service": "brain", "payload": {"n": unique}, "idempotency_key": key}

    def for_key(record: Any) -> bool:
        return bool(record.header("X-Idempotency-Key") == key)

    first = stack.publish_envelope(envelope)
    stack.worker.wait_for(lambda r: r.ok and for_key(r), timeout_s=20)
    task = str(log_line(stack, first)["task"])
    tasks = stack.require_tasks()

    def gone() -> bool:  # the emulator drops the task once the worker's 2xx reaches it
        try:
            tasks.get_task(task)
        except api_exceptions.NotFound:
            return True
        return False

    poll_until(gone, what=f"task {task} to finish", timeout_s=10)

    second = stack.publish_envelope(envelope)
    entry = log_line(stack, second)

    assert entry["outcome"] == "duplicate"
    assert entry["task_state"] == "reserved"
    assert entry["severity"] == "WARNING"
    assert "will NOT run" in entry["message"]
    assert entry["task"] == task
    with pytest.raises(TimedOut):  # no second request within the window
        stack.worker.wait_for(for_key, count=2, timeout_s=NOT_AGAIN_S)
    assert len([r for r in stack.worker.records() if for_key(r)]) == 1


def test_key_republished_while_its_task_waits_is_pending(stack: Stack, unique: str) -> None:
    key = f"pending-{unique}"
    envelope = {
        "service": "testimonios",
        "payload": {"n": unique},
        "idempotency_key": key,
        "delay_s": 30,  # still queued when the second message arrives
    }
    first = stack.publish_envelope(envelope)
    assert log_line(stack, first)["outcome"] == "created"

    entry = log_line(stack, stack.publish_envelope(envelope))

    assert entry["outcome"] == "duplicate"
    assert entry["task_state"] == "pending"
    assert entry["severity"] == "INFO"
    assert not [r for r in stack.worker.records() if r.header("X-Idempotency-Key") == key]
