"""Every RPC of the API, with production's rules, codes and messages (see api.CloudTasksApi).

The service holds no state of its own (that is ``store``) and sends nothing (that is
``dispatcher``): it validates, applies the change and tells the dispatcher when a task becomes
due, or must run now.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable
from typing import Literal, Protocol, TypeVar

import grpc
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from tasks_emulator import api, batch, iam, locations, names, paging, validation
from tasks_emulator.errors import ApiError
from tasks_emulator.operations import Operations, UnknownOperation
from tasks_emulator.store import Store, Taken

# Production's messages (cloud-tasks-dispatch.md, "Names and dedupe").
QUEUE_NOT_FOUND = (
    "Queue does not exist. If you just created the queue, wait at least a minute for the queue "
    "to initialize."
)
QUEUE_EXISTS = "Queue already exists"
QUEUE_RECENTLY_DELETED = (
    "The queue cannot be created because a queue with this name existed too recently."
)
QUEUE_DELETED = (
    "The queue was deleted recently: tasks cannot be created in it, and its name cannot be used "
    "again for 7 days."
)
TASK_EXISTS = "Requested entity already exists"
TASK_GONE = (
    "The task no longer exists, though a task with this name existed recently. The task either "
    "successfully completed or was deleted."
)
NOT_FOUND = "Requested entity was not found."
# cloudtasks.proto: ListQueues' maximum page size is 9800, ListTasks' 1000; unset = the maximum.
MAX_QUEUES_PAGE = 9800
MAX_TASKS_PAGE = 1000

_STATE_RUNNING = api.Queue.RUNNING
_STATE_PAUSED = api.Queue.PAUSED
_VIEW_BASIC = api.Task.BASIC
_VIEW_FULL = api.Task.FULL
_STATE_NAMES = {
    "RUNNING": api.Queue.RUNNING,
    "PAUSED": api.Queue.PAUSED,
    "DISABLED": api.Queue.DISABLED,
}
_FILTER = re.compile(r"\s*state\s*[:=]\s*([A-Z_]+)\s*")
# UpdateQueue's mask may name these (queue.proto: the rest is output only).
_QueueField = Literal[
    "rate_limits",
    "retry_config",
    "stackdriver_logging_config",
    "app_engine_routing_override",
    "http_target",
]
_SETTABLE: tuple[_QueueField, ...] = ("rate_limits", "retry_config", "stackdriver_logging_config")
_SETTABLE_OTHERS: tuple[_QueueField, ...] = ("app_engine_routing_override", "http_target")
# queue.proto: output only fields inside the settable ones.
_OUTPUT_ONLY_PATHS = ("rate_limits.max_burst_size",)
# Masked explicitly, these must hold a value: 0 is no rate / no concurrency, not "the default".
_POSITIVE_WHEN_MASKED = (
    "rate_limits.max_dispatches_per_second",
    "rate_limits.max_concurrent_dispatches",
)
# operations.proto ListOperationsRequest: the emulator's page size when none is asked for.
MAX_OPERATIONS_PAGE = 1000
MAX_LOCATIONS_PAGE = 1000
# BufferTask needs the queue to say where the task goes (the REST reference: "The queue must have
# HTTP target").
QUEUE_WITHOUT_TARGET = (
    "The queue must have an HTTP target (http_target.uri_override with a host) to buffer tasks."
)


class Dispatch(Protocol):
    """What the service asks of the dispatcher."""

    def wake(self, *, due_s: float) -> None: ...  # a task is due at due_s: look again if sooner
    def run_now(self, taken: Taken) -> None: ...  # RunTask: attempt this task at once


class NoDispatch:
    """A dispatcher that sends nothing (the API alone, e.g. in tests)."""

    def wake(self, *, due_s: float) -> None:
        return None

    def run_now(self, taken: Taken) -> None:
        return None


_Request = TypeVar("_Request", bound=Message)
_Response = TypeVar("_Response", bound=Message)
_Method = Callable[["CloudTasksService", _Request], _Response]


def _one_queue_change_at_a_time(
    method: _Method[_Request, _Response],
) -> _Method[_Request, _Response]:
    @functools.wraps(method)
    def locked(self: CloudTasksService, request: _Request) -> _Response:
        with self._queue_lock:
            return method(self, request)

    return locked


def _error(code: grpc.StatusCode, message: str) -> ApiError:
    return ApiError(code, message)


def _page_size(value: int, *, maximum: int) -> int:
    if value < 0 or value > maximum:
        raise _error(
            grpc.StatusCode.INVALID_ARGUMENT, f"page_size must be between 0 and {maximum}."
        )
    return value or maximum


class CloudTasksService:
    """``api.CloudTasksApi`` over a ``Store``; time from ``now_s``."""

    def __init__(
        self, *, store: Store, now_s: Callable[[], float], dispatch: Dispatch | None = None
    ) -> None:
        self._store = store
        self._now_s = now_s
        self._dispatch: Dispatch = dispatch or NoDispatch()
        # Queue changes read, change and write the queue: one at a time, so none is lost.
        self._queue_lock = threading.RLock()
        self._operations = Operations()

    def attach(self, dispatch: Dispatch) -> None:
        """Set the dispatcher once it exists (it needs the store, the service needs it)."""
        self._dispatch = dispatch

    # --- queues ------------------------------------------------------------------------------
    def _queue(self, name: str, *, field: str) -> api.Queue:
        path = names.parse_queue_name(name, field=field).path
        queue = self._store.get_queue(path)
        if queue is None:
            raise _error(grpc.StatusCode.NOT_FOUND, QUEUE_NOT_FOUND)
        return queue

    def _check_new_queue_name(self, name: str) -> None:
        if self._store.get_queue(name) is not None:
            raise _error(grpc.StatusCode.ALREADY_EXISTS, QUEUE_EXISTS)
        if self._store.queue_name_reserved(name, now_s=self._now_s()):
            raise _error(grpc.StatusCode.FAILED_PRECONDITION, QUEUE_RECENTLY_DELETED)

    @_one_queue_change_at_a_time
    def create_queue(self, request: api.CreateQueueRequest) -> api.Queue:
        parent = names.parse_location(request.parent, field="parent")
        queue = api.copy_of(request.queue)
        name = names.parse_queue_name(queue.name, field="queue.name")
        if name.parent != parent:
            raise _error(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"queue.name {queue.name!r} is not in the request's parent {parent!r}.",
            )
        queue.ClearField("state")
        queue.ClearField("purge_time")
        validation.check_queue_config(queue)
        self._check_new_queue_name(name.path)
        self._store.put_queue(queue)
        return queue

    def get_queue(self, request: api.GetQueueRequest) -> api.Queue:
        return self._queue(request.name, field="name")

    def list_queues(self, request: api.ListQueuesRequest) -> api.ListQueuesResponse:
        parent = names.parse_location(request.parent, field="parent")
        state = 0
        if request.filter:
            match = _FILTER.fullmatch(request.filter)
            if match is None or match[1] not in _STATE_NAMES:
                raise _error(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"filter {request.filter!r} is not supported; only 'state: PAUSED' (or "
                    "RUNNING, DISABLED) is.",
                )
            state = _STATE_NAMES[match[1]]
        size = _page_size(request.page_size, maximum=MAX_QUEUES_PAGE)
        scope = f"ListQueues {parent} {request.filter}"
        after = paging.decode_token(request.page_token, scope=scope)
        queues = [
            q
            for q in self._store.list_queues(parent)
            if q.name > after and (not state or q.state == state)
        ]
        response = api.ListQueuesResponse()
        for queue in queues[:size]:
            response.queues.add().CopyFrom(queue)
        if len(queues) > size:
            response.next_page_token = paging.encode_token(scope=scope, after=queues[size - 1].name)
        return response

    @_one_queue_change_at_a_time
    def update_queue(self, request: api.UpdateQueueRequest) -> api.Queue:
        name = names.parse_queue_name(request.queue.name, field="queue.name").path
        existing = self._store.get_queue(name)
        if existing is None:
            # cloudtasks.proto: "This method creates the queue if it does not exist".
            self._check_new_queue_name(name)
            queue = api.Queue(name=name, state=_STATE_RUNNING)
        else:
            queue = existing
        paths = list(request.update_mask.paths)
        if not paths:
            for field in _SETTABLE + _SETTABLE_OTHERS:
                queue.ClearField(field)
                if request.queue.HasField(field):
                    getattr(queue, field).CopyFrom(getattr(request.queue, field))
        else:
            for path in paths:
                if path.split(".")[0] not in _SETTABLE + _SETTABLE_OTHERS:
                    raise _error(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"update_mask: {path!r} is not a field of the queue that can be updated.",
                    )
                if path in _OUTPUT_ONLY_PATHS:
                    raise _error(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"update_mask: {path!r} is output only: Cloud Tasks derives it from "
                        "rate_limits.max_dispatches_per_second.",
                    )
                if path in _POSITIVE_WHEN_MASKED:
                    value: object = request.queue
                    for part in path.split("."):
                        value = getattr(value, part)
                    if not (isinstance(value, int | float) and value > 0):
                        raise _error(
                            grpc.StatusCode.INVALID_ARGUMENT,
                            f"queue.{path} must be greater than 0 when update_mask names it "
                            f"(it is {value!r}); leave it out of the mask to keep the "
                            "queue's value.",
                        )
            mask = field_mask_pb2.FieldMask(paths=paths)
            if not mask.IsValidForDescriptor(api.Queue.DESCRIPTOR):
                raise _error(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"update_mask: {paths!r} names a field the queue does not have.",
                )
            mask.MergeMessage(request.queue, queue, replace_message_field=True)
        validation.check_queue_config(queue)
        self._store.put_queue(queue)
        self._dispatch.wake(due_s=0.0)  # new limits may let tasks go sooner
        return queue

    @_one_queue_change_at_a_time
    def delete_queue(self, request: api.DeleteQueueRequest) -> api.Empty:
        path = names.parse_queue_name(request.name, field="name").path
        if not self._store.delete_queue(path, now_s=self._now_s()):
            raise _error(grpc.StatusCode.NOT_FOUND, QUEUE_NOT_FOUND)
        return api.Empty()

    @_one_queue_change_at_a_time
    def purge_queue(self, request: api.PurgeQueueRequest) -> api.Queue:
        queue = self._queue(request.name, field="name")
        now_s = self._now_s()
        self._store.purge_queue(queue.name, now_s=now_s)
        validation.set_seconds(queue.purge_time, now_s)
        self._store.put_queue(queue)
        return queue

    def _set_state(self, name: str, state: api.Queue.State.ValueType) -> api.Queue:
        queue = self._queue(name, field="name")
        queue.state = state
        self._store.put_queue(queue)
        return queue

    @_one_queue_change_at_a_time
    def pause_queue(self, request: api.PauseQueueRequest) -> api.Queue:
        return self._set_state(request.name, _STATE_PAUSED)

    @_one_queue_change_at_a_time
    def resume_queue(self, request: api.ResumeQueueRequest) -> api.Queue:
        queue = self._set_state(request.name, _STATE_RUNNING)
        self._dispatch.wake(due_s=0.0)
        return queue

    # --- tasks -------------------------------------------------------------------------------
    def create_task(self, request: api.CreateTaskRequest) -> api.Task:
        parent = names.parse_queue_name(request.parent, field="parent")
        state = self._store.queue_state(parent.path)
        if state is None:
            # gcp-facts.md: CreateTask into a recently deleted queue is FAILED_PRECONDITION.
            if self._store.queue_name_reserved(parent.path, now_s=self._now_s()):
                raise _error(grpc.StatusCode.FAILED_PRECONDITION, QUEUE_DELETED)
            raise _error(grpc.StatusCode.NOT_FOUND, QUEUE_NOT_FOUND)
        task = request.task  # the call's own message, completed in place and then stored
        if task.name:
            name = names.task_in_queue(task.name, parent=parent).path
        else:
            name = names.TaskName(queue=parent, task_id=names.generated_task_id()).path
        now_s = self._now_s()
        target = self._store.http_target_of(parent.path)
        validation.check_new_task(
            task,
            now_s=now_s,
            queue_sets_host=target is not None and target.uri_override.HasField("host"),
        )
        task.name = name
        # task.proto: create_time is truncated to the second, schedule_time to the microsecond.
        task.create_time.seconds = int(now_s)
        task.schedule_time.nanos -= task.schedule_time.nanos % 1000
        if not self._store.add_task(name, queue=parent.path, task=task, now_s=now_s):
            raise _error(grpc.StatusCode.ALREADY_EXISTS, TASK_EXISTS)
        if state != _STATE_PAUSED:  # a paused queue's tasks wait for ResumeQueue, which wakes
            self._dispatch.wake(due_s=validation.seconds(task.schedule_time))
        return _view(api.copy_of(task), request.response_view)

    def _missing_task(self, name: str) -> ApiError:
        if self._store.recently_existed(name, now_s=self._now_s()):
            return _error(grpc.StatusCode.NOT_FOUND, TASK_GONE)
        return _error(grpc.StatusCode.NOT_FOUND, NOT_FOUND)

    def get_task(self, request: api.GetTaskRequest) -> api.Task:
        name = names.parse_task_name(request.name, field="name").path
        task = self._store.get_task(name)
        if task is None:
            raise self._missing_task(name)
        return _view(task, request.response_view)

    def list_tasks(self, request: api.ListTasksRequest) -> api.ListTasksResponse:
        queue = self._queue(request.parent, field="parent")
        size = _page_size(request.page_size, maximum=MAX_TASKS_PAGE)
        scope = f"ListTasks {queue.name}"
        after = paging.decode_token(request.page_token, scope=scope)
        tasks, more = self._store.list_tasks(queue.name, after=after, limit=size)
        response = api.ListTasksResponse()
        for task in tasks:
            response.tasks.add().CopyFrom(_view(task, request.response_view))
        if more and tasks:
            response.next_page_token = paging.encode_token(scope=scope, after=tasks[-1].name)
        return response

    def delete_task(self, request: api.DeleteTaskRequest) -> api.Empty:
        name = names.parse_task_name(request.name, field="name").path
        if not self._store.delete_task(name, now_s=self._now_s()):
            raise self._missing_task(name)
        return api.Empty()

    def run_task(self, request: api.RunTaskRequest) -> api.Task:
        name = names.parse_task_name(request.name, field="name").path
        taken = self._store.take(name, now_s=self._now_s())
        if taken is None:
            task = self._store.get_task(name)  # in flight already: it is running
            if task is None:
                raise self._missing_task(name)
            return _view(task, request.response_view)
        view = _view(api.copy_of(taken.task), request.response_view)
        self._dispatch.run_now(taken)
        return view

    def buffer_task(self, request: api.CreateTaskRequest) -> api.Task:
        """BufferTask: a task of the queue's own ``http_target`` carrying the request's body.

        The REST adapter hands over a CreateTaskRequest: ``parent``, ``task.name`` if the path
        named a task id, the body and its Content-Type in ``task.http_request``."""
        parent = names.parse_queue_name(request.parent, field="queue")
        target = self._store.http_target_of(parent.path)
        if self._store.queue_state(parent.path) is not None and (
            target is None or not target.uri_override.host
        ):
            raise _error(grpc.StatusCode.FAILED_PRECONDITION, QUEUE_WITHOUT_TARGET)
        return self.create_task(request)

    # --- batches and their operations --------------------------------------------------------
    def batch_create_tasks(self, request: api.BatchCreateTasksRequest) -> api.Operation:
        queue = batch.check_creates(request)
        self._queue(queue.path, field="parent")  # "The queue must already exist."
        started_s = self._now_s()
        creates = [api.copy_of(create) for create in request.requests]
        return self._operations.start(
            location=queue.parent,
            kind=f"BatchCreateTasks {queue.path}",
            request_id=request.request_id,
            metadata=batch.create_metadata(started_s=started_s),
            work=lambda: batch.run_creates(
                creates, create_task=self.create_task, started_s=started_s, now_s=self._now_s
            ),
            failed=lambda: batch.create_metadata(started_s=started_s, state=batch.CREATE_FAILED),
        )

    def batch_delete_tasks(self, request: api.BatchDeleteTasksRequest) -> api.Operation:
        queue = batch.check_deletes(request)
        started_s = self._now_s()
        task_names = list(request.names)
        return self._operations.start(
            location=queue.parent,
            kind=f"BatchDeleteTasks {queue.path}",
            request_id=request.request_id,
            metadata=batch.delete_metadata(started_s=started_s),
            work=lambda: batch.run_deletes(
                task_names, delete_task=self.delete_task, started_s=started_s, now_s=self._now_s
            ),
            failed=lambda: batch.delete_metadata(started_s=started_s, state=batch.DELETE_FAILED),
        )

    def _unknown_operation(self, name: str) -> ApiError:
        return _error(grpc.StatusCode.NOT_FOUND, f"Operation {name!r} was not found.")

    def get_operation(self, request: api.GetOperationRequest) -> api.Operation:
        name = names.parse_operation_name(request.name, field="name")
        try:
            return self._operations.get(name)
        except UnknownOperation as e:
            raise self._unknown_operation(name) from e

    def list_operations(self, request: api.ListOperationsRequest) -> api.ListOperationsResponse:
        location = names.parse_location(request.name, field="name")
        if request.filter:
            raise _error(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"filter {request.filter!r} is not supported by this emulator.",
            )
        size = _page_size(request.page_size, maximum=MAX_OPERATIONS_PAGE)
        scope = f"ListOperations {location}"
        after = paging.decode_token(request.page_token, scope=scope)
        found = [name for name in self._operations.names_in(location) if name > after]
        response = api.ListOperationsResponse()
        for name in found[:size]:
            try:
                response.operations.add().CopyFrom(self._operations.get(name))
            except UnknownOperation:
                continue  # deleted meanwhile
        if len(found) > size:
            response.next_page_token = paging.encode_token(scope=scope, after=found[size - 1])
        return response

    def delete_operation(self, request: api.DeleteOperationRequest) -> api.Empty:
        name = names.parse_operation_name(request.name, field="name")
        try:
            self._operations.delete(name)
        except UnknownOperation as e:
            raise self._unknown_operation(name) from e
        return api.Empty()

    def cancel_operation(self, request: api.CancelOperationRequest) -> api.Empty:
        """Best effort, as operations.proto allows: the batches here finish in milliseconds,
        so a cancel changes nothing but is answered OK for an operation that exists."""
        self.get_operation(api.GetOperationRequest(name=request.name))
        return api.Empty()

    # --- IAM (stored, not enforced: see iam) -------------------------------------------------
    def get_iam_policy(self, request: api.GetIamPolicyRequest) -> api.Policy:
        queue = self._queue(request.resource, field="resource")
        stored = self._store.get_iam_policy(queue.name)
        return iam.empty_policy() if stored is None else iam.Policy.FromString(stored)

    @_one_queue_change_at_a_time  # read, change, write: one at a time, so the etag holds
    def set_iam_policy(self, request: api.SetIamPolicyRequest) -> api.Policy:
        current = self.get_iam_policy(api.GetIamPolicyRequest(resource=request.resource))
        policy = iam.updated(current, request)
        if not self._store.put_iam_policy(request.resource, policy.SerializeToString()):
            raise _error(grpc.StatusCode.NOT_FOUND, QUEUE_NOT_FOUND)
        return policy

    def test_iam_permissions(
        self, request: api.TestIamPermissionsRequest
    ) -> api.TestIamPermissionsResponse:
        path = names.parse_queue_name(request.resource, field="resource").path
        held = iam.granted(
            list(request.permissions), queue_exists=self._store.queue_state(path) is not None
        )
        return api.TestIamPermissionsResponse(permissions=held)

    # --- CMEK --------------------------------------------------------------------------------
    def get_cmek_config(self, request: api.GetCmekConfigRequest) -> api.CmekConfig:
        name = names.parse_cmek_config_name(request.name, field="name")
        return self._store.get_cmek_config(name) or api.CmekConfig(name=name)

    def update_cmek_config(self, request: api.UpdateCmekConfigRequest) -> api.CmekConfig:
        """Stored and returned as production shapes it; nothing is encrypted locally."""
        name = names.parse_cmek_config_name(request.cmek_config.name, field="cmek_config.name")
        for path in request.update_mask.paths:
            if path != "kms_key":
                raise _error(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"update_mask: {path!r} is not a field of the CMEK config that can be "
                    "updated; only 'kms_key' is.",
                )
        config = self._store.get_cmek_config(name) or api.CmekConfig(name=name)
        kms_key = request.cmek_config.kms_key
        names.check_kms_key(kms_key, config_name=name)
        config.kms_key = kms_key
        self._store.put_cmek_config(config)
        return config

    # --- locations ---------------------------------------------------------------------------
    def list_locations(self, request: api.ListLocationsRequest) -> api.ListLocationsResponse:
        project = names.parse_project(request.name, field="name").removeprefix("projects/")
        if request.filter:
            raise _error(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"filter {request.filter!r} is not supported by this emulator.",
            )
        ids = locations.location_ids(project=project, queue_names=self._store.queue_names())
        # No maximum is documented for locations: a larger page_size is all of them.
        size = _page_size(min(request.page_size, MAX_LOCATIONS_PAGE), maximum=MAX_LOCATIONS_PAGE)
        scope = f"ListLocations {project}"
        after = paging.decode_token(request.page_token, scope=scope)
        later = [location_id for location_id in ids if location_id > after]
        response = api.ListLocationsResponse()
        for location_id in later[:size]:
            response.locations.add().CopyFrom(
                locations.location(project=project, location_id=location_id)
            )
        if len(later) > size:
            response.next_page_token = paging.encode_token(scope=scope, after=later[size - 1])
        return response

    def get_location(self, request: api.GetLocationRequest) -> api.Location:
        name = names.parse_location(request.name, field="name")
        _, project, _, location_id = name.split("/")
        if location_id not in locations.location_ids(
            project=project, queue_names=self._store.queue_names()
        ):
            raise _error(grpc.StatusCode.NOT_FOUND, f"Location {name!r} was not found.")
        return locations.location(project=project, location_id=location_id)

    # --- test helpers (not RPCs: the REST adapter serves them under /_emulator/) ---------------
    def reset(self) -> None:
        """Forget every queue, task, reserved name, IAM policy, CMEK config and operation."""
        with self._queue_lock:
            self._operations.reset()
            self._store.reset()

    def wait_idle(self, *, queue: str | None, timeout_s: float) -> int:
        """Wait until ``queue`` (or every queue) has no task pending or in flight and no batch
        is running, or ``timeout_s`` passed; the tasks left (0: idle)."""
        path = None if queue is None else names.parse_queue_name(queue, field="queue").path
        deadline = time.monotonic() + timeout_s
        while True:
            left = self._store.count_tasks(path) + self._operations.running()
            if left == 0 or time.monotonic() >= deadline:
                return left
            time.sleep(0.01)

    def close(self) -> None:
        """Let the operations started finish; start no more."""
        self._operations.close()


def _view(task: api.Task, response_view: api.Task.View.ValueType) -> api.Task:
    """The task as ``response_view`` shows it: BASIC (the default) leaves the body out."""
    if response_view == _VIEW_FULL:
        task.view = _VIEW_FULL
        return task
    task.view = _VIEW_BASIC
    task.http_request.ClearField("body")
    return task
