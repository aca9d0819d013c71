"""Queue and task resource names: parsing, production's validation messages, generated ids.

A queue is ``projects/P/locations/L/queues/Q`` and a task ``<queue>/tasks/T``. Every failure is
INVALID_ARGUMENT with a sentence naming the field, in production's words where they are known
(Cloud Tasks' answers as documented and observed; see README.md, "Fidelity").
"""

from __future__ import annotations

import functools
import re
import secrets
from dataclasses import dataclass

import grpc

from tasks_emulator.errors import ApiError

# cloud.google.com/tasks/docs/creating-queues: letters, digits and hyphens, at most 100 characters.
_QUEUE_ID = re.compile(r"[A-Za-z0-9-]{1,100}")
# cloudtasks.proto, CreateTaskRequest.task.name: letters, digits, hyphens, underscores, 1-500.
_TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,500}")
# Project ids (also domain-scoped "example.com:p") and location ids as Google accepts them.
_PROJECT_ID = re.compile(r"[a-z0-9.:-]{1,100}", re.IGNORECASE)
_LOCATION_ID = re.compile(r"[a-z0-9-]{1,63}", re.IGNORECASE)
_LOCATION = re.compile(r"projects/([^/]+)/locations/([^/]+)")
_QUEUE = re.compile(r"projects/([^/]+)/locations/([^/]+)/queues/([^/]+)")
_TASK = re.compile(r"projects/([^/]+)/locations/([^/]+)/queues/([^/]+)/tasks/([^/]*)")


@dataclass(frozen=True, slots=True)
class QueueName:
    project: str
    location: str
    queue_id: str

    @property
    def path(self) -> str:
        return f"projects/{self.project}/locations/{self.location}/queues/{self.queue_id}"

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.location}"


@dataclass(frozen=True, slots=True)
class TaskName:
    queue: QueueName
    task_id: str

    @property
    def path(self) -> str:
        return f"{self.queue.path}/tasks/{self.task_id}"


def _invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _check_location(project: str, location: str, *, field: str) -> None:
    if not _PROJECT_ID.fullmatch(project):
        raise _invalid(f"{field}: the project id {project!r} is not a valid project id.")
    if not _LOCATION_ID.fullmatch(location):
        raise _invalid(f"{field}: the location id {location!r} is not a valid location id.")


def parse_location(name: str, *, field: str) -> str:
    """The ``projects/P/locations/L`` of a ListQueues/CreateQueue ``parent``."""
    match = _LOCATION.fullmatch(name)
    if match is None:
        raise _invalid(
            f"{field} must be of the form projects/PROJECT/locations/LOCATION: {name!r}."
        )
    _check_location(match[1], match[2], field=field)
    return name


@functools.lru_cache(maxsize=1024)  # the same few queue names come in every call
def parse_queue_name(name: str, *, field: str) -> QueueName:
    match = _QUEUE.fullmatch(name)
    if match is None:
        raise _invalid(
            f"{field} must be of the form projects/PROJECT/locations/LOCATION/queues/QUEUE_ID: "
            f"{name!r}."
        )
    _check_location(match[1], match[2], field=field)
    if not _QUEUE_ID.fullmatch(match[3]):
        raise _invalid(
            f'Queue ID "{match[3]}" can contain only letters ([A-Za-z]), numbers ([0-9]), or '
            f"hyphens (-). Queue ID must be between 1 and 100 characters ({field})."
        )
    return QueueName(project=match[1], location=match[2], queue_id=match[3])


def parse_task_name(name: str, *, field: str) -> TaskName:
    match = _TASK.fullmatch(name)
    if match is None:
        raise _invalid(
            f"{field} must be of the form "
            f"projects/PROJECT/locations/LOCATION/queues/QUEUE_ID/tasks/TASK_ID: {name!r}."
        )
    queue = parse_queue_name(
        f"projects/{match[1]}/locations/{match[2]}/queues/{match[3]}", field=field
    )
    check_task_id(match[4])
    return TaskName(queue=queue, task_id=match[4])


def check_task_id(task_id: str) -> None:
    if not _TASK_ID.fullmatch(task_id):
        raise _invalid(
            f'Task ID "{task_id}" can contain only letters ([A-Za-z]), numbers ([0-9]), hyphens '
            "(-), or underscores (_). Task ID must between 1 and 500 characters."
        )


def task_in_queue(name: str, *, parent: QueueName) -> TaskName:
    """The task named by a CreateTask's ``task.name``, which must be in the request's ``parent``."""
    task = parse_task_name(name, field="task.name")
    if task.queue != parent:
        raise _invalid(
            f"The queue name from request ('{parent.queue_id}') must be the same as the queue "
            f"name in the named task ('{task.queue.queue_id}')."
            if task.queue.parent == parent.parent
            else f"task.name {name!r} is not in the request's parent queue {parent.path!r}."
        )
    return task


def generated_task_id() -> str:
    """An id for an unnamed task: production generates long decimal ids like this one."""
    return str(secrets.randbelow(9 * 10**18) + 10**18)


_CMEK_CONFIG = re.compile(r"projects/([^/]+)/locations/([^/]+)/cmekConfig")
_KMS_KEY = re.compile(r"projects/([^/]+)/locations/([^/]+)/keyRings/([^/]+)/cryptoKeys/([^/]+)")
_OPERATION = re.compile(r"projects/([^/]+)/locations/([^/]+)/operations/([^/]+)")
_PROJECT = re.compile(r"projects/([^/]+)")


def parse_cmek_config_name(name: str, *, field: str) -> str:
    """A ``projects/P/locations/L/cmekConfig`` (cmek_config.proto CmekConfig.name)."""
    match = _CMEK_CONFIG.fullmatch(name)
    if match is None:
        raise _invalid(
            f"{field} must be of the form projects/PROJECT/locations/LOCATION/cmekConfig: {name!r}."
        )
    _check_location(match[1], match[2], field=field)
    return name


def check_kms_key(kms_key: str, *, config_name: str) -> None:
    """cmek_config.proto CmekConfig.kms_key: empty (no CMEK) or a Cloud KMS key of the config's
    own location (Cloud KMS keys used for CMEK must be in the location of the data)."""
    if not kms_key:
        return
    match = _KMS_KEY.fullmatch(kms_key)
    if match is None:
        raise _invalid(
            "cmek_config.kms_key must be of the form projects/PROJECT_ID/locations/LOCATION_ID/"
            f"keyRings/KEY_RING_ID/cryptoKeys/KEY_ID (or empty): {kms_key!r}."
        )
    _check_location(match[1], match[2], field="cmek_config.kms_key")
    config_location = config_name.split("/")[3]
    if match[2] != config_location:
        raise _invalid(
            f"cmek_config.kms_key is in location {match[2]!r}; the key must be in the config's "
            f"location {config_location!r}."
        )


def parse_operation_name(name: str, *, field: str) -> str:
    """A ``projects/P/locations/L/operations/ID``."""
    match = _OPERATION.fullmatch(name)
    if match is None:
        raise _invalid(
            f"{field} must be of the form projects/PROJECT/locations/LOCATION/operations/ID: "
            f"{name!r}."
        )
    _check_location(match[1], match[2], field=field)
    return name


def parse_project(name: str, *, field: str) -> str:
    """A ``projects/P`` (ListLocations' ``name``)."""
    match = _PROJECT.fullmatch(name)
    if match is None or not _PROJECT_ID.fullmatch(match[1]):
        raise _invalid(f"{field} must be of the form projects/PROJECT: {name!r}.")
    return name
