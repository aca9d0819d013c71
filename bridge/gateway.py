"""The Cloud Tasks gateway: the only code that talks to Cloud Tasks, and where its errors are
translated into the bridge's (``raise ... from e``, in one place).

One client per process, created on first use (not at import: cold start matters), shared by
functions-framework's threads. ``CLOUD_TASKS_EMULATOR_HOST`` points it at an emulator over an
insecure channel with no credentials.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from google.api_core import exceptions as core_exceptions
from google.cloud import tasks_v2
from google.cloud.tasks_v2.types import cloudtasks

from bridge.errors import PermanentError, Reason, TransientError
from bridge.plan import TaskSpec
from bridge.task import build_request


@dataclass(frozen=True, slots=True)
class CreateResult:
    task_name: str
    duplicate: bool  # True: a task of that name already existed (ALREADY_EXISTS)


class TaskGateway(Protocol):
    def create(self, spec: TaskSpec) -> CreateResult: ...


# Cloud Tasks answers that mean "the infrastructure is wrong" (missing queue, missing role):
# retrying cannot succeed until someone fixes it, but then it will, so they are retried and
# end in the dead-letter topic if the fix takes longer than the subscription's attempts.
_INFRASTRUCTURE = (
    core_exceptions.NotFound,
    core_exceptions.FailedPrecondition,
    core_exceptions.PermissionDenied,
    core_exceptions.Unauthenticated,
)


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
        request = cloudtasks.CreateTaskRequest.wrap(build_request(spec))
        try:
            created = self._get_client().create_task(request=request, timeout=self._timeout_s)
        except core_exceptions.Conflict:  # ALREADY_EXISTS (gRPC) is a subclass of Conflict (REST)
            return CreateResult(task_name=spec.task_name, duplicate=True)
        except _INFRASTRUCTURE as e:  # before BadRequest: FAILED_PRECONDITION is one
            raise TransientError(_code_of(e), f"check the queue and IAM: {e.message}") from e
        except (core_exceptions.InvalidArgument, core_exceptions.BadRequest) as e:
            raise PermanentError(
                Reason.TASK_REJECTED, f"Cloud Tasks refused the task: {e.message}"
            ) from e
        except core_exceptions.GoogleAPIError as e:  # UNAVAILABLE, DEADLINE_EXCEEDED, ... timeouts
            raise TransientError(_code_of(e), str(e)) from e
        return CreateResult(task_name=created.name or spec.task_name, duplicate=False)

    def _get_client(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._factory()
        return self._client


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


def _code_of(error: core_exceptions.GoogleAPIError) -> str:
    grpc_status = getattr(error, "grpc_status_code", None)
    if grpc_status is not None:
        return str(grpc_status.name)
    return type(error).__name__
