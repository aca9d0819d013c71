"""What the console's endpoints say of the store (``views``, ``task_detail``), with no browser."""

from __future__ import annotations

import time

import pytest

from tasks_emulator import api
from tasks_emulator.console import task_detail, views
from tasks_emulator.oidc import TokenIssuer
from tasks_emulator.service import CloudTasksService
from tasks_emulator.store import Store

LOCATION = "projects/p/locations/l"
QUEUE = f"{LOCATION}/queues/viewed"
NOW_S = 1_800_000_000.0


@pytest.fixture
def store() -> Store:
    return Store(data_dir=None, name_reserve_s=3600)


@pytest.fixture
def service(store: Store) -> CloudTasksService:
    service = CloudTasksService(store=store, now_s=lambda: NOW_S)
    service.create_queue(api.CreateQueueRequest(parent=LOCATION, queue=api.Queue(name=QUEUE)))
    return service


def add(service: CloudTasksService, task_id: str, *, in_s: float = 60.0, body: bytes = b"") -> str:
    task = api.Task(name=f"{QUEUE}/tasks/{task_id}")
    task.http_request.url = "https://worker.example/run"
    task.http_request.body = body
    task.schedule_time.seconds = int(NOW_S + in_s)
    service.create_task(api.CreateTaskRequest(parent=QUEUE, task=task))
    return str(task.name)


def test_each_task_is_in_one_state(store: Store, service: CloudTasksService) -> None:
    pending = add(service, "pending")
    flying = add(service, "flying", in_s=-1)
    retrying = add(service, "retrying", in_s=-2)
    gone = add(service, "gone")
    taken = store.take(retrying, now_s=NOW_S)
    assert taken is not None
    attempt = api.Task().last_attempt
    attempt.response_status.code = 14
    store.record_failure(taken, last_attempt=attempt, status=503, next_due_s=NOW_S + 9, now_s=NOW_S)
    assert store.take(flying, now_s=NOW_S) is not None
    service.delete_task(api.DeleteTaskRequest(name=gone))
    queue = store.get_queue(QUEUE)
    assert queue is not None
    row = views.queue_row(queue, store=store, now_s=NOW_S)
    assert row["counts"] == {"pending": 1, "in_flight": 1, "retrying": 1, "reserved": 1}
    assert (row["tasks"], row["in_flight"], row["finished_last_minute"]) == (3, 1, 1)
    assert row["oldest_task_s"] == NOW_S - 1
    for state, name in (("pending", pending), ("in_flight", flying), ("retrying", retrying)):
        page = views.queue_page(QUEUE, views.Page(state, 0, 50), store=store, now_s=NOW_S)
        assert [t["name"] for t in page["tasks"]] == [name]
    page = views.queue_page(QUEUE, views.Page("retrying", 0, 50), store=store, now_s=NOW_S)
    (retried,) = page["tasks"]
    assert retried["state"] == "retrying"
    assert retried["last_response_code"] == 503
    reserved = views.queue_page(QUEUE, views.Page("reserved", 0, 50), store=store, now_s=NOW_S)
    assert reserved["tasks"] == [
        {"name": gone, "id": "gone", "state": "reserved", "reserved_at_s": NOW_S}
    ]


def test_pages_are_soonest_first_and_bounded(store: Store, service: CloudTasksService) -> None:
    for i in range(7):
        add(service, f"t{i}", in_s=100 - i)
    page = views.queue_page(QUEUE, views.Page("pending", 2, 3), store=store, now_s=NOW_S)
    assert [t["id"] for t in page["tasks"]] == ["t4", "t3", "t2"]
    assert (page["total"], page["offset"], page["limit"]) == (7, 2, 3)


@pytest.mark.parametrize(
    ("state", "offset", "limit"),
    [("done", "0", "50"), ("pending", "-1", "50"), ("pending", "0", "0"), ("pending", "x", "1")],
)
def test_bad_page_queries_are_refused(state: str, offset: str, limit: str) -> None:
    with pytest.raises(views.BadQueryError):
        views.parse_page(state=state, offset=offset, limit=limit)


def test_a_missing_queue_is_not_found(store: Store) -> None:
    with pytest.raises(views.NotFoundError):
        views.queue_page(
            f"{LOCATION}/queues/nope", views.Page("pending", 0, 1), store=store, now_s=0
        )


@pytest.mark.parametrize(
    ("body", "kind", "shown"),
    [
        (b'{"a":[1,2]}', "json", '{\n  "a": [\n    1,\n    2\n  ]\n}'),
        (b"plain words", "text", "plain words"),
        (b"\xff\x00", "binary", "/wA="),
    ],
)
def test_a_body_is_shown_as_what_it_is(body: bytes, kind: str, shown: str) -> None:
    view = task_detail.body_view(body)
    assert view["kind"] == kind
    assert view.get("text", view.get("base64")) == shown


def test_a_task_without_a_token_has_none(store: Store, service: CloudTasksService) -> None:
    name = add(service, "plain", body=b"{}")
    issuer = TokenIssuer.load_or_create(None)
    detail = task_detail.task_detail(name, store=store, issuer=issuer, now_s=time.time())
    assert detail["token"] is None
    assert "Authorization" not in dict(detail["request"]["headers"])
    assert dict(detail["request"]["headers"])["X-CloudTasks-TaskRetryCount"] == "0"


@pytest.mark.parametrize("module", ["dispatcher", "attempt", "retry", "ratelimit", "store"])
def test_nothing_on_the_dispatch_path_knows_the_console(module: str) -> None:
    """The console reads the store and calls the service; the dispatch path never calls it."""
    import ast
    from pathlib import Path

    import tasks_emulator

    source = Path(tasks_emulator.__file__).with_name(f"{module}.py").read_text()
    imported = {
        node.module or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
    } | {
        alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not any("console" in name for name in imported)


def test_the_request_shown_is_the_queues_http_target_applied(
    store: Store, service: CloudTasksService
) -> None:
    queue = api.Queue(name=f"{LOCATION}/queues/overridden")
    queue.http_target.uri_override.host = "elsewhere.example"
    override = queue.http_target.header_overrides.add()
    override.header.key, override.header.value = "X-Tenant", "acme"
    queue.http_target.oidc_token.service_account_email = "queue-sa@p.iam.gserviceaccount.com"
    queue.http_target.oidc_token.audience = "https://audience.example"
    service.create_queue(api.CreateQueueRequest(parent=LOCATION, queue=queue))
    task = api.Task(name=f"{queue.name}/tasks/t")
    task.http_request.url = "https://worker.example/run"
    service.create_task(api.CreateTaskRequest(parent=queue.name, task=task))
    issuer = TokenIssuer.load_or_create(None)
    detail = task_detail.task_detail(task.name, store=store, issuer=issuer, now_s=time.time())
    request = detail["request"]
    assert request["url"] == "https://elsewhere.example/run"
    assert request["queue_overrides"] is True
    assert dict(request["headers"])["X-Tenant"] == "acme"
    token = detail["token"]
    assert token is not None
    assert token["claims"]["email"] == "queue-sa@p.iam.gserviceaccount.com"
    assert token["claims"]["aud"] == "https://audience.example"
