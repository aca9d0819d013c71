"""Every RPC through the official google-cloud-tasks client, over each transport.

Production's codes and messages are those of the Cloud Tasks docs and protos. Over REST the
client raises by HTTP status (409 Conflict, 400 BadRequest); over gRPC by code (AlreadyExists is a
Conflict, FailedPrecondition and InvalidArgument are BadRequests), so each check names the class
both share and the exact message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2

from tasks_emulator import service
from tests.tasks_emulator.conftest import PARENT, new_queue_name

URL = "http://127.0.0.1:9/never"  # nothing is dispatched: every queue here is paused


# Production's words, spelled out here (googleapis cloudtasks.proto and Cloud Tasks' answers), not
# read from the emulator: a changed message in service.py must fail these tests. QUEUE_DELETED
# has no production wording on record: that one is the emulator's own (service.QUEUE_DELETED).
PRODUCTION_QUEUE_NOT_FOUND = (
    "Queue does not exist. If you just created the queue, wait at least a minute for the queue "
    "to initialize."
)
PRODUCTION_QUEUE_EXISTS = "Queue already exists"
PRODUCTION_QUEUE_RECENTLY_DELETED = (
    "The queue cannot be created because a queue with this name existed too recently."
)
PRODUCTION_TASK_EXISTS = "Requested entity already exists"
PRODUCTION_NOT_FOUND = "Requested entity was not found."
PRODUCTION_TASK_GONE = (
    "The task no longer exists, though a task with this name existed recently. The task either "
    "successfully completed or was deleted."
)


@contextmanager
def fails(kind: type[Exception], message: str) -> Iterator[None]:
    with pytest.raises(kind) as caught:
        yield
    text = getattr(caught.value, "message", str(caught.value))
    # The REST transport prefixes the method and URL: "POST http://...: <message>".
    assert text == message or text.endswith(f": {message}"), text


@pytest.fixture
def paused_queue(client: Any) -> str:
    name = new_queue_name()
    client.create_queue(parent=PARENT, queue={"name": name})
    client.pause_queue(name=name)
    return name


def _task(queue: str, task_id: str | None = None, **http: Any) -> dict[str, Any]:
    task: dict[str, Any] = {"http_request": {"url": URL, **http}}
    if task_id is not None:
        task["name"] = f"{queue}/tasks/{task_id}"
    return task


# --- queues --------------------------------------------------------------------------------------
def test_a_new_queue_has_productions_defaults(client: Any) -> None:
    name = new_queue_name()
    created = client.create_queue(parent=PARENT, queue={"name": name})
    got = client.get_queue(name=name)
    assert created == got
    assert got.state == tasks_v2.Queue.State.RUNNING
    assert got.rate_limits.max_dispatches_per_second == 500
    assert got.rate_limits.max_burst_size == 100
    assert got.rate_limits.max_concurrent_dispatches == 1000
    retry = got.retry_config
    assert retry.max_attempts == 100
    assert retry.min_backoff == dt.timedelta(seconds=0.1)
    assert retry.max_backoff == dt.timedelta(seconds=3600)
    assert retry.max_doublings == 16
    assert retry.max_retry_duration == dt.timedelta(0)


def test_create_queue_twice_already_exists(client: Any, queue_name: str) -> None:
    with fails(exceptions.Conflict, PRODUCTION_QUEUE_EXISTS):
        client.create_queue(parent=PARENT, queue={"name": queue_name})


def test_a_deleted_queue_name_cannot_be_used_again(client: Any, queue_name: str) -> None:
    client.delete_queue(name=queue_name)
    with fails(exceptions.NotFound, PRODUCTION_QUEUE_NOT_FOUND):
        client.get_queue(name=queue_name)
    with fails(exceptions.BadRequest, PRODUCTION_QUEUE_RECENTLY_DELETED):
        client.create_queue(parent=PARENT, queue={"name": queue_name})
    with fails(exceptions.BadRequest, service.QUEUE_DELETED):  # FAILED_PRECONDITION
        client.create_task(parent=queue_name, task=_task(queue_name))


@pytest.mark.parametrize("rpc", ["get_queue", "pause_queue", "resume_queue", "purge_queue"])
def test_an_unknown_queue_is_not_found(client: Any, rpc: str) -> None:
    with fails(exceptions.NotFound, PRODUCTION_QUEUE_NOT_FOUND):
        getattr(client, rpc)(name=new_queue_name())


def test_create_queue_outside_its_parent_is_invalid(client: Any) -> None:
    name = new_queue_name().replace(PARENT, "projects/other/locations/elsewhere")
    with pytest.raises(exceptions.BadRequest, match="not in the request's parent"):
        client.create_queue(parent=PARENT, queue={"name": name})


def test_list_queues_pages(client: Any) -> None:
    parent = f"projects/pager-{new_queue_name().rsplit('/', 1)[1]}/locations/l"
    created = [f"{parent}/queues/q{i}" for i in range(5)]
    for name in created:
        client.create_queue(parent=parent, queue={"name": name})
    first = client.list_queues(request={"parent": parent, "page_size": 2})
    assert [q.name for q in first.queues] == created[:2]  # the first page only
    assert [q.name for q in client.list_queues(request={"parent": parent, "page_size": 2})] == (
        created
    )
    client.pause_queue(name=created[3])
    paused = client.list_queues(request={"parent": parent, "filter": "state: PAUSED"})
    assert [q.name for q in paused] == [created[3]]


def test_update_queue_with_a_mask_changes_only_the_masked_fields(
    client: Any, queue_name: str
) -> None:
    updated = client.update_queue(
        queue={
            "name": queue_name,
            "rate_limits": {"max_dispatches_per_second": 5, "max_concurrent_dispatches": 7},
            "retry_config": {"max_attempts": 3},
        },
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits.max_dispatches_per_second"]),
    )
    assert updated.rate_limits.max_dispatches_per_second == 5
    assert updated.rate_limits.max_burst_size == 10
    assert updated.rate_limits.max_concurrent_dispatches == 1000
    assert updated.retry_config.max_attempts == 100
    assert client.get_queue(name=queue_name) == updated


def test_update_queue_without_a_mask_replaces_the_settable_fields(
    client: Any, queue_name: str
) -> None:
    client.update_queue(
        queue={"name": queue_name, "rate_limits": {"max_concurrent_dispatches": 7}},
        update_mask=field_mask_pb2.FieldMask(paths=["rate_limits"]),
    )
    client.pause_queue(name=queue_name)
    replaced = client.update_queue(
        queue={"name": queue_name, "retry_config": {"max_attempts": -1, "max_doublings": 2}}
    )
    assert replaced.rate_limits.max_concurrent_dispatches == 1000  # back to the default
    assert replaced.retry_config.max_attempts == -1
    assert replaced.retry_config.max_doublings == 2
    assert replaced.state == tasks_v2.Queue.State.PAUSED  # state is not a settable field


def test_update_queue_creates_a_missing_queue(client: Any) -> None:
    name = new_queue_name()
    created = client.update_queue(queue={"name": name})
    assert created.state == tasks_v2.Queue.State.RUNNING
    assert client.get_queue(name=name).rate_limits.max_dispatches_per_second == 500


def test_update_queue_rejects_an_output_only_mask(client: Any, queue_name: str) -> None:
    with pytest.raises(exceptions.BadRequest, match="update_mask"):
        client.update_queue(
            queue={"name": queue_name, "state": tasks_v2.Queue.State.PAUSED},
            update_mask=field_mask_pb2.FieldMask(paths=["state"]),
        )


def test_pause_and_resume(client: Any, queue_name: str) -> None:
    assert client.pause_queue(name=queue_name).state == tasks_v2.Queue.State.PAUSED
    assert client.get_queue(name=queue_name).state == tasks_v2.Queue.State.PAUSED
    assert client.resume_queue(name=queue_name).state == tasks_v2.Queue.State.RUNNING


def test_purge_deletes_the_tasks_and_reserves_their_names(client: Any, paused_queue: str) -> None:
    client.create_task(parent=paused_queue, task=_task(paused_queue, "a"))
    client.create_task(parent=paused_queue, task=_task(paused_queue))
    purged = client.purge_queue(name=paused_queue)
    assert purged.purge_time is not None
    assert list(client.list_tasks(parent=paused_queue)) == []
    with fails(exceptions.Conflict, PRODUCTION_TASK_EXISTS):
        client.create_task(parent=paused_queue, task=_task(paused_queue, "a"))
    with fails(exceptions.NotFound, PRODUCTION_TASK_GONE):
        client.get_task(name=f"{paused_queue}/tasks/a")


# --- tasks ---------------------------------------------------------------------------------------
def test_a_task_without_a_name_gets_a_generated_id(client: Any, paused_queue: str) -> None:
    first = client.create_task(parent=paused_queue, task=_task(paused_queue))
    second = client.create_task(parent=paused_queue, task=_task(paused_queue))
    assert first.name.startswith(f"{paused_queue}/tasks/")
    assert first.name != second.name
    assert client.get_task(name=first.name).name == first.name


def test_the_same_name_twice_already_exists(client: Any, paused_queue: str) -> None:
    client.create_task(parent=paused_queue, task=_task(paused_queue, "once"))
    with fails(exceptions.Conflict, PRODUCTION_TASK_EXISTS):
        client.create_task(parent=paused_queue, task=_task(paused_queue, "once"))
    assert len(list(client.list_tasks(parent=paused_queue))) == 1


def test_a_deleted_task_name_stays_reserved(client: Any, paused_queue: str) -> None:
    name = client.create_task(parent=paused_queue, task=_task(paused_queue, "gone")).name
    client.delete_task(name=name)
    with fails(exceptions.Conflict, PRODUCTION_TASK_EXISTS):
        client.create_task(parent=paused_queue, task=_task(paused_queue, "gone"))
    with fails(exceptions.NotFound, PRODUCTION_TASK_GONE):
        client.get_task(name=name)
    with fails(exceptions.NotFound, PRODUCTION_TASK_GONE):
        client.delete_task(name=name)


def test_a_task_that_never_existed_is_not_found(client: Any, paused_queue: str) -> None:
    with fails(exceptions.NotFound, PRODUCTION_NOT_FOUND):
        client.get_task(name=f"{paused_queue}/tasks/never")
    with fails(exceptions.NotFound, PRODUCTION_NOT_FOUND):
        client.run_task(name=f"{paused_queue}/tasks/never")


def test_create_task_in_an_unknown_queue_is_not_found(client: Any) -> None:
    queue = new_queue_name()
    with fails(exceptions.NotFound, PRODUCTION_QUEUE_NOT_FOUND):
        client.create_task(parent=queue, task=_task(queue))


def test_views_basic_leaves_the_body_out_and_full_keeps_it(client: Any, paused_queue: str) -> None:
    task = _task(paused_queue, "viewed", body=b"payload", headers={"Content-Type": "text/plain"})
    basic = client.create_task(parent=paused_queue, task=task)
    assert basic.view == tasks_v2.Task.View.BASIC
    assert basic.http_request.body == b""
    assert basic.http_request.headers["Content-Type"] == "text/plain"
    full = client.get_task(request={"name": basic.name, "response_view": tasks_v2.Task.View.FULL})
    assert full.view == tasks_v2.Task.View.FULL
    assert full.http_request.body == b"payload"
    assert client.get_task(name=basic.name).http_request.body == b""
    listed = client.list_tasks(
        request={"parent": paused_queue, "response_view": tasks_v2.Task.View.FULL}
    )
    assert [t.http_request.body for t in listed] == [b"payload"]


def test_create_task_fills_productions_defaults(client: Any, paused_queue: str) -> None:
    before = dt.datetime.now(dt.UTC)
    task = client.create_task(parent=paused_queue, task=_task(paused_queue))
    assert task.dispatch_deadline == dt.timedelta(minutes=10)
    assert task.http_request.http_method == tasks_v2.HttpMethod.POST
    assert task.dispatch_count == 0
    assert task.response_count == 0
    assert before - dt.timedelta(seconds=1) <= task.create_time <= task.schedule_time
    assert task.schedule_time <= dt.datetime.now(dt.UTC)


def test_list_tasks_pages(client: Any, paused_queue: str) -> None:
    ids = [f"t{i}" for i in range(7)]
    for task_id in ids:
        client.create_task(parent=paused_queue, task=_task(paused_queue, task_id))
    first = client.list_tasks(request={"parent": paused_queue, "page_size": 3})
    assert len(first.tasks) == 3
    assert first.next_page_token
    every = client.list_tasks(request={"parent": paused_queue, "page_size": 3})
    assert sorted(t.name.rsplit("/", 1)[1] for t in every) == ids


def test_list_tasks_page_size_above_1000_is_invalid(client: Any, paused_queue: str) -> None:
    with pytest.raises(exceptions.BadRequest, match="page_size"):
        client.list_tasks(request={"parent": paused_queue, "page_size": 1001}).tasks  # noqa: B018


def test_a_paused_queue_accepts_tasks_and_keeps_them(client: Any, paused_queue: str) -> None:
    task = client.create_task(parent=paused_queue, task=_task(paused_queue))
    assert client.get_task(name=task.name).dispatch_count == 0


# --- validation (the messages are in test_validation.py) -----------------------------------------
def _later(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds))
    return stamp


BAD_TASKS: dict[str, tuple[dict[str, Any], str]] = {
    "task id with a space": ({"name": "{q}/tasks/x y"}, "can contain only letters"),
    "task id too long": ({"name": "{q}/tasks/" + "a" * 501}, "between 1 and 500"),
    "task in another queue": ({"name": "{q}-other/tasks/x"}, "must be the same as the queue name"),
    "schedule_time 31 days ahead": (
        {"schedule_time": _later(31 * 24 * 3600)},
        "schedule_time is more than 30 days",
    ),
    "dispatch_deadline 14 s": (
        {"dispatch_deadline": duration_pb2.Duration(seconds=14)},
        "dispatch_deadline",
    ),
    "dispatch_deadline 31 min": (
        {"dispatch_deadline": duration_pb2.Duration(seconds=31 * 60)},
        "dispatch_deadline",
    ),
    "body over 1 MB": ({"http_request": {"url": URL, "body": b"x" * 1_000_001}}, "task size"),
    "ftp URL": ({"http_request": {"url": "ftp://example.com/x"}}, "http_request.url"),
    "URL over 2083 characters": (
        {"http_request": {"url": "http://example.com/" + "a" * 2100}},
        "http_request.url",
    ),
    "reserved header": (
        {"http_request": {"url": URL, "headers": {"X-CloudTasks-TaskName": "x"}}},
        "reserved",
    ),
    "body with GET": (
        {"http_request": {"url": URL, "http_method": "GET", "body": b"x"}},
        "body",
    ),
    "no target": ({"http_request": None}, "http_request is required"),
}


@pytest.mark.parametrize("case", sorted(BAD_TASKS))
def test_create_task_rejects(client: Any, paused_queue: str, case: str) -> None:
    fields, message = BAD_TASKS[case]
    task: dict[str, Any] = {"http_request": {"url": URL}}
    for key, value in fields.items():
        task[key] = value.replace("{q}", paused_queue) if isinstance(value, str) else value
    if task["http_request"] is None:
        del task["http_request"]
    with pytest.raises(exceptions.BadRequest, match=message):
        client.create_task(parent=paused_queue, task=task)


def test_app_engine_targets_are_unimplemented(client: Any, paused_queue: str) -> None:
    with pytest.raises(exceptions.MethodNotImplemented, match="out of scope"):
        client.create_task(
            parent=paused_queue, task={"app_engine_http_request": {"relative_uri": "/x"}}
        )


@pytest.mark.parametrize(
    ("rate_limits", "message"),
    [
        ({"max_dispatches_per_second": 501}, "max_dispatches_per_second"),
        ({"max_concurrent_dispatches": 5001}, "max_concurrent_dispatches"),
    ],
)
def test_create_queue_rejects_limits_above_productions(
    client: Any, rate_limits: dict[str, Any], message: str
) -> None:
    with pytest.raises(exceptions.BadRequest, match=message):
        client.create_queue(
            parent=PARENT, queue={"name": new_queue_name(), "rate_limits": rate_limits}
        )
