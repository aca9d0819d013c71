from __future__ import annotations

import threading
from typing import Any

import pytest
from google.api_core import exceptions as core_exceptions

from bridge.config import Settings
from bridge.envelope import Envelope
from bridge.errors import PermanentError, Reason, TransientError
from bridge.gateway import CloudTasksGateway
from bridge.naming import KeyKind
from bridge.plan import DedupeKey, TaskSpec, plan_task
from tests.conftest import NOW


class ScriptedClient:
    """Stands in for CloudTasksClient: answers with a task named as asked, or raises."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls: list[tuple[Any, float]] = []

    def create_task(self, *, request: Any, timeout: float) -> Any:
        self.calls.append((request, timeout))
        if self.error:
            raise self.error
        return request.task


@pytest.fixture
def spec(settings: Settings) -> TaskSpec:
    return plan_task(
        Envelope(service="brain", payload={"a": 1}),
        settings=settings,
        dedupe=DedupeKey(KeyKind.IDEMPOTENCY_KEY, "K"),
        message_id="1",
        not_before=NOW,
        now=NOW,
    )


def test_created_with_the_timeout(spec: TaskSpec) -> None:
    client = ScriptedClient()
    result = CloudTasksGateway(timeout_s=7.5, client_factory=lambda: client).create(spec)
    assert (result.task_name, result.duplicate) == (spec.task_name, False)
    request, timeout = client.calls[0]
    assert timeout == 7.5
    assert request.task.name == spec.task_name


@pytest.mark.parametrize(
    "error", [core_exceptions.AlreadyExists("exists"), core_exceptions.Conflict("409")]
)
def test_already_exists_is_a_duplicate_not_an_error(spec: TaskSpec, error: Exception) -> None:
    gateway = CloudTasksGateway(timeout_s=1, client_factory=lambda: ScriptedClient(error))
    assert gateway.create(spec).duplicate


@pytest.mark.parametrize(
    "error", [core_exceptions.InvalidArgument("bad id"), core_exceptions.BadRequest("400")]
)
def test_invalid_argument_is_permanent(spec: TaskSpec, error: Exception) -> None:
    gateway = CloudTasksGateway(timeout_s=1, client_factory=lambda: ScriptedClient(error))
    with pytest.raises(PermanentError) as caught:
        gateway.create(spec)
    assert caught.value.reason is Reason.TASK_REJECTED
    assert caught.value.__cause__ is error


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (core_exceptions.ServiceUnavailable("down"), "UNAVAILABLE"),
        (core_exceptions.DeadlineExceeded("slow"), "DEADLINE_EXCEEDED"),
        (core_exceptions.ResourceExhausted("quota"), "RESOURCE_EXHAUSTED"),
        (core_exceptions.InternalServerError("oops"), "INTERNAL"),
        (core_exceptions.NotFound("no queue"), "NOT_FOUND"),
        (core_exceptions.FailedPrecondition("queue"), "FAILED_PRECONDITION"),
        (core_exceptions.PermissionDenied("actAs"), "PERMISSION_DENIED"),
        (core_exceptions.RetryError("gave up", cause=None), "RetryError"),
    ],
)
def test_transient_and_infrastructure_errors_are_retried(
    spec: TaskSpec, error: Exception, code: str
) -> None:
    gateway = CloudTasksGateway(timeout_s=1, client_factory=lambda: ScriptedClient(error))
    with pytest.raises(TransientError) as caught:
        gateway.create(spec)
    assert caught.value.code == code
    assert caught.value.__cause__ is error


def test_one_client_per_process_created_lazily_even_under_threads(spec: TaskSpec) -> None:
    made: list[ScriptedClient] = []
    barrier = threading.Barrier(8)

    def factory() -> ScriptedClient:
        made.append(ScriptedClient())
        return made[-1]

    gateway = CloudTasksGateway(timeout_s=1, client_factory=factory)
    assert made == []  # nothing at construction: cold start stays cheap

    def create() -> None:
        barrier.wait()
        gateway.create(spec)

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1
    assert len(made[0].calls) == 8


def test_the_emulator_client_uses_an_insecure_channel() -> None:
    from bridge.gateway import make_client

    transport: Any = make_client("127.0.0.1:1").transport
    assert transport.grpc_channel._channel.target().endswith(b"127.0.0.1:1")
