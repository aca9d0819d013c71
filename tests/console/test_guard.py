"""Who may use the console (``guard``), through the console's WSGI app on a real service."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from werkzeug.test import Client

from tasks_emulator import api
from tasks_emulator.console import Console
from tasks_emulator.oidc import TokenIssuer
from tasks_emulator.service import CloudTasksService
from tasks_emulator.store import Store

QUEUE = "projects/p/locations/l/queues/guarded"
BASE = "http://127.0.0.1:8124"


@pytest.fixture
def store() -> Store:
    return Store(data_dir=None, name_reserve_s=3600)


@pytest.fixture
def service(store: Store) -> CloudTasksService:
    service = CloudTasksService(store=store, now_s=time.time)
    service.create_queue(
        api.CreateQueueRequest(parent=QUEUE.split("/queues/")[0], queue=api.Queue(name=QUEUE))
    )
    return service


@pytest.fixture
def client(store: Store, service: CloudTasksService) -> Client:
    console = Console(store=store, service=service, issuer=TokenIssuer.load_or_create(None))

    def on_loopback(environ: dict[str, Any], start_response: Any) -> Any:
        environ.setdefault("REMOTE_ADDR", "127.0.0.1")  # as the WSGI server sets it
        return console(environ, start_response)

    return Client(on_loopback)


def page_token(client: Client) -> str:
    html = client.get("/console/", base_url=BASE).get_data(as_text=True)
    match = re.search(r'name="console-token" content="([^"]+)"', html)
    assert match is not None
    return match[1]


def pause(client: Client, **headers: str) -> Any:
    return client.post(
        "/console/api/actions/pause",
        base_url=BASE,
        data=json.dumps({"name": QUEUE}),
        headers={"Content-Type": "application/json", **headers},
    )


def state(service: CloudTasksService) -> int:
    return int(service.get_queue(api.GetQueueRequest(name=QUEUE)).state)


def test_the_page_itself_pauses(client: Client, service: CloudTasksService) -> None:
    token = page_token(client)
    answer = pause(client, **{"X-Console-Token": token, "Origin": BASE})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    assert state(service) == 2


@pytest.mark.parametrize(
    ("headers", "said"),
    [
        ({}, "token"),
        ({"X-Console-Token": "guessed"}, "token"),
        ({"Origin": "http://evil.example"}, "http://evil.example"),
        ({"Origin": "http://127.0.0.1:9999"}, "http://127.0.0.1:9999"),
        ({"Sec-Fetch-Site": "cross-site"}, "cross-site"),
        ({"Sec-Fetch-Site": "same-site"}, "same-site"),
    ],
)
def test_an_action_from_anywhere_else_is_refused(
    client: Client, service: CloudTasksService, headers: dict[str, str], said: str
) -> None:
    token = page_token(client)
    if "X-Console-Token" not in headers and said != "token":
        headers = {**headers, "X-Console-Token": token}
    answer = pause(client, **headers)
    assert answer.status_code == 403
    assert said in answer.get_json()["error"]
    assert state(service) == 1


def test_a_client_off_this_machine_is_refused(client: Client) -> None:
    answer = client.get(
        "/console/api/queues", base_url=BASE, environ_overrides={"REMOTE_ADDR": "10.1.2.3"}
    )
    assert answer.status_code == 403
    assert "this machine" in answer.get_json()["error"]


@pytest.mark.parametrize("host", ["evil.example:8124", "attacker.test"])
def test_a_name_that_is_not_loopback_is_refused(client: Client, host: str) -> None:
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused, even to read."""
    answer = client.get("/console/api/queues", base_url=BASE, headers={"Host": host})
    assert answer.status_code == 403


@pytest.mark.parametrize("host", ["localhost:8124", "127.0.0.1:8124", "[::1]:8124"])
def test_loopback_names_are_served(client: Client, host: str) -> None:
    answer = client.get("/console/api/queues", base_url=BASE, headers={"Host": host})
    assert answer.status_code == 200


def test_a_purge_needs_the_queue_id(client: Client, service: CloudTasksService) -> None:
    token = page_token(client)
    headers = {"X-Console-Token": token, "Content-Type": "application/json"}
    answer = client.post(
        "/console/api/actions/purge",
        base_url=BASE,
        data=json.dumps({"name": QUEUE, "confirm": "yes"}),
        headers=headers,
    )
    assert answer.status_code == 400
    assert "guarded" in answer.get_json()["error"]
    assert not service.get_queue(api.GetQueueRequest(name=QUEUE)).HasField("purge_time")
    answer = client.post(
        "/console/api/actions/purge",
        base_url=BASE,
        data=json.dumps({"name": QUEUE, "confirm": "guarded"}),
        headers=headers,
    )
    assert answer.status_code == 200
    assert service.get_queue(api.GetQueueRequest(name=QUEUE)).HasField("purge_time")


def test_the_services_refusal_is_the_answer(client: Client) -> None:
    token = page_token(client)
    answer = client.post(
        "/console/api/actions/delete",
        base_url=BASE,
        data=json.dumps({"name": f"{QUEUE}/tasks/never-was"}),
        headers={"X-Console-Token": token},
    )
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "Requested entity was not found."


def test_answers_are_never_cached_nor_framed(client: Client) -> None:
    answer = client.get("/console/", base_url=BASE)
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("line", "status", "kept"),
    [
        ("GET /console/api/queues HTTP/1.1", "200", False),
        ("GET /console/api/queues HTTP/1.1", "500", True),
        ("POST /console/api/actions/purge HTTP/1.1", "200", True),
        ("GET /v2/projects/p/locations/l/queues HTTP/1.1", "200", True),
    ],
)
def test_the_pages_polls_are_not_logged_but_the_rest_is(line: str, status: str, kept: bool) -> None:
    import logging

    from tasks_emulator.console.quiet import QuietReads

    record = logging.LogRecord(
        "werkzeug", logging.INFO, __file__, 1, "%s - - [%s] %s %s %s", None, None
    )
    record.args = ("127.0.0.1", "06/Dec/2026 19:00:00", line, status, "-")
    assert QuietReads(("/console/",)).filter(record) is kept
