"""The REST adapter, driven by the official client (``transport="rest"``) over a real server.

A fake ``CloudTasksApi`` records the raw request each RPC received and answers a canned message or
raises an ``ApiError``, so these tests check the wire mapping only: paths, bodies, query params,
JSON both ways, and errors as google-api-core raises them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import google.auth.transport.requests
import grpc
import pytest
import requests
from google.api_core import exceptions as core_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.oauth2 import id_token
from google.protobuf import duration_pb2, field_mask_pb2, timestamp_pb2
from google.protobuf.message import Message
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import Client

from tasks_emulator import api
from tasks_emulator.api import RPCS, CloudTasksApi
from tasks_emulator.errors import ApiError
from tasks_emulator.oidc import TokenIssuer
from tasks_emulator.rest_api import MAX_REQUEST_BYTES, make_rest_app

LOCATION = "projects/demo-project/locations/us-central1"
QUEUE = LOCATION + "/queues/my-queue"
TASK = QUEUE + "/tasks/task-1"


def as_api(fake: FakeService) -> CloudTasksApi:
    """The fake as the adapter takes it: it answers each RPC with whatever message a test gave,
    so its methods take and return any Message; the adapter calls them by name (api.RPCS)."""
    return cast(CloudTasksApi, fake)


class FakeService:
    """Answers each RPC with ``responses[rpc]`` (else an empty one) or raises ``errors[rpc]``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: list[tuple[str, Message]] = []
        self.responses: dict[str, Message] = {}
        self.errors: dict[str, Exception] = {}

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.responses.clear()
            self.errors.clear()

    def _answer(self, rpc: str, request: Message) -> Message:
        with self._lock:
            self.calls.append((rpc, request))
        if rpc in self.errors:
            raise self.errors[rpc]
        if rpc in self.responses:
            return self.responses[rpc]
        _, _, response_cls = RPCS[rpc]
        response: Message = response_cls()
        return response

    def create_queue(self, request: Message) -> Message:
        return self._answer("CreateQueue", request)

    def get_queue(self, request: Message) -> Message:
        return self._answer("GetQueue", request)

    def list_queues(self, request: Message) -> Message:
        return self._answer("ListQueues", request)

    def update_queue(self, request: Message) -> Message:
        return self._answer("UpdateQueue", request)

    def delete_queue(self, request: Message) -> Message:
        return self._answer("DeleteQueue", request)

    def purge_queue(self, request: Message) -> Message:
        return self._answer("PurgeQueue", request)

    def pause_queue(self, request: Message) -> Message:
        return self._answer("PauseQueue", request)

    def resume_queue(self, request: Message) -> Message:
        return self._answer("ResumeQueue", request)

    def create_task(self, request: Message) -> Message:
        return self._answer("CreateTask", request)

    def get_task(self, request: Message) -> Message:
        return self._answer("GetTask", request)

    def list_tasks(self, request: Message) -> Message:
        return self._answer("ListTasks", request)

    def delete_task(self, request: Message) -> Message:
        return self._answer("DeleteTask", request)

    def run_task(self, request: Message) -> Message:
        return self._answer("RunTask", request)

    def get_iam_policy(self, request: Message) -> Message:
        return self._answer("GetIamPolicy", request)

    def set_iam_policy(self, request: Message) -> Message:
        return self._answer("SetIamPolicy", request)

    def test_iam_permissions(self, request: Message) -> Message:
        return self._answer("TestIamPermissions", request)

    def batch_create_tasks(self, request: Message) -> Message:
        return self._answer("BatchCreateTasks", request)

    def batch_delete_tasks(self, request: Message) -> Message:
        return self._answer("BatchDeleteTasks", request)

    def buffer_task(self, request: Message) -> Message:
        return self._answer("BufferTask", request)

    def get_cmek_config(self, request: Message) -> Message:
        return self._answer("GetCmekConfig", request)

    def update_cmek_config(self, request: Message) -> Message:
        return self._answer("UpdateCmekConfig", request)

    def list_locations(self, request: Message) -> Message:
        return self._answer("ListLocations", request)

    def get_location(self, request: Message) -> Message:
        return self._answer("GetLocation", request)

    def get_operation(self, request: Message) -> Message:
        return self._answer("GetOperation", request)

    def list_operations(self, request: Message) -> Message:
        return self._answer("ListOperations", request)

    def delete_operation(self, request: Message) -> Message:
        return self._answer("DeleteOperation", request)

    def cancel_operation(self, request: Message) -> Message:
        return self._answer("CancelOperation", request)


ISSUER = TokenIssuer.load_or_create(None)


@pytest.fixture(scope="module")
def module_service() -> FakeService:
    return FakeService()


@pytest.fixture
def service(module_service: FakeService) -> Iterator[FakeService]:
    module_service.reset()
    yield module_service
    module_service.reset()


@pytest.fixture(scope="module")
def server(module_service: FakeService) -> Iterator[BaseWSGIServer]:
    instance = make_server(
        "127.0.0.1", 0, make_rest_app(as_api(module_service), ISSUER), threaded=True
    )
    thread = threading.Thread(target=instance.serve_forever, daemon=True)
    thread.start()
    try:
        yield instance
    finally:
        instance.shutdown()
        instance.server_close()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def client(server: BaseWSGIServer) -> tasks_v2.CloudTasksClient:
    # The REST transport takes a scheme in api_endpoint ("http://" is kept, not forced to https).
    return tasks_v2.CloudTasksClient(
        transport="rest",
        client_options={"api_endpoint": f"http://127.0.0.1:{server.server_port}"},
        credentials=AnonymousCredentials(),
    )


def _queue_pb() -> api.Queue:
    return api.Queue(
        name=QUEUE,
        state=api.Queue.RUNNING,
        rate_limits=api.RateLimits(
            max_dispatches_per_second=500.0,
            max_burst_size=100,
            max_concurrent_dispatches=1000,
        ),
        retry_config=api.RetryConfig(
            max_attempts=100,
            min_backoff=duration_pb2.Duration(nanos=100_000_000),
            max_backoff=duration_pb2.Duration(seconds=3600),
            max_doublings=16,
        ),
    )


def _task_pb() -> api.Task:
    return api.Task(
        name=TASK,
        http_request=api.HttpRequest(
            url="https://worker.example/run",
            http_method=api.HttpMethod.PUT,
            headers={"Content-Type": "application/json"},
            body=b'{"n": 1}',
            oidc_token=api.OidcToken(
                service_account_email="invoker@demo-project.iam.gserviceaccount.com",
                audience="https://worker.example",
            ),
        ),
        schedule_time=timestamp_pb2.Timestamp(seconds=1_800_000_000, nanos=500_000_000),
        dispatch_deadline=duration_pb2.Duration(seconds=30),
        dispatch_count=2,
        response_count=1,
        first_attempt=api.Attempt(dispatch_time=timestamp_pb2.Timestamp(seconds=1_799_999_000)),
        last_attempt=api.Attempt(
            response_time=timestamp_pb2.Timestamp(seconds=1_799_999_100),
            response_status=api.Status(code=14, message="Service Unavailable"),
        ),
        view=api.Task.FULL,
    )


def _only_call(service: FakeService) -> tuple[str, Message]:
    (call,) = service.calls
    return call


# --- every RPC through the official client ----------------------------------------------------


def test_create_queue(client: tasks_v2.CloudTasksClient, service: FakeService) -> None:
    service.responses["CreateQueue"] = _queue_pb()
    result = client.create_queue(parent=LOCATION, queue=tasks_v2.Queue(name=QUEUE))
    assert _only_call(service) == (
        "CreateQueue",
        api.CreateQueueRequest(parent=LOCATION, queue=api.Queue(name=QUEUE)),
    )
    assert tasks_v2.Queue.pb(result) == _queue_pb()


def test_get_queue(client: tasks_v2.CloudTasksClient, service: FakeService) -> None:
    service.responses["GetQueue"] = _queue_pb()
    result = client.get_queue(name=QUEUE)
    assert _only_call(service) == ("GetQueue", api.GetQueueRequest(name=QUEUE))
    assert tasks_v2.Queue.pb(result) == _queue_pb()


def test_list_queues_with_paging(client: tasks_v2.CloudTasksClient, service: FakeService) -> None:
    service.responses["ListQueues"] = api.ListQueuesResponse(queues=[_queue_pb()])
    pager = client.list_queues(
        request={
            "parent": LOCATION,
            "page_size": 2,
            "page_token": "tok-1",
            "filter": "state:PAUSED",
        }
    )
    assert [tasks_v2.Queue.pb(queue) for queue in pager] == [_queue_pb()]
    assert _only_call(service) == (
        "ListQueues",
        api.ListQueuesRequest(
            parent=LOCATION, page_size=2, page_token="tok-1", filter="state:PAUSED"
        ),
    )


def test_update_queue_with_its_mask(
    client: tasks_v2.CloudTasksClient, service: FakeService
) -> None:
    service.responses["UpdateQueue"] = _queue_pb()
    queue = tasks_v2.Queue(
        name=QUEUE,
        rate_limits=tasks_v2.RateLimits(max_dispatches_per_second=5.0),
        retry_config=tasks_v2.RetryConfig(max_attempts=3),
    )
    mask = field_mask_pb2.FieldMask(
        paths=["rate_limits.max_dispatches_per_second", "retry_config.max_attempts"]
    )
    client.update_queue(queue=queue, update_mask=mask)
    assert _only_call(service) == (
        "UpdateQueue",
        api.UpdateQueueRequest(queue=tasks_v2.Queue.pb(queue), update_mask=mask),
    )


def test_delete_queue(client: tasks_v2.CloudTasksClient, service: FakeService) -> None:
    client.delete_queue(name=QUEUE)
    assert _only_call(service) == ("DeleteQueue", api.DeleteQueueRequest(name=QUEUE))


@pytest.mark.parametrize(
    ("rpc", "method", "request_cls"),
    [
        ("PurgeQueue", "purge_queue", api.PurgeQueueRequest),
        ("PauseQueue", "pause_queue", api.PauseQueueRequest),
        ("ResumeQueue", "resume_queue", api.ResumeQueueRequest),
    ],
)
def test_queue_verbs(
    client: tasks_v2.CloudTasksClient,
    service: FakeService,
    rpc: str,
    method: str,
    request_cls: Any,
) -> None:
    service.responses[rpc] = _queue_pb()
    result = getattr(client, method)(name=QUEUE)
    assert _only_call(service) == (rpc, request_cls(name=QUEUE))
    assert tasks_v2.Queue.pb(result) == _queue_pb()


def test_create_task_with_every_http_field(
    client: tasks_v2.CloudTasksClient, service: FakeService
) -> None:
    service.responses["CreateTask"] = _task_pb()
    task = tasks_v2.Task.wrap(_task_pb())
    result = client.create_task(
        request={"parent": QUEUE, "task": task, "response_view": tasks_v2.Task.View.FULL}
    )
    assert _only_call(service) == (
        "CreateTask",
        api.CreateTaskRequest(parent=QUEUE, task=_task_pb(), response_view=api.Task.FULL),
    )
    assert tasks_v2.Task.pb(result) == _task_pb()
    assert result.http_request.body == b'{"n": 1}'


def test_get_task_full(client: tasks_v2.CloudTasksClient, service: FakeService) -> None:
    service.responses["GetTask"] = _task_pb()
    result = client.get_task(request={"name": TASK, "response_view": tasks_v2.Task.View.FULL})
    assert _only_call(service) == (
        "GetTask",
        api.GetTaskRequest(name=TASK, response_view=api.Task.FULL),
    )
    assert tasks_v2.Task.pb(result) == _task_pb()


def test_list_tasks_with_view_and_paging(
    client: tasks_v2.CloudTasksClient, service: FakeService
) -> None:
    service.responses["ListTasks"] = api.ListTasksResponse(tasks=[_task_pb()])
    pager = client.list_tasks(
        request={
            "parent": QUEUE,
            "response_view": tasks_v2.Task.View.BASIC,
            "page_size": 3,
            "page_token": "next-3",
        }
    )
    assert [tasks_v2.Task.pb(task) for task in pager] == [_task_pb()]
    assert _only_call(service) == (
        "ListTasks",
        api.ListTasksRequest(
            parent=QUEUE, response_view=api.Task.BASIC, page_size=3, page_token="next-3"
        ),
    )


def test_list_tasks_follows_next_page_token(
    client: tasks_v2.CloudTasksClient, service: FakeService
) -> None:
    service.responses["ListTasks"] = api.ListTasksResponse(
        tasks=[api.Task(name=TASK)], next_page_token="page-2"
    )
    pager = client.list_tasks(parent=QUEUE)
    first_page = next(iter(pager.pages))
    assert first_page.next_page_token == "page-2"
    assert [task.name for task in first_page.tasks] == [TASK]


def test_delete_task(client: tasks_v2.CloudTasksClient, service: FakeService) -> None:
    client.delete_task(name=TASK)
    assert _only_call(service) == ("DeleteTask", api.DeleteTaskRequest(name=TASK))


def test_run_task(client: tasks_v2.CloudTasksClient, service: FakeService) -> None:
    service.responses["RunTask"] = _task_pb()
    result = client.run_task(request={"name": TASK, "response_view": tasks_v2.Task.View.BASIC})
    assert _only_call(service) == (
        "RunTask",
        api.RunTaskRequest(name=TASK, response_view=api.Task.BASIC),
    )
    assert tasks_v2.Task.pb(result) == _task_pb()


# --- errors as google-api-core raises them ----------------------------------------------------


@pytest.mark.parametrize(
    ("code", "exception", "http_status"),
    [
        # AlreadyExists subclasses Conflict; over REST the client raises by HTTP status: Conflict.
        (grpc.StatusCode.ALREADY_EXISTS, core_exceptions.Conflict, 409),
        (grpc.StatusCode.NOT_FOUND, core_exceptions.NotFound, 404),
        (grpc.StatusCode.INVALID_ARGUMENT, core_exceptions.BadRequest, 400),
        (grpc.StatusCode.FAILED_PRECONDITION, core_exceptions.BadRequest, 400),
        (grpc.StatusCode.PERMISSION_DENIED, core_exceptions.Forbidden, 403),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, core_exceptions.TooManyRequests, 429),
        (grpc.StatusCode.UNIMPLEMENTED, core_exceptions.MethodNotImplemented, 501),
        (grpc.StatusCode.UNAVAILABLE, core_exceptions.ServiceUnavailable, 503),
    ],
)
def test_api_errors_surface_as_the_clients_exceptions(
    client: tasks_v2.CloudTasksClient,
    service: FakeService,
    code: grpc.StatusCode,
    exception: type[Exception],
    http_status: int,
) -> None:
    service.errors["CreateTask"] = ApiError(code, "Requested entity already exists")
    with pytest.raises(exception) as caught:
        client.create_task(parent=QUEUE, task=tasks_v2.Task(name=TASK))
    assert caught.value.code == http_status  # type: ignore[attr-defined]
    assert "Requested entity already exists" in caught.value.message  # type: ignore[attr-defined]


def test_a_409_is_what_callers_catch_as_already_exists(
    client: tasks_v2.CloudTasksClient, service: FakeService
) -> None:
    service.errors["CreateTask"] = ApiError(grpc.StatusCode.ALREADY_EXISTS, "exists")
    with pytest.raises(core_exceptions.Conflict):
        client.create_task(parent=QUEUE, task=tasks_v2.Task(name=TASK))


# --- the wire, byte for byte (werkzeug's test client, no server) -------------------------------


@pytest.fixture
def wire(service: FakeService) -> Client:
    return Client(make_rest_app(as_api(service), ISSUER))


def _error(response: Any) -> dict[str, Any]:
    body = json.loads(response.get_data())
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "status"}
    assert body["error"]["code"] == response.status_code
    error: dict[str, Any] = body["error"]
    return error


def test_api_error_body_is_googles_shape(wire: Client, service: FakeService) -> None:
    service.errors["GetQueue"] = ApiError(grpc.StatusCode.NOT_FOUND, "Queue does not exist.")
    response = wire.get(f"/v2/{QUEUE}")
    assert response.status_code == 404
    assert response.content_type == "application/json; charset=UTF-8"
    assert json.loads(response.get_data()) == {
        "error": {"code": 404, "message": "Queue does not exist.", "status": "NOT_FOUND"}
    }


def test_malformed_json_is_invalid_argument(wire: Client, service: FakeService) -> None:
    response = wire.post(f"/v2/{QUEUE}/tasks", data=b'{"task": ')
    assert response.status_code == 400
    error = _error(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith("Invalid JSON payload received.")
    assert service.calls == []


def test_a_body_that_is_not_an_object_is_invalid_argument(wire: Client) -> None:
    response = wire.post(f"/v2/{QUEUE}/tasks", data=b"[1, 2]")
    assert response.status_code == 400
    assert "Expected an object" in _error(response)["message"]


def test_an_unknown_body_field_is_named(wire: Client, service: FakeService) -> None:
    response = wire.post(f"/v2/{QUEUE}/tasks", json={"task": {"httpRequest": {"uri": "x"}}})
    assert response.status_code == 400
    error = _error(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert '"uri"' in error["message"]
    assert "\n" not in error["message"]
    assert service.calls == []


def test_a_bad_field_value_is_named(wire: Client) -> None:
    response = wire.post(f"/v2/{QUEUE}/tasks", json={"task": {"scheduleTime": "tomorrow"}})
    assert response.status_code == 400
    assert "scheduleTime" in _error(response)["message"]


def test_a_bad_query_value_is_named(wire: Client) -> None:
    response = wire.get(f"/v2/{QUEUE}/tasks?pageSize=many")
    assert response.status_code == 400
    assert "pageSize" in _error(response)["message"]


def test_unknown_query_params_and_system_params_are_ignored(
    wire: Client, service: FakeService
) -> None:
    response = wire.get(f"/v2/{QUEUE}/tasks?$alt=json&prettyPrint=false&whatever=1&page_size=4")
    assert response.status_code == 200
    assert _only_call(service) == ("ListTasks", api.ListTasksRequest(parent=QUEUE, page_size=4))


def test_enums_go_out_as_names_or_as_numbers_when_asked(wire: Client, service: FakeService) -> None:
    service.responses["GetQueue"] = api.Queue(name=QUEUE, state=api.Queue.PAUSED)
    by_name = json.loads(wire.get(f"/v2/{QUEUE}").get_data())
    by_number = json.loads(wire.get(f"/v2/{QUEUE}?$alt=json;enum-encoding=int").get_data())
    assert by_name == {"name": QUEUE, "state": "PAUSED"}
    assert by_number == {"name": QUEUE, "state": 2}


def test_enums_come_in_as_numbers_or_names(wire: Client, service: FakeService) -> None:
    wire.get(f"/v2/{TASK}?responseView=FULL")
    wire.get(f"/v2/{TASK}?responseView=2")
    assert [request for _, request in service.calls] == [
        api.GetTaskRequest(name=TASK, response_view=api.Task.FULL)
    ] * 2


def test_the_path_binds_the_name_whatever_the_body_says(wire: Client, service: FakeService) -> None:
    wire.patch(f"/v2/{QUEUE}", json={"name": LOCATION + "/queues/other", "state": "PAUSED"})
    assert _only_call(service) == (
        "UpdateQueue",
        api.UpdateQueueRequest(queue=api.Queue(name=QUEUE, state=api.Queue.PAUSED)),
    )


def test_an_empty_body_is_an_empty_message(wire: Client, service: FakeService) -> None:
    assert wire.post(f"/v2/{QUEUE}:pause").status_code == 200
    assert _only_call(service) == ("PauseQueue", api.PauseQueueRequest(name=QUEUE))


def test_an_unknown_path_is_not_found_in_googles_shape(wire: Client) -> None:
    for path in ["/", "/v2/projects", f"/v2/{QUEUE}:explode", f"/v2/{TASK}/more", "/v1/x"]:
        response = wire.get(path)
        assert response.status_code == 404, path
        assert _error(response)["status"] == "NOT_FOUND"


def test_a_wrong_method_is_405_naming_the_allowed_ones(wire: Client) -> None:
    response = wire.put(f"/v2/{QUEUE}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE, GET, HEAD, PATCH"
    assert _error(response)["status"] == "UNIMPLEMENTED"
    assert wire.get(f"/v2/{QUEUE}:purge").status_code == 405


def test_a_too_large_body_is_invalid_argument(wire: Client, service: FakeService) -> None:
    response = wire.post(f"/v2/{QUEUE}/tasks", data=b" " * (MAX_REQUEST_BYTES + 1))
    assert response.status_code == 400
    assert "exceeds the limit" in _error(response)["message"]
    assert service.calls == []


def test_a_service_bug_is_a_500_in_googles_shape(wire: Client, service: FakeService) -> None:
    service.errors["GetQueue"] = RuntimeError("boom")
    response = wire.get(f"/v2/{QUEUE}")
    assert response.status_code == 500
    assert _error(response) == {"code": 500, "message": "Internal error.", "status": "INTERNAL"}


# --- OIDC discovery on the same port ----------------------------------------------------------


def test_discovery_points_at_the_jwks_on_this_host(wire: Client) -> None:
    response = wire.get("/.well-known/openid-configuration", base_url="http://localhost:8124")
    assert response.status_code == 200
    document = json.loads(response.get_data())
    assert document["jwks_uri"] == "http://localhost:8124/oauth2/v3/certs"
    assert document["issuer"] == "https://accounts.google.com"


def test_the_jwks_and_the_pem_certs_are_served(wire: Client) -> None:
    assert json.loads(wire.get(TokenIssuer.JWKS_PATH).get_data()) == ISSUER.jwks()
    assert json.loads(wire.get(TokenIssuer.CERTS_PATH).get_data()) == ISSUER.pem_certs()


def test_google_auth_verifies_a_token_against_the_certs_this_port_serves(
    server: BaseWSGIServer,
) -> None:
    base_url = f"http://127.0.0.1:{server.server_port}"
    audience = "https://worker.example/run"
    token = ISSUER.id_token(
        audience=audience, email="invoker@demo-project.iam.gserviceaccount.com", now_s=time.time()
    )
    claims = id_token.verify_token(
        token,
        google.auth.transport.requests.Request(),
        audience=audience,
        certs_url=base_url + TokenIssuer.CERTS_PATH,
    )
    assert claims["email"] == "invoker@demo-project.iam.gserviceaccount.com"
    discovery = requests.get(base_url + TokenIssuer.DISCOVERY_PATH, timeout=10).json()
    assert discovery["jwks_uri"] == base_url + TokenIssuer.JWKS_PATH
    assert requests.get(discovery["jwks_uri"], timeout=10).json() == ISSUER.jwks()


def test_every_rest_path_of_the_pinned_client_is_routed(wire: Client) -> None:
    """Each http rule the client's REST transport (and its operations client) sends to."""
    import re
    from pathlib import Path

    from google.cloud.tasks_v2.services.cloud_tasks.transports import rest_base

    source = Path(rest_base.__file__).read_text(encoding="utf-8")
    rules = re.findall(r'"method": "(\w+)",\s*"uri": "([^"]+)"', source)
    assert len(rules) >= 23

    def concrete(template: str) -> str:
        # "/v2/{name=projects/*/locations/*}/queues" -> "/v2/projects/x/locations/x/queues"
        return re.sub(r"\{[\w.]+=([^}]+)\}", lambda m: m[1].replace("*", "x"), template)

    for method, uri in rules:
        answer = wire.open(path=concrete(uri), method=method.upper(), data=b"{}")
        assert answer.status_code == 200, (method, uri, answer.get_data(as_text=True))
