"""BatchCreateTasks and BatchDeleteTasks: the batch's own limits, its outcome from its requests'.

Each request of a batch goes through the service's own CreateTask / DeleteTask (every per-task
rule applies as to a single call); this module checks what belongs to the batch as a whole
(cloudtasks.proto: at most 100 creates / 1,000 deletes, every one for the batch's queue: else the
whole call is INVALID_ARGUMENT) and turns the requests' results into the operation's metadata:
SUCCEEDED, PARTIALLY_SUCCEEDED with ``failed_requests`` by index, and when none succeeded the
operation's error ABORTED, as cloudtasks.proto documents it for BatchDeleteTasks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import grpc

from tasks_emulator import api, names
from tasks_emulator.errors import ApiError
from tasks_emulator.operations import Outcome
from tasks_emulator.validation import set_seconds

# cloudtasks.proto BatchCreateTasksRequest.requests / BatchDeleteTasksRequest.names.
MAX_CREATES = 100
MAX_DELETES = 1000
# BatchCreateTasksMetadata.State / BatchDeleteTasksMetadata.State (their numbers differ).
_Creates = api.BatchCreateTasksMetadata
_Deletes = api.BatchDeleteTasksMetadata
CREATE_RUNNING, CREATE_SUCCEEDED, CREATE_FAILED, CREATE_PARTIAL = (
    _Creates.RUNNING, _Creates.SUCCEEDED, _Creates.FAILED, _Creates.PARTIALLY_SUCCEEDED
)  # fmt: skip
DELETE_RUNNING, DELETE_SUCCEEDED, DELETE_PARTIAL, DELETE_FAILED = (
    _Deletes.RUNNING, _Deletes.SUCCEEDED, _Deletes.PARTIALLY_SUCCEEDED, _Deletes.FAILED
)  # fmt: skip
NONE_SUCCEEDED = (
    "None of the requests succeeded, refer to {metadata}.failed_requests for individual error "
    "details"
)


def _invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def check_creates(request: api.BatchCreateTasksRequest) -> names.QueueName:
    """The batch's queue, once the batch itself is acceptable."""
    parent = names.parse_queue_name(request.parent, field="parent")
    count = len(request.requests)
    if count == 0:
        raise _invalid("requests must hold at least one CreateTaskRequest.")
    if count > MAX_CREATES:
        raise _invalid(f"requests holds {count} requests; the maximum is {MAX_CREATES}.")
    for index, create in enumerate(request.requests):
        if create.parent != request.parent:
            raise _invalid(
                f"requests[{index}].parent {create.parent!r} is not the batch's parent "
                f"{request.parent!r}: every request of a batch is for the same queue."
            )
    return parent


def check_deletes(request: api.BatchDeleteTasksRequest) -> names.QueueName:
    """The batch's queue, once every name is a task of it and there are not too many."""
    parent = names.parse_queue_name(request.parent, field="parent")
    count = len(request.names)
    if count == 0:
        raise _invalid("names must hold at least one task name.")
    if count > MAX_DELETES:
        raise _invalid(f"names holds {count} names; the maximum is {MAX_DELETES}.")
    for index, name in enumerate(request.names):
        task = names.parse_task_name(name, field=f"names[{index}]")
        if task.queue != parent:
            raise _invalid(
                f"names[{index}] {name!r} is not a task of the batch's parent {request.parent!r}: "
                "every task of a batch is in the same queue."
            )
    return parent


_Request = TypeVar("_Request")
_Response = TypeVar("_Response")


def _each(
    requests: Sequence[_Request], call: Callable[[_Request], _Response]
) -> tuple[list[_Response], dict[int, api.Status]]:
    """``call`` on each request in turn: the responses, and the failures by request index."""
    responses: list[_Response] = []
    failed: dict[int, api.Status] = {}
    for index, request in enumerate(requests):
        try:
            responses.append(call(request))
        except ApiError as e:
            failed[index] = api.Status(code=e.code.value[0], message=e.message)
    return responses, failed


def _finish(
    metadata: api.BatchCreateTasksMetadata | api.BatchDeleteTasksMetadata,
    *,
    failed: dict[int, api.Status],
    count: int,
    now_s: float,
) -> api.Status | None:
    """Fill the final metadata (its state already set); the operation's error if no request
    succeeded."""
    set_seconds(metadata.end_time, now_s)
    for index, status in failed.items():
        metadata.failed_requests[index].CopyFrom(status)
    if failed and len(failed) == count:
        return api.Status(
            code=grpc.StatusCode.ABORTED.value[0],
            message=NONE_SUCCEEDED.format(metadata=type(metadata).DESCRIPTOR.name),
        )
    return None


def run_creates(
    requests: Sequence[api.CreateTaskRequest],
    *,
    create_task: Callable[[api.CreateTaskRequest], api.Task],
    started_s: float,
    now_s: Callable[[], float],
) -> Outcome:
    """Create each task through ``create_task``; the operation's outcome."""
    tasks, failed = _each(requests, create_task)
    state = CREATE_PARTIAL if failed else CREATE_SUCCEEDED
    metadata = create_metadata(started_s=started_s, state=state)
    error = _finish(metadata, failed=failed, count=len(requests), now_s=now_s())
    response = None if error else api.BatchCreateTasksResponse(tasks=tasks)
    return Outcome(metadata=metadata, response=response, error=error)


def run_deletes(
    task_names: Sequence[str],
    *,
    delete_task: Callable[[api.DeleteTaskRequest], api.Empty],
    started_s: float,
    now_s: Callable[[], float],
) -> Outcome:
    """Delete each task through ``delete_task``; the operation's outcome."""
    requests = [api.DeleteTaskRequest(name=name) for name in task_names]
    _, failed = _each(requests, delete_task)
    state = DELETE_PARTIAL if failed else DELETE_SUCCEEDED
    metadata = delete_metadata(started_s=started_s, state=state)
    error = _finish(metadata, failed=failed, count=len(requests), now_s=now_s())
    return Outcome(metadata=metadata, response=None if error else api.Empty(), error=error)


def create_metadata(
    *, started_s: float, state: api.BatchCreateTasksMetadata.State.ValueType = CREATE_RUNNING
) -> api.BatchCreateTasksMetadata:
    metadata = api.BatchCreateTasksMetadata(state=state)
    set_seconds(metadata.start_time, started_s)
    return metadata


def delete_metadata(
    *, started_s: float, state: api.BatchDeleteTasksMetadata.State.ValueType = DELETE_RUNNING
) -> api.BatchDeleteTasksMetadata:
    metadata = api.BatchDeleteTasksMetadata(state=state)
    set_seconds(metadata.start_time, started_s)
    return metadata
