"""Dispatch faults at a real worker: a connection dropped after the worker answered (the attempt
fails, the work was done: the worker sees the task again) and a request sent late.

The plan is changed over ``/_emulator/faults`` between steps; the official client runs over gRPC
and REST.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from google.api_core import exceptions

from tests.tasks_emulator.conftest import (
    CLIENTS,
    PARENT,
    Emulator,
    Worker,
    fault_plan,
    new_queue_name,
    running_emulator,
    wait_for,
)

TIMEOUT_S = 10
QUIET_S = 1.0  # how long "nothing more happens" is watched


@pytest.fixture(scope="module")
def running() -> Iterator[Emulator]:
    with running_emulator() as emulator:
        yield emulator


@pytest.fixture
def worker(running: Emulator) -> Iterator[Worker]:
    with Worker(certs_url=running.certs_url) as recording:
        yield recording


@pytest.fixture
def admin(running: Emulator) -> Iterator[str]:
    with fault_plan(running) as url:
        yield url


def _plan(url: str, document: dict[str, Any]) -> None:
    requests.put(url, data=json.dumps(document), timeout=TIMEOUT_S).raise_for_status()


def _queue(client: Any) -> str:
    name = new_queue_name()
    # A long backoff: the test decides when the next attempt runs (RunTask).
    retry = {"min_backoff": dt.timedelta(seconds=60), "max_backoff": dt.timedelta(seconds=60)}
    client.create_queue(parent=PARENT, queue={"name": name, "retry_config": retry})
    return name


def _create(client: Any, queue: str, worker: Worker, task_id: str) -> Any:
    return client.create_task(
        parent=queue,
        task={"name": f"{queue}/tasks/{task_id}", "http_request": {"url": f"{worker.url}/x"}},
    )


@pytest.mark.parametrize("transport", sorted(CLIENTS))
def test_a_dropped_answer_fails_the_attempt_though_the_worker_did_the_work(
    running: Emulator, worker: Worker, admin: str, transport: str
) -> None:
    client = CLIENTS[transport](running)
    queue = _queue(client)
    _plan(admin, {"dispatch": ["drop:1"]})
    task = _create(client, queue, worker, f"dropped-{transport}")
    (first,) = worker.wait_for(f"dropped-{transport}", 1, timeout_s=TIMEOUT_S)
    assert first.answer == "200"  # the worker did the work and said so
    failed = wait_for(
        lambda: (t := client.get_task(name=task.name)).last_attempt.response_time and t,
        timeout_s=TIMEOUT_S,
        what="the dropped attempt to be recorded",
    )
    assert (failed.dispatch_count, failed.response_count) == (1, 0)
    assert failed.last_attempt.response_status.code == 14  # UNAVAILABLE: no answer
    assert "dropped after the worker answered 200" in failed.last_attempt.response_status.message
    report = requests.get(admin, timeout=TIMEOUT_S).json()
    (event,) = [e for e in report["events"] if e["resource"] == task.name]
    assert event["kind"] == "dispatch:drop"
    assert report["injected"]["dispatch:drop"] >= 1
    # The fault gone, the retry reaches the worker: the same task, a second time.
    requests.delete(admin, timeout=TIMEOUT_S).raise_for_status()
    client.run_task(name=task.name)
    second = worker.wait_for(f"dropped-{transport}", 2, timeout_s=TIMEOUT_S)[1]
    assert second.headers["X-CloudTasks-TaskRetryCount"] == "1"

    def done() -> bool:
        try:
            client.get_task(name=task.name)
        except exceptions.NotFound:
            return True
        return False

    wait_for(done, timeout_s=TIMEOUT_S, what="the task to be done")
    time.sleep(QUIET_S)
    assert len(worker.of(f"dropped-{transport}")) == 2


@pytest.mark.parametrize("transport", sorted(CLIENTS))
def test_a_delayed_request_reaches_the_worker_that_much_later(
    running: Emulator, worker: Worker, admin: str, transport: str
) -> None:
    client = CLIENTS[transport](running)
    queue = _queue(client)
    _plan(admin, {"dispatch": ["delay:1:700"]})
    created_s = time.time()
    task = _create(client, queue, worker, f"late-{transport}")
    (delivery,) = worker.wait_for(f"late-{transport}", 1, timeout_s=TIMEOUT_S)
    assert delivery.received_s - created_s >= 0.7
    events = requests.get(admin, timeout=TIMEOUT_S).json()["events"]
    (event,) = [e for e in events if e["resource"] == task.name]
    assert event["kind"] == "dispatch:delay"
    assert event["what"] == "sent the request 700 ms late"


def test_no_dispatch_fault_at_probability_0(running: Emulator, worker: Worker, admin: str) -> None:
    client = CLIENTS["grpc"](running)
    queue = _queue(client)
    _plan(admin, {"dispatch": ["drop:0", "delay:0:5000"]})
    started_s = time.time()
    tasks = [_create(client, queue, worker, f"clean-{i}").name for i in range(5)]
    for i in range(5):
        worker.wait_for(f"clean-{i}", 1, timeout_s=TIMEOUT_S)
    assert max(d.received_s for d in worker.deliveries) - started_s < 5
    events = requests.get(admin, timeout=TIMEOUT_S).json()["events"]
    assert not [e for e in events if e["resource"] in tasks]
