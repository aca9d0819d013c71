"""``bridge.cli.tasks_reader``: what a NOT_FOUND means, and Cloud Tasks' errors as the CLI's.

Production's own words (googleapis cloudtasks.proto, as Cloud Tasks answers GetTask) are spelled
out here, not taken from the code under test. The real emulator is in test_status / test_queues.
"""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions as core_exceptions
from google.cloud import tasks_v2

from bridge.cli.exits import EXIT_DENIED, EXIT_FAILED, UserError
from bridge.cli.tasks_reader import TasksReader
from bridge.gateway import is_reserved

NAME = "projects/p/locations/l/queues/q/tasks/abc"
RESERVED_WORDS = (
    "The task no longer exists, though a task with this name existed recently. The task either "
    "successfully completed or was deleted."
)
NOT_FOUND_WORDS = "Requested entity was not found."
NO_QUEUE_WORDS = (
    "Queue does not exist. If you just created the queue, wait at least a minute for the queue "
    "to initialize."
)


class ScriptedClient:
    """Answers GetTask / GetQueue / ListTasks with the error given, or a value."""

    def __init__(
        self, *, task_error: Exception | None = None, queue_error: Exception | None = None
    ) -> None:
        self.task_error, self.queue_error = task_error, queue_error
        self.calls: list[str] = []

    def get_task(self, *, request: Any, timeout: float) -> Any:
        self.calls.append("GetTask")
        if self.task_error:
            raise self.task_error
        return tasks_v2.Task(name=request["name"])

    def get_queue(self, *, name: str, timeout: float) -> Any:
        self.calls.append("GetQueue")
        if self.queue_error:
            raise self.queue_error
        return tasks_v2.Queue(name=name, state=tasks_v2.Queue.State.PAUSED)

    def list_tasks(self, *, request: Any, timeout: float) -> Any:
        self.calls.append("ListTasks")
        if self.queue_error:
            raise self.queue_error
        return tasks_v2.ListTasksResponse(tasks=[tasks_v2.Task(name=NAME)] * 2)


@pytest.mark.parametrize(
    ("error", "name_taken", "reserved"),
    [
        (core_exceptions.NotFound(RESERVED_WORDS), False, True),
        (core_exceptions.NotFound(NOT_FOUND_WORDS), False, False),
        (core_exceptions.NotFound(NOT_FOUND_WORDS), True, True),  # CreateTask just found it taken
        (core_exceptions.PermissionDenied("no cloudtasks.tasks.get"), True, False),
        (core_exceptions.ServiceUnavailable(RESERVED_WORDS), False, False),
    ],
)
def test_one_rule_says_whether_a_name_is_reserved(
    error: core_exceptions.GoogleAPIError, name_taken: bool, reserved: bool
) -> None:
    assert is_reserved(error, name_taken=name_taken) is reserved


@pytest.mark.parametrize(
    ("client", "gone", "calls"),
    [
        (ScriptedClient(), None, ["GetTask"]),
        (
            ScriptedClient(task_error=core_exceptions.NotFound(RESERVED_WORDS)),
            "recently",
            ["GetTask"],
        ),
        (
            ScriptedClient(task_error=core_exceptions.NotFound(NOT_FOUND_WORDS)),
            "never",
            ["GetTask", "GetQueue"],
        ),
        (
            ScriptedClient(
                task_error=core_exceptions.NotFound(NOT_FOUND_WORDS),
                queue_error=core_exceptions.NotFound(NO_QUEUE_WORDS),
            ),
            "no_queue",
            ["GetTask", "GetQueue"],
        ),
    ],
)
def test_a_task_or_why_it_is_not_found(
    client: ScriptedClient, gone: str | None, calls: list[str]
) -> None:
    task, why = TasksReader(client, timeout_s=1).task(NAME, full=False)
    assert why == gone
    assert (task is None) == (gone is not None)
    assert client.calls == calls


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (core_exceptions.PermissionDenied("denied"), EXIT_DENIED),
        (core_exceptions.Unauthenticated("no credentials"), EXIT_DENIED),
        (core_exceptions.ServiceUnavailable("down"), EXIT_FAILED),
    ],
)
def test_other_errors_are_the_clis(error: Exception, code: int) -> None:
    reader = TasksReader(ScriptedClient(task_error=error, queue_error=error), timeout_s=1)
    with pytest.raises(UserError) as caught:
        reader.task(NAME, full=False)
    assert caught.value.exit_code == code
    assert caught.value.__cause__ is error
    with pytest.raises(UserError, match="ListTasks"):
        reader.count_tasks("projects/p/locations/l/queues/q", max_count=5)


def test_a_missing_queue_is_none_and_its_state_unsaid() -> None:
    missing = ScriptedClient(queue_error=core_exceptions.NotFound(NO_QUEUE_WORDS))
    reader = TasksReader(missing, timeout_s=1)
    assert reader.queue("projects/p/locations/l/queues/q") is None
    assert reader.queue_state("projects/p/locations/l/queues/q") is None
    assert TasksReader(ScriptedClient(), timeout_s=1).queue_state("q") == "PAUSED"
