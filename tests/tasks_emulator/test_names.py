"""Resource names: production's forms and messages."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks_emulator import names
from tasks_emulator.errors import ApiError

QUEUE = "projects/p/locations/us-central1/queues/q-1"


def test_a_task_name_parses_into_its_parts() -> None:
    task = names.parse_task_name(f"{QUEUE}/tasks/A_b-9", field="name")
    assert task.task_id == "A_b-9"
    assert task.queue == names.QueueName(project="p", location="us-central1", queue_id="q-1")
    assert task.path == f"{QUEUE}/tasks/A_b-9"
    assert task.queue.parent == "projects/p/locations/us-central1"


@pytest.mark.parametrize("task_id", ["x y", "", "a" * 501, "é", "a.b"])
def test_bad_task_ids_get_productions_message(task_id: str) -> None:
    with pytest.raises(ApiError) as caught:
        names.parse_task_name(f"{QUEUE}/tasks/{task_id}", field="name")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.message == (
        f'Task ID "{task_id}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens '
        "(-), or underscores (_). Task ID must between 1 and 500 characters."
    )


def test_a_500_character_id_is_fine() -> None:
    assert names.parse_task_name(f"{QUEUE}/tasks/{'a' * 500}", field="name").task_id == "a" * 500


def test_a_task_of_another_queue_gets_productions_message() -> None:
    parent = names.parse_queue_name(QUEUE, field="parent")
    other = QUEUE.replace("q-1", "q-2")
    with pytest.raises(ApiError) as caught:
        names.task_in_queue(f"{other}/tasks/t", parent=parent)
    assert caught.value.message == (
        "The queue name from request ('q-1') must be the same as the queue name in the named "
        "task ('q-2')."
    )


@pytest.mark.parametrize(
    "name",
    [
        "q",
        "projects/p/locations/l/queues/",
        "projects/p/locations/l/queues/under_score",
        "projects/p/locations/l/queues/" + "a" * 101,
        "projects/p/queues/q",
        "projects/p q/locations/l/queues/q",
    ],
)
def test_bad_queue_names_are_invalid_and_name_the_field(name: str) -> None:
    with pytest.raises(ApiError, match=r"queue\.name|Queue ID") as caught:
        names.parse_queue_name(name, field="queue.name")
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_a_short_task_name_is_invalid() -> None:
    with pytest.raises(ApiError, match=r"task\.name must be of the form"):
        names.task_in_queue("just-an-id", parent=names.parse_queue_name(QUEUE, field="parent"))


def test_generated_ids_are_valid_and_distinct() -> None:
    ids = {names.generated_task_id() for _ in range(1000)}
    assert len(ids) == 1000
    for task_id in ids:
        names.check_task_id(task_id)


@given(st.text(max_size=700))
def test_any_text_is_a_task_name_or_invalid_argument(name: str) -> None:
    try:
        assert names.parse_task_name(name, field="name").path == name
    except ApiError as e:
        error = e
    else:
        return
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in error.message or "Task ID" in error.message or "Queue ID" in error.message


@given(st.from_regex(r"[A-Za-z0-9_-]{1,500}", fullmatch=True))
def test_every_valid_task_id_parses(task_id: str) -> None:
    assert names.parse_task_name(f"{QUEUE}/tasks/{task_id}", field="name").task_id == task_id
