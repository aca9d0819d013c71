"""A CreateTask whose reply is lost after the commit: the bridge retries it, the retry meets
ALREADY_EXISTS, and the worker gets the task once (by its name).

The Cloud Tasks emulator injects the fault (``/_emulator/faults``): CreateTask does the work,
commits it, then answers DEADLINE_EXCEEDED or UNAVAILABLE, as production does when the reply is
lost on the way back. Every CreateTask of the stack meets it while the test runs.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from bridge.stack.poll import poll_until
from bridge.stack.runner import Stack
from tests.e2e.conftest import delivered_once

pytestmark = pytest.mark.e2e

TIMEOUT_S = 10


def _admin(stack: Stack, method: str, document: dict[str, Any] | None = None) -> Any:
    url = f"http://127.0.0.1:{stack.tasks_http_port}/_emulator/faults"
    data = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(url, data=data, method=method)
    with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
        return json.loads(answer.read())


@pytest.fixture
def faults_cleared(stack: Stack) -> Iterator[None]:
    try:
        yield
    finally:
        _admin(stack, "DELETE")


@pytest.mark.usefixtures("faults_cleared")
@pytest.mark.parametrize("code", ["DEADLINE_EXCEEDED", "UNAVAILABLE"])
def test_a_create_task_whose_reply_was_lost_reaches_the_worker_once(
    stack: Stack, unique: str, code: str
) -> None:
    _admin(stack, "PUT", {"faults": [f"CreateTask:after:{code}:1"]})
    key = f"lost-{code}-{unique}"
    message_id = stack.publish_envelope(
        {"service": "brain", "payload": {"n": unique}, "idempotency_key": key}
    )
    entries: list[dict[str, Any]] = []

    def settled() -> bool:
        entries[:] = [e for e in stack.function_log() if e.get("message_id") == message_id]
        return any(e.get("outcome") == "duplicate" for e in entries)

    poll_until(settled, what=f"the bridge's retry of {message_id} to meet its task", timeout_s=30)
    _admin(stack, "DELETE")
    # The first attempt committed the task and got the code; the redelivery found it.
    assert [e["outcome"] for e in entries] == ["retry", "duplicate"], entries
    assert code in json.dumps(entries[0])
    task_name = str(entries[1]["task"])
    task_id = task_name.rsplit("/", 1)[1]
    delivered = delivered_once(stack, lambda r: r.header("X-CloudTasks-TaskName") == task_id)
    assert delivered.header("X-Idempotency-Key") == key
    every = [r for r in stack.worker.records() if r.header("X-CloudTasks-TaskName") == task_id]
    assert every == [delivered]
    events = [e for e in _admin(stack, "GET")["events"] if e["resource"] == task_name]
    assert [e["kind"] for e in events] == [f"CreateTask:after:{code}"]
