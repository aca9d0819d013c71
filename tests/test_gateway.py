from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.api_core import exceptions as core_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksRestTransport
from google.cloud.tasks_v2.types import cloudtasks, task

from bridge.config import Settings, load_settings
from bridge.envelope import Envelope
from bridge.errors import PermanentError, Reason, TransientError
from bridge.gateway import OUTCOME_BY_STATUS, CloudTasksGateway
from bridge.logs import Outcome, TaskState
from bridge.naming import KeyKind
from bridge.plan import DedupeKey, TaskSpec, plan_task
from tests.conftest import NOW, old_enqueuer_env
from tests.tasks_emulator.conftest import Emulator, Worker, grpc_client, wait_for


class ScriptedClient:
    """Stands in for CloudTasksClient: answers with a task named as asked, or raises.

    ``get_error``: what GetTask raises (None: it finds the task).
    """

    def __init__(self, error: Exception | None = None, get_error: Exception | None = None) -> None:
        self.error = error
        self.get_error = get_error
        self.calls: list[tuple[Any, float]] = []
        self.gets: list[tuple[Any, float]] = []

    def create_task(self, *, request: Any, timeout: float) -> Any:
        self.calls.append((request, timeout))
        if self.error:
            raise self.error
        return request.task

    def get_task(self, *, request: Any, timeout: float) -> Any:
        self.gets.append((request, timeout))
        if self.get_error:
            raise self.get_error
        return task.Task(name=request.name)


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


def test_already_exists_is_a_duplicate_not_an_error(spec: TaskSpec) -> None:
    error = core_exceptions.AlreadyExists("exists")
    gateway = CloudTasksGateway(timeout_s=1, client_factory=lambda: ScriptedClient(error))
    assert gateway.create(spec).duplicate


@pytest.mark.parametrize(
    ("get_error", "state"),
    [
        (None, TaskState.PENDING),  # the task is there: the earlier request is still queued
        (core_exceptions.NotFound("existed recently"), TaskState.RESERVED),  # ran or was deleted
        (core_exceptions.PermissionDenied("no cloudtasks.tasks.get"), TaskState.UNKNOWN),
        (core_exceptions.DeadlineExceeded("slow"), TaskState.UNKNOWN),
        (core_exceptions.ServiceUnavailable("down"), TaskState.UNKNOWN),
    ],
)
def test_a_duplicate_says_its_task_state_from_one_get_task(
    spec: TaskSpec, get_error: Exception | None, state: TaskState
) -> None:
    client = ScriptedClient(core_exceptions.AlreadyExists("exists"), get_error=get_error)
    result = CloudTasksGateway(timeout_s=4.5, client_factory=lambda: client).create(spec)
    assert (result.duplicate, result.task_state, result.task_name) == (True, state, spec.task_name)
    (request, timeout), *more = client.gets
    assert more == []  # one GetTask, never retried
    assert (request.name, timeout) == (spec.task_name, 4.5)
    assert request.response_view == task.Task.View.VIEW_UNSPECIFIED  # BASIC: no payload read


def test_no_get_task_when_created(spec: TaskSpec) -> None:
    client = ScriptedClient()
    result = CloudTasksGateway(timeout_s=1, client_factory=lambda: client).create(spec)
    assert result.task_state is None
    assert client.gets == []


@pytest.mark.parametrize(
    "error", [core_exceptions.Aborted("concurrent"), core_exceptions.InvalidArgument("bad id")]
)
def test_no_get_task_when_create_fails(spec: TaskSpec, error: Exception) -> None:
    client = ScriptedClient(error)
    with pytest.raises((TransientError, PermanentError)):
        CloudTasksGateway(timeout_s=1, client_factory=lambda: client).create(spec)
    assert client.gets == []


@pytest.mark.parametrize(
    "error",
    [
        core_exceptions.Aborted("concurrent"),  # a Conflict too: no task was created
        core_exceptions.Conflict("409 without a status"),  # cannot prove the task exists
    ],
)
def test_a_conflict_that_is_not_already_exists_is_retried(spec: TaskSpec, error: Exception) -> None:
    gateway = CloudTasksGateway(timeout_s=1, client_factory=lambda: ScriptedClient(error))
    with pytest.raises(TransientError):
        gateway.create(spec)


@pytest.mark.parametrize(
    "error", [core_exceptions.InvalidArgument("bad id"), core_exceptions.OutOfRange("schedule")]
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
        (core_exceptions.BadRequest("400 without a status"), "HTTP 400"),
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


# -- every status code, answered by a real server ------------------------------------------


class Answer:
    """What the test servers answer next: a gRPC status, or (REST) an HTTP status and body."""

    def __init__(self) -> None:
        self.code = grpc.StatusCode.OK
        self.http: tuple[int, dict[str, Any]] = (200, {})
        self.requests: list[Any] = []


_CreateTaskRequest: Any = cloudtasks.CreateTaskRequest.pb()
_Task: Any = task.Task.pb()


@pytest.fixture(scope="module")
def grpc_tasks() -> Iterator[tuple[str, Answer]]:
    """A CloudTasks gRPC service on 127.0.0.1 whose CreateTask answers ``Answer.code``."""
    answer = Answer()

    def create_task(request: Any, context: Any) -> Any:
        answer.requests.append(request)
        if answer.code is grpc.StatusCode.OK:
            return _Task(name=request.task.name)
        context.abort(answer.code, f"the test server answers {answer.code.name}")

    handler = grpc.method_handlers_generic_handler(
        "google.cloud.tasks.v2.CloudTasks",
        {
            "CreateTask": grpc.unary_unary_rpc_method_handler(
                create_task,
                request_deserializer=_CreateTaskRequest.FromString,
                response_serializer=_Task.SerializeToString,
            )
        },
    )
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", answer
    finally:
        server.stop(grace=None)


def outcome_of(gateway: CloudTasksGateway, spec: TaskSpec) -> tuple[Outcome, str | None]:
    """What the gateway made of the answer, and the code it reported (reason or retry code)."""
    try:
        result = gateway.create(spec)
    except PermanentError as e:
        return Outcome.REJECTED, e.reason.value
    except TransientError as e:
        return Outcome.RETRY, e.code
    return (Outcome.DUPLICATE if result.duplicate else Outcome.CREATED), None


def test_the_table_covers_every_grpc_status_code() -> None:
    assert set(OUTCOME_BY_STATUS) == {code.name for code in grpc.StatusCode}
    # The two this table exists for: only ALREADY_EXISTS is a duplicate; ABORTED is retried.
    assert OUTCOME_BY_STATUS["ALREADY_EXISTS"] is Outcome.DUPLICATE
    assert OUTCOME_BY_STATUS["ABORTED"] is Outcome.RETRY
    assert [s for s, o in OUTCOME_BY_STATUS.items() if o is Outcome.DUPLICATE] == ["ALREADY_EXISTS"]


@pytest.mark.parametrize("code", list(grpc.StatusCode), ids=lambda c: c.name)
def test_every_grpc_status_from_a_real_server_gets_the_tables_outcome(
    grpc_tasks: tuple[str, Answer], spec: TaskSpec, code: grpc.StatusCode
) -> None:
    host, answer = grpc_tasks
    answer.code = code
    answer.requests.clear()
    gateway = CloudTasksGateway(timeout_s=10, emulator_host=host)  # the bridge's real client
    outcome, reported = outcome_of(gateway, spec)
    assert outcome is OUTCOME_BY_STATUS[code.name]
    if outcome is Outcome.RETRY:
        assert reported == code.name  # logged as the upstream code
    if outcome is Outcome.REJECTED:
        assert reported == Reason.TASK_REJECTED.value
    (request,) = answer.requests  # one call: the client library itself never retried
    assert request.task.name == spec.task_name


@pytest.fixture(scope="module")
def rest_tasks() -> Iterator[tuple[str, Answer]]:
    """Cloud Tasks' REST API on 127.0.0.1: CreateTask answers ``Answer.http``."""
    answer = Answer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            answer.requests.append((self.path, json.loads(self.rfile.read(length) or b"{}")))
            status, body = answer.http
            if status == 200:
                body = answer.requests[-1][1]["task"]
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", answer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def google_error(http_status: int, status: str | None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": http_status, "message": f"test server: {status}"}
    if status is not None:
        error["status"] = status
    return {"error": error}


@pytest.mark.parametrize(
    ("http_status", "status", "expected"),
    [
        (200, None, Outcome.CREATED),
        (409, "ALREADY_EXISTS", Outcome.DUPLICATE),
        (409, "ABORTED", Outcome.RETRY),  # also a 409 Conflict: never a duplicate
        (409, None, Outcome.RETRY),  # a 409 that does not say which: cannot prove the task exists
        (400, "INVALID_ARGUMENT", Outcome.REJECTED),
        (400, "FAILED_PRECONDITION", Outcome.RETRY),  # a 400 too, but the queue is at fault
        (404, "NOT_FOUND", Outcome.RETRY),
        (503, "UNAVAILABLE", Outcome.RETRY),
    ],
)
def test_over_rest_the_error_bodys_status_decides(
    rest_tasks: tuple[str, Answer],
    spec: TaskSpec,
    http_status: int,
    status: str | None,
    expected: Outcome,
) -> None:
    host, answer = rest_tasks
    answer.http = (http_status, google_error(http_status, status))
    transport = CloudTasksRestTransport(
        host=host,
        credentials=AnonymousCredentials(),
        url_scheme="http",
    )
    gateway = CloudTasksGateway(
        timeout_s=10, client_factory=lambda: tasks_v2.CloudTasksClient(transport=transport)
    )
    outcome, _ = outcome_of(gateway, spec)
    assert outcome is expected
    if status is not None:
        assert outcome is OUTCOME_BY_STATUS[status]


README = Path(__file__).parent.parent / "docs" / "operating.md"


def readme_status_table() -> dict[str, str]:
    """docs/operating.md's "What Cloud Tasks' answers become" table: status -> outcome."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### What Cloud Tasks' answers become", 1)[1]
    table = section.split("\n\n|", 1)[1].split("\n\n", 1)[0]
    rows = re.findall(r"^\| `([A-Z_]+)` \| `(\w+)` \|", "|" + table, re.M)
    return dict(rows)


def test_the_readme_table_is_the_codes_table() -> None:
    assert readme_status_table() == {s: o.value for s, o in OUTCOME_BY_STATUS.items()}


# -- duplicates that say why, against the real emulator (tasks_emulator) --------------------


@pytest.fixture(scope="module")
def emulated() -> Iterator[tuple[Emulator, Worker, Settings]]:
    """``python -m tasks_emulator`` with the brain queue, and a worker the brain route targets."""
    from tests.tasks_emulator.conftest import running_emulator

    route = load_settings(old_enqueuer_env()).routes["brain"]
    with (
        running_emulator("--queue", route.queue_path, "--name-reserve-s", "3600") as emulator,
        Worker(certs_url=emulator.certs_url) as worker,
    ):
        env = {**old_enqueuer_env(), "URL_BRAIN": f"{worker.url}/process"}
        yield emulator, worker, load_settings({**env, "AUD_BRAIN": worker.url})


def emulated_spec(settings: Settings, key: str, *, delay_s: int = 0) -> TaskSpec:
    now = datetime.now(UTC)
    return plan_task(
        Envelope(service="brain", payload={"case": key}, delay_s=delay_s),
        settings=settings,
        dedupe=DedupeKey(KeyKind.IDEMPOTENCY_KEY, key),
        message_id=None,
        not_before=now,
        now=now,
    )


def test_against_the_emulator_a_queued_task_is_pending_a_deleted_one_reserved(
    emulated: tuple[Emulator, Worker, Settings],
) -> None:
    emulator, _, settings = emulated
    gateway = CloudTasksGateway(timeout_s=10, emulator_host=emulator.grpc_target)
    spec = emulated_spec(settings, "CASE-001", delay_s=3600)  # stays queued for the test
    first = gateway.create(spec)
    assert (first.duplicate, first.task_state) == (False, None)
    again = gateway.create(spec)
    assert (again.duplicate, again.task_state) == (True, TaskState.PENDING)
    grpc_client(emulator).delete_task(name=spec.task_name)
    after = gateway.create(spec)
    assert (after.duplicate, after.task_state) == (True, TaskState.RESERVED)


def test_against_the_emulator_a_task_that_ran_is_reserved(
    emulated: tuple[Emulator, Worker, Settings],
) -> None:
    emulator, worker, settings = emulated
    gateway = CloudTasksGateway(timeout_s=10, emulator_host=emulator.grpc_target)
    spec = emulated_spec(settings, "CASE-002")
    assert not gateway.create(spec).duplicate
    task_id = spec.task_name.rsplit("/", 1)[1]
    (delivery,) = worker.wait_for(task_id, 1, timeout_s=30)
    assert delivery.headers["X-Idempotency-Key"] == "CASE-002"
    client = grpc_client(emulator)

    def finished() -> bool:
        try:
            client.get_task(name=spec.task_name)
        except core_exceptions.NotFound:
            return True
        return False

    wait_for(finished, timeout_s=30, what="the task to be recorded as done")
    result = gateway.create(spec)
    assert (result.duplicate, result.task_state) == (True, TaskState.RESERVED)
    assert len(worker.of(task_id)) == 1  # the re-created request did not run
