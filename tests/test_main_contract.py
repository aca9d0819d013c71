"""Contract tests: the real main.py served by functions-framework, with each event shape.

Only the two network edges are replaced (the Cloud Tasks client and the Pub/Sub publisher);
everything between the HTTP request and the CreateTask call is the deployed code: the ASGI app
functions-framework builds for it (``create_app`` sees the ``functions_framework.aio`` entry
points), driven by Starlette's test client.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from functions_framework import create_app
from google.api_core import exceptions as core_exceptions
from google.pubsub_v1 import types as pubsub_types
from starlette.testclient import TestClient

from bridge.config import load_settings
from bridge.errors import ConfigError
from bridge.limits import MAX_REQUEST_BYTES
from tests.conftest import b64, old_enqueuer_env, push_body

MAIN = str(Path(__file__).parent.parent / "main.py")
SAMPLES = Path(__file__).parent / "data" / "cloudevents"
ENVELOPE = {"service": "regresos", "payload": {"row": 359, "texto": "ñ"}, "idempotency_key": "K-1"}
DELAYED = {"service": "brain", "payload": {}, "delay_s": 2_592_000}  # 30 days, the most


class FakeTasksClient:
    """``get_errors``: what the next GetTasks raise (none left: the task is found)."""

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self.errors: list[Exception] = []
        self.get_errors: list[Exception] = []

    async def create_task(self, *, request: Any, timeout: float) -> Any:
        self.requests.append(request)
        if self.errors:
            raise self.errors.pop(0)
        return request.task

    async def get_task(self, *, request: Any, timeout: float) -> Any:
        if self.get_errors:
            raise self.get_errors.pop(0)
        return request


class FakePublisher:
    """Publishes nowhere, but builds the message as the real client does (so a string that is not
    UTF-8 fails here as it would there). Its futures are the client's kind (concurrent.futures):
    done at once, or never when ``silent``."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []
        self.silent = False

    def publish(self, topic: str, data: bytes, **attributes: str) -> Any:
        pubsub_types.PubsubMessage.serialize(
            pubsub_types.PubsubMessage(data=data, attributes=attributes)
        )
        self.published.append((topic, data, attributes))
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        if not self.silent:
            future.set_result("id")
        return future


@pytest.fixture
def tasks(monkeypatch: pytest.MonkeyPatch) -> FakeTasksClient:
    client = FakeTasksClient()
    monkeypatch.setattr("bridge.gateway.make_async_client", lambda host: client)
    return client


@pytest.fixture
def publisher(monkeypatch: pytest.MonkeyPatch) -> FakePublisher:
    fake = FakePublisher()
    monkeypatch.setattr("bridge.rejections.make_publisher", lambda: fake)
    return fake


class Answer:
    """A response, read as the tests below read it."""

    def __init__(self, response: Any) -> None:
        self.status_code: int = response.status_code
        self.headers = response.headers
        self._response = response

    def get_json(self) -> Any:
        return self._response.json()


class Client:
    """The served function, posted to as a push subscription or a caller would."""

    def __init__(self, app: Any) -> None:
        self._client = TestClient(app, raise_server_exceptions=False)

    def post(
        self,
        path: str,
        *,
        json: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
    ) -> Answer:
        headers = dict(headers or {})
        if content_type:
            headers["Content-Type"] = content_type
        if json is not None:
            return Answer(self._client.post(path, json=json, headers=headers))
        content = data.encode() if isinstance(data, str) else data
        return Answer(self._client.post(path, content=content, headers=headers))

    def get(self, path: str) -> Answer:
        return Answer(self._client.get(path))


def serve(target: str, signature: str, **env: str) -> Client:
    os.environ.update(old_enqueuer_env() | env)
    os.environ["FUNCTION_TARGET"] = target
    return Client(create_app(target, MAIN, signature))


@pytest.fixture
def function(tasks: FakeTasksClient, publisher: FakePublisher) -> Client:
    return serve("enqueue", "cloudevent")


@pytest.fixture
def http(tasks: FakeTasksClient) -> Client:
    return serve("enqueue_http", "http")


def ce_headers(**extra: str) -> dict[str, str]:
    return {
        "ce-id": "1001",
        "ce-specversion": "1.0",
        "ce-source": "//pubsub.googleapis.com/projects/demo-project/topics/enqueue-requests",
        "ce-type": "google.cloud.pubsub.topic.v1.messagePublished",
        "ce-time": "2026-11-28T12:00:00Z",
        "Content-Type": "application/json",
        **extra,
    }


def test_eventarc_binary_mode(function: Client, tasks: FakeTasksClient) -> None:
    response = function.post("/", headers=ce_headers(), json=push_body(ENVELOPE))
    assert response.status_code == 200
    (request,) = tasks.requests
    assert request.parent.endswith("/queues/queue-regresos")
    assert json.loads(request.task.http_request.body) == ENVELOPE["payload"]


def test_eventarc_structured_mode(function: Client, tasks: FakeTasksClient) -> None:
    event = {
        "specversion": "1.0",
        "id": "1001",
        "source": "//pubsub.googleapis.com/projects/demo-project/topics/enqueue-requests",
        "type": "google.cloud.pubsub.topic.v1.messagePublished",
        "time": "2026-11-28T12:00:00Z",
        "datacontenttype": "application/json",
        "data": push_body(ENVELOPE),
    }
    response = function.post(
        "/", data=json.dumps(event), headers={"Content-Type": "application/cloudevents+json"}
    )
    assert response.status_code == 200
    assert len(tasks.requests) == 1


@pytest.mark.parametrize("path", ["/", "/projects/demo-project/topics/enqueue-requests"])
def test_raw_push_body(function: Client, tasks: FakeTasksClient, path: str) -> None:
    response = function.post(path, json=push_body(ENVELOPE, attributes={}))
    assert response.status_code == 200
    (request,) = tasks.requests
    assert request.task.http_request.headers["X-Pubsub-Message-Id"] == "1001"


def test_raw_push_attribute_only_message_with_empty_data(
    function: Client, tasks: FakeTasksClient, publisher: FakePublisher
) -> None:
    body = push_body("", attributes={"service": "brain"})
    assert function.post("/", json=body).status_code == 200
    assert tasks.requests == []
    (_, _, attributes) = publisher.published[0]
    assert attributes["bridge_reason"] == "missing_payload"


def test_a_rejection_waits_publish_timeout_s_not_the_createtask_timeout(
    tasks: FakeTasksClient, publisher: FakePublisher, capsys: pytest.CaptureFixture[str]
) -> None:
    function = serve("enqueue", "cloudevent", TASKS_TIMEOUT_S="7", PUBLISH_TIMEOUT_S="1")
    publisher.silent = True  # Pub/Sub never confirms
    body = push_body("", attributes={"service": "brain"})
    started = time.monotonic()
    assert function.post("/", json=body).status_code == 503  # not stored: redelivered
    assert 1 <= time.monotonic() - started < 5
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["outcome"] == "retry"
    assert "no confirmation within 1 s" in line["error"]


def test_raw_push_without_data_is_refused_by_functions_framework(function: Client) -> None:
    # Documented limitation: functions-framework answers 400 before the bridge runs, so such a
    # message can only end in the dead-letter topic. Our publishers always send data.
    body = push_body("{}")
    del body["message"]["data"]
    assert function.post("/", json=body).status_code == 400


@pytest.mark.parametrize("name", ["binary", "text", "duplicatedFields"])
def test_google_cloudevents_samples_are_rejected_with_their_data(
    function: Client, publisher: FakePublisher, name: str
) -> None:
    sample = json.loads((SAMPLES / f"MessagePublishedData-{name}.json").read_text())
    response = function.post("/", headers=ce_headers(), json=sample)
    assert response.status_code == 200
    (topic, data, attributes) = publisher.published[0]
    assert topic == "projects/demo-project/topics/enqueue-requests-rejected"
    assert data == base64.b64decode(sample["message"]["data"])
    assert attributes["bridge_reason"] == "bad_json"
    assert attributes["bridge_message_id"] == "message-id"


def test_a_transient_failure_answers_503_for_redelivery(
    function: Client, tasks: FakeTasksClient, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks.errors.append(core_exceptions.ServiceUnavailable("down"))
    assert function.post("/", json=push_body(ENVELOPE)).status_code == 503
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err  # one structured line, no stack dump
    assert json.loads(captured.out.splitlines()[-1])["outcome"] == "retry"
    assert function.post("/", json=push_body(ENVELOPE)).status_code == 200


def test_duplicate_is_acked_as_a_duplicate_not_a_rejection(
    function: Client,
    tasks: FakeTasksClient,
    publisher: FakePublisher,
    capsys: pytest.CaptureFixture[str],
) -> None:
    tasks.errors.append(core_exceptions.AlreadyExists("exists"))
    assert function.post("/", json=push_body(ENVELOPE)).status_code == 200  # acked
    # A rejection is acked with 200 too: what makes it a duplicate is the log and no rejection.
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["outcome"] == "duplicate"
    assert publisher.published == []
    assert len(tasks.requests) == 1


@pytest.mark.parametrize(
    ("get_error", "state", "severity"),
    [
        (None, "pending", "INFO"),
        (core_exceptions.NotFound("existed recently"), "reserved", "WARNING"),
        # GetTask failed: still acked (a redelivery would meet ALREADY_EXISTS again).
        (core_exceptions.PermissionDenied("cloudtasks.tasks.get"), "unknown", "INFO"),
    ],
)
def test_a_duplicate_logs_its_task_state(
    function: Client,
    tasks: FakeTasksClient,
    capsys: pytest.CaptureFixture[str],
    get_error: Exception | None,
    state: str,
    severity: str,
) -> None:
    tasks.errors.append(core_exceptions.AlreadyExists("exists"))
    tasks.get_errors.extend([get_error] if get_error else [])
    assert function.post("/", json=push_body(ENVELOPE)).status_code == 200
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (line["outcome"], line["task_state"], line["severity"]) == ("duplicate", state, severity)
    if state == "reserved":
        assert "will NOT run" in line["message"]
        assert "about 1 hour, up to 24 hours" in line["message"]
        assert "new idempotency key" in line["message"]


def test_aborted_is_retried_not_acked_as_a_duplicate(
    function: Client, tasks: FakeTasksClient, publisher: FakePublisher
) -> None:
    tasks.errors.append(core_exceptions.Aborted("concurrent modification"))  # also a Conflict
    assert function.post("/", json=push_body(ENVELOPE)).status_code == 503
    assert publisher.published == []
    assert function.post("/", json=push_body(ENVELOPE)).status_code == 200  # the redelivery


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"messageId": "1\r\nX-Injected: 1"}, "bad_event"),  # header injection
        ({"messageId": "\ud800"}, "bad_event"),  # was a 500 UnicodeEncodeError
        ({"attributes": {"service": "brain\ud800"}}, "wrong_type"),  # not a valid string
        ({"attributes": {"a\ud800": "b"}, "data": b64('{"service": "brain"}')}, "missing_field"),
        ({"publishTime": "9999-12-31T00:00:00Z", "data": b64(json.dumps(DELAYED))}, None),
    ],
)
def test_hostile_pushes_are_answered_2xx_never_5xx(
    function: Client,
    tasks: FakeTasksClient,
    publisher: FakePublisher,
    message: dict[str, Any],
    reason: str | None,
) -> None:
    body = push_body(ENVELOPE)
    body["message"].update(message)
    if "messageId" in message:
        body["message"]["message_id"] = message["messageId"]
    response = function.post(
        "/", data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 200
    if reason is None:
        (request,) = tasks.requests  # scheduled 30 days from now, not from year 9999
        scheduled = request.task.schedule_time
        assert scheduled - datetime.now(UTC) < timedelta(days=30, seconds=1)
    else:
        (_, _, attributes) = publisher.published[0]
        assert attributes["bridge_reason"] == reason
        assert tasks.requests == []


def test_the_pubsub_entry_refuses_to_start_without_a_rejected_topic() -> None:
    env = old_enqueuer_env()
    del env["REJECTED_TOPIC"]
    os.environ.clear()
    os.environ.update(env)
    with pytest.raises(ConfigError, match="REJECTED_TOPIC"):
        serve("enqueue", "cloudevent", REJECTED_TOPIC="")


def test_a_bad_variable_stops_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="DEADLINE_REGRESOS_S"):
        serve("enqueue", "cloudevent", DEADLINE_REGRESOS_S="3600")


# --- POST /enqueue --------------------------------------------------------------------------


def test_http_created_answers_like_the_old_enqueuer(http: Client, tasks: FakeTasksClient) -> None:
    response = http.post("/enqueue", json=ENVELOPE)
    assert response.status_code == 200
    body = response.get_json()
    (request,) = tasks.requests
    assert body == {
        "ok": True,
        "task": request.task.name,
        "service": "regresos",
        "queue": "queue-regresos",
        "deadline_s": 1800,
        "idempotency_key": "K-1",
        "duplicate": False,
    }
    assert "X-Pubsub-Message-Id" not in request.task.http_request.headers


def test_http_duplicate(http: Client, tasks: FakeTasksClient) -> None:
    tasks.errors.append(core_exceptions.AlreadyExists("exists"))
    response = http.post("/enqueue", json=ENVELOPE)
    assert response.status_code == 200
    assert response.get_json()["duplicate"] is True
    assert response.get_json()["task_state"] == "pending"


def test_http_reserved_duplicate_says_it_will_not_run(
    http: Client, tasks: FakeTasksClient, capsys: pytest.CaptureFixture[str]
) -> None:
    tasks.errors.append(core_exceptions.AlreadyExists("exists"))
    tasks.get_errors.append(core_exceptions.NotFound("existed recently"))
    response = http.post("/enqueue", json=ENVELOPE)
    assert response.status_code == 200
    assert (response.get_json()["duplicate"], response.get_json()["task_state"]) == (
        True,
        "reserved",
    )
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (line["task_state"], line["severity"]) == ("reserved", "WARNING")
    assert "will NOT run" in line["message"]


def test_http_aborted_is_503_not_a_duplicate(http: Client, tasks: FakeTasksClient) -> None:
    tasks.errors.append(core_exceptions.Aborted("concurrent modification"))
    response = http.post("/enqueue", json=ENVELOPE)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "ABORTED" in response.get_json()["detail"]


def test_http_without_key_gets_a_random_one(http: Client, tasks: FakeTasksClient) -> None:
    unkeyed = {"service": "brain", "payload": {}}
    first = http.post("/enqueue", json=unkeyed).get_json()
    second = http.post("/enqueue", json=unkeyed).get_json()
    assert first["idempotency_key"] != second["idempotency_key"]
    assert first["task"] != second["task"]  # no dedupe, as before
    assert (
        tasks.requests[0].task.http_request.headers["X-Idempotency-Key"] == first["idempotency_key"]
    )


def test_http_delay_counts_from_now(http: Client, tasks: FakeTasksClient) -> None:
    http.post("/enqueue", json={"service": "brain", "payload": {}, "delay_s": 3600})
    scheduled = tasks.requests[0].task.schedule_time
    assert abs(scheduled - (datetime.now(UTC) + timedelta(hours=1))) < timedelta(seconds=30)


def test_http_unknown_service_is_422_listing_the_known_ones(http: Client) -> None:
    response = http.post("/enqueue", json={"service": "cerebro", "payload": {}})
    assert response.status_code == 422
    (item,) = response.get_json()["detail"]
    assert item["loc"] == ["body", "service"]
    assert item["type"] == "unknown_service"
    assert item["ctx"]["known_services"] == ["brain", "regresos", "testimonios", "transcripciones"]


@pytest.mark.parametrize(
    ("body", "kind", "loc"),
    [
        (
            b'{"service": "brain", "payload": {}, "delay_s": "30"}',
            "wrong_type",
            ["body", "delay_s"],
        ),
        (b'{"service": "brain", "payload": [1]}', "payload_not_object", ["body", "payload"]),
        (
            b'{"service": "brain", "payload": {}, "deadline_s": 3600}',
            "out_of_range",
            ["body", "deadline_s"],
        ),
        (b'{"service": "brain"}', "missing_field", ["body", "payload"]),
        (b'{"service": "brain", "payload": {}, "x": 1}', "unknown_field", ["body", "x"]),
        (b"{oops", "bad_json", ["body"]),
        (b"", "bad_json", ["body"]),
    ],
)
def test_http_invalid_requests_are_422(
    http: Client, body: bytes, kind: str, loc: list[str]
) -> None:
    response = http.post("/enqueue", data=body, content_type="application/json")
    assert response.status_code == 422
    (item,) = response.get_json()["detail"]
    assert (item["type"], item["loc"]) == (kind, loc)
    assert item["msg"]


def test_http_payload_over_the_limit_is_413(tasks: FakeTasksClient) -> None:
    client = serve("enqueue_http", "http", MAX_BODY_BYTES="100")
    response = client.post("/enqueue", json={"service": "brain", "payload": {"x": "y" * 200}})
    assert response.status_code == 413
    assert tasks.requests == []


def test_http_request_over_10_mb_is_413(http: Client) -> None:
    body = b'{"service": "brain", "payload": {"x": "' + b"y" * MAX_REQUEST_BYTES + b'"}}'
    response = http.post("/enqueue", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.get_json() == {"detail": f"request body over {MAX_REQUEST_BYTES} bytes"}


def test_http_transient_failure_is_503_with_retry_after(
    http: Client, tasks: FakeTasksClient
) -> None:
    tasks.errors.append(core_exceptions.DeadlineExceeded("slow"))
    response = http.post("/enqueue", json=ENVELOPE)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"


def test_http_other_paths_and_methods(http: Client) -> None:
    assert http.post("/other", json=ENVELOPE).status_code == 404
    response = http.get("/enqueue")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


def test_http_entry_works_with_the_old_environment_alone(tasks: FakeTasksClient) -> None:
    env = old_enqueuer_env()
    del env["REJECTED_TOPIC"]
    os.environ.clear()
    os.environ.update(env)
    os.environ["FUNCTION_TARGET"] = "enqueue_http"
    client = Client(create_app("enqueue_http", MAIN, "http"))
    assert client.post("/enqueue", json=ENVELOPE).status_code == 200
    assert load_settings(env).rejected_topic is None


def test_b64_helper_roundtrip() -> None:
    assert base64.b64decode(b64("ñ")) == "ñ".encode()


# -- traces ------------------------------------------------------------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{SPAN_ID}-01"


@pytest.mark.parametrize("attribute", ["traceparent", "googclient_traceparent"])
def test_a_published_trace_reaches_the_worker_and_every_log_line(
    function: Client,
    tasks: FakeTasksClient,
    capsys: pytest.CaptureFixture[str],
    attribute: str,
) -> None:
    body = push_body(ENVELOPE, attributes={attribute: TRACEPARENT})
    tasks.errors.append(core_exceptions.ServiceUnavailable("down"))  # a retry line first
    assert function.post("/", json=body).status_code == 503
    assert function.post("/", json=body).status_code == 200
    (_, request) = tasks.requests
    assert request.task.http_request.headers["traceparent"] == TRACEPARENT
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["outcome"] for line in lines] == ["retry", "created"]
    for line in lines:
        assert line["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{TRACE_ID}"
        assert line["logging.googleapis.com/spanId"] == SPAN_ID
        assert line["logging.googleapis.com/trace_sampled"] is True


def test_a_rejected_message_keeps_its_trace_in_the_log(
    function: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    body = push_body({"service": "nope", "payload": {}}, attributes={"traceparent": TRACEPARENT})
    assert function.post("/", json=body).status_code == 200
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["outcome"] == "rejected"
    assert line["logging.googleapis.com/trace"].endswith(TRACE_ID)


@pytest.mark.parametrize(
    "value",
    ["00-xyz", TRACEPARENT.upper(), f"ff-{TRACE_ID}-{SPAN_ID}-01", f"00-{'0' * 32}-{SPAN_ID}-01"],
)
def test_an_invalid_trace_is_ignored_never_rejected(
    function: Client, tasks: FakeTasksClient, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    body = push_body(ENVELOPE, attributes={"traceparent": value})
    assert function.post("/", json=body).status_code == 200
    (request,) = tasks.requests
    assert "traceparent" not in request.task.http_request.headers
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["outcome"] == "created"
    assert "logging.googleapis.com/trace" not in line


def test_an_invalid_traceparent_falls_back_to_pubsubs_own(
    function: Client, tasks: FakeTasksClient
) -> None:
    attributes = {"traceparent": "garbage", "googclient_traceparent": TRACEPARENT}
    assert function.post("/", json=push_body(ENVELOPE, attributes=attributes)).status_code == 200
    (request,) = tasks.requests
    assert request.task.http_request.headers["traceparent"] == TRACEPARENT


def test_http_trace_header_is_forwarded_and_logged(
    http: Client, tasks: FakeTasksClient, capsys: pytest.CaptureFixture[str]
) -> None:
    response = http.post("/enqueue", json=ENVELOPE, headers={"traceparent": TRACEPARENT})
    assert response.status_code == 200
    (request,) = tasks.requests
    assert request.task.http_request.headers["traceparent"] == TRACEPARENT
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["logging.googleapis.com/spanId"] == SPAN_ID


def test_the_python_publishers_trace_reaches_the_worker_and_the_log(
    function: Client, tasks: FakeTasksClient, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.publishing.publisher import build_envelope, envelope_message, traced_message

    message = traced_message(envelope_message(build_envelope("brain", {"row": 1})), None)
    trace_id = message.attributes["traceparent"].split("-")[1]
    body = push_body(message.data.decode(), attributes=dict(message.attributes))
    assert function.post("/", json=body).status_code == 200
    (request,) = tasks.requests
    assert request.task.http_request.headers["traceparent"].split("-")[1] == trace_id
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert line["logging.googleapis.com/trace"] == f"projects/demo-project/traces/{trace_id}"
