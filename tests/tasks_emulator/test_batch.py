"""BatchCreateTasks / BatchDeleteTasks and the Operations calls, through the official client over
gRPC and REST: each request gets CreateTask's / DeleteTask's own rules, failures by index, the
batch's limits, request_id, and ``operation.result()`` whether or not the operation is done."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from tests.tasks_emulator.conftest import PARENT, new_queue_name

URL = "http://127.0.0.1:9/never"  # nothing is dispatched: every queue here is paused
Create = tasks_v2.BatchCreateTasksMetadata.State
Delete = tasks_v2.BatchDeleteTasksMetadata.State
ALREADY_EXISTS, NOT_FOUND, INVALID_ARGUMENT, ABORTED = 6, 5, 3, 10


@pytest.fixture
def queue(client: Any) -> str:
    name = new_queue_name()
    client.create_queue(parent=PARENT, queue={"name": name})
    client.pause_queue(name=name)
    return name


def _create(queue: str, task_id: str | None = None, **http: Any) -> tasks_v2.CreateTaskRequest:
    task: dict[str, Any] = {"http_request": {"url": URL, **http}}
    if task_id is not None:
        task["name"] = f"{queue}/tasks/{task_id}"
    return tasks_v2.CreateTaskRequest(parent=queue, task=task)


def _task_ids(client: Any, queue: str) -> list[str]:
    return sorted(task.name.rsplit("/", 1)[1] for task in client.list_tasks(parent=queue))


def test_a_batch_creates_every_task_and_result_waits_for_the_running_operation(
    client: Any, queue: str
) -> None:
    operation = client.batch_create_tasks(
        parent=queue, requests=[_create(queue, f"t{i}", body=b"x") for i in range(3)]
    )
    # As returned by the call the operation is still running: result() has to poll it.
    assert operation.operation.done is False
    assert operation.operation.name.startswith(f"{PARENT}/operations/")
    assert operation.metadata.state == Create.RUNNING
    response = operation.result(timeout=30)
    assert [task.name.rsplit("/", 1)[1] for task in response.tasks] == ["t0", "t1", "t2"]
    assert all(task.view == tasks_v2.Task.View.BASIC for task in response.tasks)
    assert operation.metadata.state == Create.SUCCEEDED
    assert dict(operation.metadata.failed_requests) == {}
    assert operation.metadata.end_time >= operation.metadata.start_time
    assert _task_ids(client, queue) == ["t0", "t1", "t2"]
    got = client.get_task(request={"name": f"{queue}/tasks/t1", "response_view": "FULL"})
    assert got.http_request.body == b"x"


def test_each_request_gets_create_tasks_rules_and_failures_are_by_index(
    client: Any, queue: str
) -> None:
    client.create_task(parent=queue, task=_create(queue, "taken").task)
    operation = client.batch_create_tasks(
        parent=queue,
        requests=[
            _create(queue, "taken"),  # a live name: ALREADY_EXISTS
            _create(queue, "fine"),
            _create(queue, "bad id!"),  # not a task id
            _create(queue, url="ftp://x/"),  # not an http(s) URL
            _create(queue),  # unnamed: a generated id
        ],
    )
    response = operation.result(timeout=30)
    failed = dict(operation.metadata.failed_requests)
    assert sorted(failed) == [0, 2, 3]
    assert failed[0].code == ALREADY_EXISTS
    assert failed[0].message == "Requested entity already exists"
    assert failed[2].code == INVALID_ARGUMENT
    assert 'Task ID "bad id!" can contain only letters' in failed[2].message
    assert failed[3].code == INVALID_ARGUMENT
    assert "task.http_request.url" in failed[3].message
    assert operation.metadata.state == Create.PARTIALLY_SUCCEEDED
    created = [task.name.rsplit("/", 1)[1] for task in response.tasks]
    assert created[0] == "fine"
    assert len(created) == 2
    assert created[1].isdigit()
    assert _task_ids(client, queue) == sorted(["taken", *created])


def test_a_batch_where_nothing_succeeds_ends_aborted_with_every_failure(
    client: Any, queue: str
) -> None:
    operation = client.batch_create_tasks(
        parent=queue, requests=[_create(queue, "a", url="nope"), _create(queue, "b", url="")]
    )
    with pytest.raises(exceptions.Aborted) as caught:
        operation.result(timeout=30)
    assert "None of the requests succeeded" in caught.value.message
    assert sorted(operation.metadata.failed_requests) == [0, 1]
    assert operation.metadata.state == Create.PARTIALLY_SUCCEEDED
    assert _task_ids(client, queue) == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda q: [_create(q, f"t{i}") for i in range(101)], "the maximum is 100"),
        (lambda q: [], "at least one"),
        (lambda q: [_create(q, "a"), _create(f"{q}x", "b")], "every request of a batch"),
    ],
    ids=["101-requests", "none", "another-queue"],
)
def test_the_batch_limits_are_invalid_argument(
    client: Any, queue: str, make: Any, message: str
) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        client.batch_create_tasks(parent=queue, requests=make(queue))
    assert message in caught.value.message
    assert _task_ids(client, queue) == []


def test_a_batch_of_100_is_accepted(client: Any, queue: str) -> None:
    operation = client.batch_create_tasks(
        parent=queue, requests=[_create(queue, f"t{i:03}") for i in range(100)]
    )
    assert len(operation.result(timeout=30).tasks) == 100


def test_a_batch_into_a_missing_queue_is_not_found(client: Any) -> None:
    queue = new_queue_name()
    with pytest.raises(exceptions.NotFound):
        client.batch_create_tasks(parent=queue, requests=[_create(queue, "a")])


def test_a_retried_request_id_is_the_same_operation_and_creates_nothing_twice(
    client: Any, queue: str
) -> None:
    request = tasks_v2.BatchCreateTasksRequest(
        parent=queue, requests=[_create(queue, "once"), _create(queue)], request_id="retry-1"
    )
    first = client.batch_create_tasks(request=request)
    first_tasks = first.result(timeout=30).tasks
    again = client.batch_create_tasks(request=request)
    assert again.operation.name == first.operation.name
    # Already done when it comes back: result() answers without polling.
    assert again.operation.done is True
    assert [t.name for t in again.result(timeout=5).tasks] == [t.name for t in first_tasks]
    assert dict(again.metadata.failed_requests) == {}
    assert len(_task_ids(client, queue)) == 2
    other = client.batch_create_tasks(
        request={"parent": queue, "requests": [_create(queue)], "request_id": "retry-2"}
    )
    assert other.operation.name != first.operation.name


def test_batch_delete_deletes_reports_missing_by_index_and_names_stay_reserved(
    client: Any, queue: str
) -> None:
    client.batch_create_tasks(
        parent=queue, requests=[_create(queue, "d0"), _create(queue, "d1")]
    ).result(timeout=30)
    operation = client.batch_delete_tasks(
        parent=queue, names=[f"{queue}/tasks/d0", f"{queue}/tasks/never", f"{queue}/tasks/d1"]
    )
    operation.result(timeout=30)
    failed = dict(operation.metadata.failed_requests)
    assert sorted(failed) == [1]
    assert (failed[1].code, failed[1].message) == (NOT_FOUND, "Requested entity was not found.")
    assert operation.metadata.state == Delete.PARTIALLY_SUCCEEDED
    assert _task_ids(client, queue) == []
    with pytest.raises(exceptions.NotFound) as caught:
        client.get_task(name=f"{queue}/tasks/d0")
    assert "existed recently" in caught.value.message
    recreate = client.batch_create_tasks(parent=queue, requests=[_create(queue, "d0")])
    with pytest.raises(exceptions.Aborted):
        recreate.result(timeout=30)
    assert recreate.metadata.failed_requests[0].code == ALREADY_EXISTS


def test_batch_delete_of_everything_succeeds(client: Any, queue: str) -> None:
    client.batch_create_tasks(
        parent=queue, requests=[_create(queue, f"e{i}") for i in range(5)]
    ).result(timeout=30)
    operation = client.batch_delete_tasks(
        parent=queue, names=[f"{queue}/tasks/e{i}" for i in range(5)]
    )
    operation.result(timeout=30)
    assert operation.metadata.state == Delete.SUCCEEDED
    assert _task_ids(client, queue) == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda q: [f"{q}/tasks/t{i}" for i in range(1001)], "the maximum is 1000"),
        (lambda q: [], "at least one"),
        (lambda q: [f"{q}x/tasks/t"], "every task of a batch"),
        (lambda q: ["tasks/t"], "must be of the form"),
    ],
    ids=["1001-names", "none", "another-queue", "not-a-name"],
)
def test_the_batch_delete_limits_are_invalid_argument(
    client: Any, queue: str, make: Any, message: str
) -> None:
    client.create_task(parent=queue, task=_create(queue, "t0").task)
    with pytest.raises(exceptions.BadRequest) as caught:
        client.batch_delete_tasks(parent=queue, names=make(queue))
    assert message in caught.value.message
    assert _task_ids(client, queue) == ["t0"]


def test_the_operations_calls(client: Any, queue: str) -> None:
    operation = client.batch_create_tasks(parent=queue, requests=[_create(queue, "op")])
    operation.result(timeout=30)
    name = operation.operation.name
    got = client.get_operation(request={"name": name})
    assert got.done is True
    assert got.name == name
    operations = client._transport.operations_client
    listed = [op.name for op in operations.list_operations(name=PARENT, filter_="")]
    assert name in listed
    operations.cancel_operation(name=name)  # best effort: it is done already
    operations.delete_operation(name=name)
    with pytest.raises(exceptions.NotFound):
        client.get_operation(request={"name": name})
    with pytest.raises(exceptions.NotFound):
        client.get_operation(request={"name": f"{PARENT}/operations/unknown"})
    # Over REST the client itself refuses a name outside the path template (ValueError).
    with pytest.raises((exceptions.BadRequest, ValueError)):
        client.get_operation(request={"name": "operations/x"})
