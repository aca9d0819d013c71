"""``/_emulator/faults`` at a real emulator: the plan read and changed at run time, the official
client meeting the faults over gRPC and REST, bad input refused with 400, other clients with 403.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.api_core import exceptions
from werkzeug.test import Client

from tasks_emulator.fault_admin import make_admin_app
from tasks_emulator.fault_injection import FaultInjector
from tests.tasks_emulator.conftest import (
    CLIENTS,
    PARENT,
    Emulator,
    fault_plan,
    new_queue_name,
    running_emulator,
)

TIMEOUT_S = 10


@pytest.fixture(scope="module")
def running() -> Iterator[Emulator]:
    with running_emulator("--fault", "GetTask:before:NOT_FOUND:0", "--fault-seed", "9") as emulator:
        yield emulator


@pytest.fixture
def admin(running: Emulator) -> Iterator[str]:
    """The endpoint's URL; every test leaves the plan empty."""
    with fault_plan(running) as url:
        yield url


def _put(url: str, document: Any, method: str = "PUT") -> requests.Response:
    return requests.request(method, url, data=json.dumps(document), timeout=TIMEOUT_S)


def test_get_shows_the_plan_from_the_flags(running: Emulator) -> None:
    report = requests.get(f"{running.http_url}/_emulator/faults", timeout=TIMEOUT_S).json()
    assert report["plan"] == {
        "faults": ["GetTask:before:NOT_FOUND:0"],
        "latency": [],
        "dispatch": [],
        "seed": 9,
    }


@pytest.mark.parametrize("transport", sorted(CLIENTS))
def test_put_post_delete_change_what_the_client_meets(
    running: Emulator, admin: str, transport: str
) -> None:
    client = CLIENTS[transport](running)
    queue = new_queue_name()
    client.create_queue(parent=PARENT, queue={"name": queue})
    answer = _put(admin, {"faults": ["GetQueue:before:UNAVAILABLE:1"]})
    assert answer.status_code == 200
    assert answer.json()["plan"]["faults"] == ["GetQueue:before:UNAVAILABLE:1"]
    before = (
        requests.get(admin, timeout=TIMEOUT_S)
        .json()["injected"]
        .get("GetQueue:before:UNAVAILABLE", 0)
    )
    with pytest.raises(exceptions.ServiceUnavailable):
        client.get_queue(name=queue, retry=None)
    assert _put(admin, {"faults": ["ListQueues:after:INTERNAL:1"]}, "POST").status_code == 200
    with pytest.raises(exceptions.InternalServerError):
        client.list_queues(parent=PARENT, retry=None)
    with pytest.raises(exceptions.ServiceUnavailable):
        client.get_queue(name=queue, retry=None)  # POST added; the first is still there
    report = requests.get(admin, timeout=TIMEOUT_S).json()
    assert report["injected"]["GetQueue:before:UNAVAILABLE"] == before + 2
    assert report["injected"]["ListQueues:after:INTERNAL"] >= 1
    event = [e for e in report["events"] if e["resource"] == queue][-1]
    assert event["kind"] == "GetQueue:before:UNAVAILABLE"
    assert event["what"] == "answered UNAVAILABLE without doing anything"
    newer = requests.get(admin, params={"since": event["seq"]}, timeout=TIMEOUT_S).json()
    assert all(e["seq"] > event["seq"] for e in newer["events"])
    last = requests.get(admin, params={"limit": 1}, timeout=TIMEOUT_S).json()
    assert last["events"] == report["events"][-1:]
    assert requests.get(admin, params={"limit": 0}, timeout=TIMEOUT_S).json()["events"] == []
    assert requests.delete(admin, timeout=TIMEOUT_S).json()["plan"]["faults"] == []
    assert client.get_queue(name=queue, retry=None).name == queue
    assert requests.get(admin, timeout=TIMEOUT_S).json()["injected"]  # the counts stay


def _sequence(client: Any, *, calls: int) -> list[bool]:
    outcomes = []
    for _ in range(calls):
        try:
            client.list_queues(parent=PARENT, retry=None)
        except exceptions.ServiceUnavailable:
            outcomes.append(False)
        else:
            outcomes.append(True)
    return outcomes


def test_a_seed_put_at_run_time_repeats_the_run(running: Emulator, admin: str) -> None:
    client = CLIENTS["grpc"](running)
    plan = {"faults": ["ListQueues:before:UNAVAILABLE:0.5"], "seed": 1234}
    assert _put(admin, plan).status_code == 200
    first = _sequence(client, calls=25)
    assert _put(admin, plan).status_code == 200
    assert _sequence(client, calls=25) == first
    assert 0 < first.count(False) < 25


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "the body is not JSON"),
        ("[]", "the body must be a JSON object"),
        ('{"faults": ["CreateTask:later:UNAVAILABLE:1"]}', "WHEN must be 'before' or 'after'"),
        ('{"faults": "x"}', "a fault is RPC:WHEN:CODE:P"),
        ('{"latency": ["CreateTask:abc"]}', "'abc' is not a number of milliseconds"),
        ('{"seed": "one"}', "seed 'one' is not an integer"),
        ('{"fault": []}', "unknown key(s) ['fault']"),
    ],
)
@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_bad_input_is_400_and_changes_nothing(
    admin: str, body: str, message: str, method: str
) -> None:
    assert _put(admin, {"faults": ["GetTask:before:UNAVAILABLE:0.5"]}).status_code == 200
    answer = requests.request(method, admin, data=body, timeout=TIMEOUT_S)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]
    plan = requests.get(admin, timeout=TIMEOUT_S).json()["plan"]
    assert plan["faults"] == ["GetTask:before:UNAVAILABLE:0.5"]


def test_bad_query_wrong_method_and_unknown_path(admin: str) -> None:
    answer = requests.get(admin, params={"since": "x"}, timeout=TIMEOUT_S)
    assert answer.status_code == 400
    assert "since='x' is not an event number" in answer.json()["error"]["message"]
    answer = requests.get(admin, params={"limit": "-1"}, timeout=TIMEOUT_S)
    assert answer.status_code == 400
    assert "limit='-1' is not a count of events >= 0" in answer.json()["error"]["message"]
    answer = requests.patch(admin, data="{}", timeout=TIMEOUT_S)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == "DELETE, GET, POST, PUT"
    assert requests.get(admin + "/more", timeout=TIMEOUT_S).status_code == 404


@pytest.mark.parametrize("remote_addr", ["192.0.2.10", "10.1.2.3", "2001:db8::1"])
def test_a_client_off_the_machine_is_refused(remote_addr: str) -> None:
    # The server listens on loopback only, so the peer address is set the way WSGI carries it.
    injector = FaultInjector()
    client = Client(make_admin_app(injector))
    for method in ("GET", "PUT", "POST", "DELETE"):
        answer = client.open(
            "/",
            method=method,
            data='{"faults": ["*:before:UNAVAILABLE:1"]}',
            environ_overrides={"REMOTE_ADDR": remote_addr},
        )
        assert answer.status_code == 403
        assert f"loopback clients only, not {remote_addr}" in answer.get_json()["error"]["message"]
    assert injector.plan.empty
    assert client.get("/", environ_overrides={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
