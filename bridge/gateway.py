"""The Cloud Tasks gateway: the function's only code that talks to Cloud Tasks, and where its
errors are translated into the bridge's (``raise ... from e``, in one place: ``_translate``). The
``bridge`` command reads through its own boundary, ``bridge.cli.tasks_reader``, with this
module's rules.

Two faces of the same calls: ``AsyncCloudTasksGateway`` (``CloudTasksAsyncClient`` over grpc.aio),
what the function serves with, on one event loop; ``CloudTasksGateway`` (the blocking client), for
the operator's tools. Both build the same request and read every answer through the same table.

One client per process, created on first use (not at import: cold start matters, and a grpc.aio
channel belongs to the event loop of the process that serves). ``CLOUD_TASKS_EMULATOR_HOST`` points
it at an emulator over an insecure channel with no credentials.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Protocol

from google.api_core import exceptions as core_exceptions
from google.cloud import tasks_v2
from google.cloud.tasks_v2.types import cloudtasks

from bridge.errors import PermanentError, Reason, TransientError
from bridge.logs import Outcome, TaskState
from bridge.plan import TaskSpec
from bridge.task import build_request


@dataclass(frozen=True, slots=True)
class CreateResult:
    task_name: str
    duplicate: bool  # True: a task of that name already existed (ALREADY_EXISTS)
    task_state: TaskState | None = None  # duplicates only: what one GetTask found


class TaskGateway(Protocol):
    def create(self, spec: TaskSpec) -> CreateResult: ...


class AsyncTaskGateway(Protocol):
    async def create(self, spec: TaskSpec) -> CreateResult: ...


# What each Cloud Tasks status makes of a CreateTask: one table, mirrored in docs/operating.md (a
# test compares them). The code is gRPC's; over REST it is the error body's ``status`` (409 Conflict
# is ALREADY_EXISTS or ABORTED; 400 is INVALID_ARGUMENT, OUT_OF_RANGE or FAILED_PRECONDITION), never
# guessed from the HTTP status alone. Only ALREADY_EXISTS proves the task exists; only the request
# itself being wrong is permanent. Everything else is retried, which for a named task is safe: a
# repeat that finds the task answers ALREADY_EXISTS. The "infrastructure" answers (missing queue or
# role) cannot succeed until someone fixes them, but then they will: retried, and dead-lettered if
# the fix takes longer than the subscription's attempts.
OUTCOME_BY_STATUS: Mapping[str, Outcome] = MappingProxyType(
    {
        "OK": Outcome.CREATED,
        "CANCELLED": Outcome.RETRY,
        "UNKNOWN": Outcome.RETRY,
        "INVALID_ARGUMENT": Outcome.REJECTED,  # bad id, deadline, size: fails again as is
        "DEADLINE_EXCEEDED": Outcome.RETRY,  # the task may exist: the retry then finds it
        "NOT_FOUND": Outcome.RETRY,  # infrastructure: no such queue (yet)
        "ALREADY_EXISTS": Outcome.DUPLICATE,  # the name is taken: this request is already a task
        "PERMISSION_DENIED": Outcome.RETRY,  # infrastructure: a missing role or actAs
        "RESOURCE_EXHAUSTED": Outcome.RETRY,  # quota
        "FAILED_PRECONDITION": Outcome.RETRY,  # infrastructure: queue deleted or being created
        "ABORTED": Outcome.RETRY,  # a concurrency conflict: no task was created
        "OUT_OF_RANGE": Outcome.REJECTED,  # a value of the request out of range: fails again
        "UNIMPLEMENTED": Outcome.RETRY,  # infrastructure: the endpoint is not Cloud Tasks
        "INTERNAL": Outcome.RETRY,
        "UNAVAILABLE": Outcome.RETRY,
        "DATA_LOSS": Outcome.RETRY,
        "UNAUTHENTICATED": Outcome.RETRY,  # infrastructure: the runtime's credentials
    }
)

_INFRASTRUCTURE = {"NOT_FOUND", "FAILED_PRECONDITION", "PERMISSION_DENIED", "UNAUTHENTICATED"}


class CloudTasksGateway:
    def __init__(
        self,
        *,
        timeout_s: float,
        emulator_host: str | None = None,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._factory = client_factory or (lambda: make_client(emulator_host))
        self._client: Any = None
        self._lock = threading.Lock()

    def create(self, spec: TaskSpec) -> CreateResult:
        try:
            created = self._get_client().create_task(
                request=_create_request(spec), timeout=self._timeout_s
            )
        except core_exceptions.GoogleAPIError as e:  # every answer but OK, and timeouts
            duplicate = _translate(e, spec)  # raised unless ALREADY_EXISTS
            return replace(duplicate, task_state=self.state_of(duplicate.task_name))
        return _created(created, spec)

    def state_of(self, task_name: str) -> TaskState:
        """What a name that CreateTask found taken is (``_state_after``)."""
        try:
            self._get_client().get_task(
                request=cloudtasks.GetTaskRequest(name=task_name), timeout=self._timeout_s
            )
        except core_exceptions.GoogleAPIError as e:
            return _state_after(e)
        return TaskState.PENDING

    def _get_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client


class AsyncCloudTasksGateway:
    """The function's gateway: the same calls as ``CloudTasksGateway``, awaited on grpc.aio, so
    one process holds as many CreateTasks in flight as Cloud Run sends it requests."""

    def __init__(
        self,
        *,
        timeout_s: float,
        emulator_host: str | None = None,
        client_factory: Callable[[], Any] | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._factory = client_factory or (lambda: make_async_client(emulator_host))
        self._client: Any = None  # one event loop, no await before it is set: no lock needed

    async def create(self, spec: TaskSpec) -> CreateResult:
        try:
            created = await self._get_client().create_task(
                request=_create_request(spec), timeout=self._timeout_s
            )
        except core_exceptions.GoogleAPIError as e:  # every answer but OK, and timeouts
            duplicate = _translate(e, spec)  # raised unless ALREADY_EXISTS
            return replace(duplicate, task_state=await self.state_of(duplicate.task_name))
        return _created(created, spec)

    async def state_of(self, task_name: str) -> TaskState:
        """What a name that CreateTask found taken is (``_state_after``)."""
        try:
            await self._get_client().get_task(
                request=cloudtasks.GetTaskRequest(name=task_name), timeout=self._timeout_s
            )
        except core_exceptions.GoogleAPIError as e:
            return _state_after(e)
        return TaskState.PENDING

    def _get_client(self) -> Any:
        if self._client is None:
            self._client = self._factory()
        return self._client


def _create_request(spec: TaskSpec) -> Any:
    """A proto-plus ``CreateTaskRequest`` around the raw message (wrapped, not copied)."""
    return cloudtasks.CreateTaskRequest.wrap(build_request(spec))


def _created(created: Any, spec: TaskSpec) -> CreateResult:
    # The raw message's field: proto-plus's attribute access costs more than the rest of this.
    name = tasks_v2.Task.pb(created).name
    return CreateResult(task_name=name or spec.task_name, duplicate=False)


def _state_after(error: core_exceptions.GoogleAPIError) -> TaskState:
    """What a name CreateTask found taken is, from the GetTask (BASIC view, no payload) that failed.

    A failed GetTask is ``unknown``, never an error: ALREADY_EXISTS already proved the name taken,
    so a redelivery would only meet ALREADY_EXISTS again; the state is for the log. (Production
    needs ``cloudtasks.tasks.get``, which roles/cloudtasks.enqueuer lacks.) The queue exists
    (CreateTask reached it): NOT_FOUND is the name's reservation (``is_reserved``, the one rule
    ``bridge status`` uses too).
    """
    return TaskState.RESERVED if is_reserved(error, name_taken=True) else TaskState.UNKNOWN


def make_async_client(emulator_host: str | None) -> tasks_v2.CloudTasksAsyncClient:
    """Call in the event loop that will use it (a grpc.aio channel belongs to one loop)."""
    if not emulator_host:
        return tasks_v2.CloudTasksAsyncClient()
    import grpc  # only the emulator path needs a hand-made channel
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.tasks_v2.services.cloud_tasks.transports import (
        CloudTasksGrpcAsyncIOTransport,
    )

    transport = CloudTasksGrpcAsyncIOTransport(
        channel=grpc.aio.insecure_channel(emulator_host),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    return tasks_v2.CloudTasksAsyncClient(transport=transport)


def make_client(emulator_host: str | None) -> tasks_v2.CloudTasksClient:
    if not emulator_host:
        return tasks_v2.CloudTasksClient()
    import grpc  # only the emulator path needs a hand-made channel
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

    transport = CloudTasksGrpcTransport(
        channel=grpc.insecure_channel(emulator_host),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
    return tasks_v2.CloudTasksClient(transport=transport)


def _translate(error: core_exceptions.GoogleAPIError, spec: TaskSpec) -> CreateResult:
    """A failed CreateTask as the table says: a duplicate (returned), or raised
    ``PermanentError`` / ``TransientError`` (``raise ... from`` the client's error)."""
    status = status_of(error)
    outcome = OUTCOME_BY_STATUS.get(status) if status else None
    message = getattr(error, "message", None) or str(error)
    if outcome is Outcome.DUPLICATE:
        return CreateResult(task_name=spec.task_name, duplicate=True)
    if outcome is Outcome.REJECTED:
        raise PermanentError(
            Reason.TASK_REJECTED, f"Cloud Tasks refused the task ({status}): {message}"
        ) from error
    if status in _INFRASTRUCTURE:
        message = f"check the queue and IAM: {message}"
    code = status or _unclassified(error)  # no status (a timeout, a bare HTTP error): retry
    raise TransientError(code=code, detail=message) from error


# GetTask's NOT_FOUND for a name that ran or was deleted within the reservation window
# (production's words, googleapis cloudtasks.proto; tasks_emulator says the same).
RESERVED_MARK = "existed recently"


def is_reserved(error: core_exceptions.GoogleAPIError, *, name_taken: bool) -> bool:
    """Whether a GetTask error says the name is reserved: it ran or was deleted recently, so a
    CreateTask of it is a duplicate that will not run. NOT_FOUND says so in its words; right
    after CreateTask found the name taken (``name_taken``, ALREADY_EXISTS) NOT_FOUND can mean
    nothing else. The one answer for the function and ``bridge status``."""
    if status_of(error) != "NOT_FOUND":
        return False
    return name_taken or RESERVED_MARK in (getattr(error, "message", None) or str(error))


def status_of(error: core_exceptions.GoogleAPIError) -> str | None:
    """The canonical status name (``ALREADY_EXISTS``, ...) of a client error, or None.

    Over REST the class comes from the HTTP status alone (409 is ``Conflict`` for both
    ALREADY_EXISTS and ABORTED): the error body's ``status`` says which, so it is read first.
    """
    rest_status = _rest_status(getattr(error, "response", None))
    if rest_status is not None:
        return rest_status
    grpc_status = getattr(error, "grpc_status_code", None)
    return str(grpc_status.name) if grpc_status is not None else None


def _rest_status(response: Any) -> str | None:
    read_json = getattr(response, "json", None)  # a requests.Response; a gRPC call has none
    if not callable(read_json):
        return None
    try:
        body = read_json()
    except ValueError:  # not JSON (a proxy's HTML page)
        return None
    error = body.get("error") if isinstance(body, dict) else None
    status = error.get("status") if isinstance(error, dict) else None
    return status if isinstance(status, str) and status in OUTCOME_BY_STATUS else None


def _unclassified(error: core_exceptions.GoogleAPIError) -> str:
    code = getattr(error, "code", None)
    return f"HTTP {code}" if isinstance(code, int) else type(error).__name__
