"""The walk of one message from ``main.enqueue`` enters the rejection sink only to reject it.

Every Python function the real ``main.py`` (served by functions-framework) calls while it
handles one request is recorded with ``sys.setprofile``; only the two network edges are fakes.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

from google.api_core import exceptions as core_exceptions

import bridge.rejections
import bridge.wrapped
from bridge.wrapped import wrap
from tests import test_main_contract as contract
from tests.conftest import push_body
from tests.test_main_contract import ENVELOPE, Client, FakePublisher, FakeTasksClient, ce_headers

SINK = Path(bridge.rejections.__file__).resolve()
WRAPPED = Path(bridge.wrapped.__file__).resolve()


@contextmanager
def files_entered() -> Iterator[set[Path]]:
    """The source files of every Python function called inside the block (in any thread started
    meanwhile, too: the test client serves the ASGI app from one of its own)."""
    seen: set[str] = set()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event == "call":
            seen.add(frame.f_code.co_filename)

    entered: set[Path] = set()
    sys.setprofile(profile)
    threading.setprofile(profile)
    try:
        yield entered
    finally:
        threading.setprofile(None)
        sys.setprofile(None)
        entered.update(Path(name).resolve() for name in seen if not name.startswith("<"))


# The contract tests' fixtures (the real main.py; fake Cloud Tasks client and publisher), reused.
tasks = contract.tasks
publisher = contract.publisher
function = contract.function


def walk(function: Client, body: dict[str, Any]) -> set[Path]:
    with files_entered() as entered:
        assert function.post("/", headers=ce_headers(), json=body).status_code == 200
    return entered


def test_a_task_created_never_enters_the_sink(
    function: Client, tasks: FakeTasksClient, publisher: FakePublisher
) -> None:
    entered = walk(function, push_body(ENVELOPE))
    assert len(tasks.requests) == 1
    assert publisher.published == []
    assert SINK not in entered
    assert WRAPPED in entered  # the probe sees the modules of the walk: the wrapped check is one


def test_a_wrapped_replay_is_unwrapped_without_entering_the_sink(
    function: Client, tasks: FakeTasksClient, publisher: FakePublisher
) -> None:
    data = wrap(json.dumps(ENVELOPE).encode(), {"bridge_origin_message_id": "4343"})
    entered = walk(function, push_body(data.decode(), attributes={"bridge_wrapped": "true"}))
    (request,) = tasks.requests
    assert json.loads(request.task.http_request.body) == ENVELOPE["payload"]  # the inner message
    assert publisher.published == []
    assert SINK not in entered


def test_a_duplicate_never_enters_the_sink(
    function: Client, tasks: FakeTasksClient, publisher: FakePublisher
) -> None:
    tasks.errors.append(core_exceptions.AlreadyExists("task exists"))
    entered = walk(function, push_body(ENVELOPE))
    assert len(tasks.requests) == 1
    assert publisher.published == []
    assert SINK not in entered


def test_a_rejected_message_does_enter_the_sink(
    function: Client, tasks: FakeTasksClient, publisher: FakePublisher
) -> None:
    entered = walk(function, push_body("{not json"))
    assert tasks.requests == []
    (_, _, attributes) = publisher.published[0]
    assert attributes["bridge_reason"] == "bad_json"
    assert SINK in entered  # the control: the probe would see the sink if the walk entered it
