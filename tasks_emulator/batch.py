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
from typing import Any

import grpc
from google.rpc import status_pb2

from tasks_emulator import api, names
from tasks_emulator.errors import ApiError
from tasks_emulator.operations import Outcome
from tasks_emulator.validation import set_seconds

# cloudtasks.proto BatchCreateTasksRequest.requests / BatchDeleteTasksRequest.names.
MAX_CREATES = 100
MAX_DELETES = 1000
# BatchCreateTasksMetadata.State / BatchDeleteTasksMetadata.State (their numbers differ).
CREATE_RUNNING, CREATE_SUCCEEDED, CREATE_FAILED, CREATE_PARTIAL = 1, 2, 3, 5
DELETE_RUNNING, DELETE_SUCCEEDED, DELETE_PARTIAL, DELETE_FAILED = 1, 2, 3, 4
NONE_SUCCEEDED = (
    "None of the requests succeeded, refer to {metadata}.failed_requests for individual error "
    "details"
)


def _invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def check_creates(request: Any) -> names.QueueName:
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


def check_deletes(request: Any) -> names.QueueName:
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


def _status(error: ApiError) -> status_pb2.Status:
    return status_pb2.Status(code=error.code.value[0], message=error.message)


def _finish(
    metadata: Any,
    *,
    failed: dict[int, status_pb2.Status],
    count: int,
    now_s: float,
    states: tuple[int, int],
) -> status_pb2.Status | None:
    """Fill the final metadata; the operation's error if no request succeeded."""
    succeeded, partial = states
    set_seconds(metadata.end_time, now_s)
    for index, status in failed.items():
        metadata.failed_requests[index].CopyFrom(status)
    metadata.state = partial if failed else succeeded
    if failed and len(failed) == count:
        return status_pb2.Status(
            code=grpc.StatusCode.ABORTED.value[0],
            message=NONE_SUCCEEDED.format(metadata=type(metadata).DESCRIPTOR.name),
        )
    return None


def run_creates(
    requests: Sequence[Any],
    *,
    create_task: Callable[[Any], Any],
    started_s: float,
    now_s: Callable[[], float],
) -> Outcome:
    """Create each task through ``create_task``; the operation's outcome."""
    response = api.BatchCreateTasksResponse()
    failed: dict[int, status_pb2.Status] = {}
    for index, create in enumerate(requests):
        try:
            task = create_task(create)
        except ApiError as e:
            failed[index] = _status(e)
        else:
            response.tasks.add().CopyFrom(task)
    metadata = create_metadata(started_s=started_s)
    error = _finish(
        metadata,
        failed=failed,
        count=len(requests),
        now_s=now_s(),
        states=(CREATE_SUCCEEDED, CREATE_PARTIAL),
    )
    return Outcome(metadata=metadata, response=None if error else response, error=error)


def run_deletes(
    task_names: Sequence[str],
    *,
    delete_task: Callable[[Any], Any],
    started_s: float,
    now_s: Callable[[], float],
) -> Outcome:
    """Delete each task through ``delete_task``; the operation's outcome."""
    failed: dict[int, status_pb2.Status] = {}
    for index, name in enumerate(task_names):
        try:
            delete_task(api.DeleteTaskRequest(name=name))
        except ApiError as e:
            failed[index] = _status(e)
    metadata = delete_metadata(started_s=started_s)
    error = _finish(
        metadata,
        failed=failed,
        count=len(task_names),
        now_s=now_s(),
        states=(DELETE_SUCCEEDED, DELETE_PARTIAL),
    )
    return Outcome(metadata=metadata, response=None if error else api.Empty(), error=error)


def create_metadata(*, started_s: float, state: int = CREATE_RUNNING) -> Any:
    metadata = api.BatchCreateTasksMetadata(state=state)
    set_seconds(metadata.start_time, started_s)
    return metadata


def delete_metadata(*, started_s: float, state: int = DELETE_RUNNING) -> Any:
    metadata = api.BatchDeleteTasksMetadata(state=state)
    set_seconds(metadata.start_time, started_s)
    return metadata
