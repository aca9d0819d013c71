"""Faults by flag, through the official client over gRPC and REST, at a real emulator.

Each kind: ``before`` (the code, nothing done), ``after`` (done and committed, then the code: the
reply lost), ``*`` (every RPC), latency (fixed and a range), and a seed that repeats a run. The
client's own retries are turned off (``retry=None``) so each call shows the emulator's answer.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from google.api_core import exceptions

from tasks_emulator import api, faults
from tests.tasks_emulator.conftest import (
    CLIENTS,
    PARENT,
    ROOT,
    Emulator,
    new_queue_name,
    running_emulator,
    wait_for,
)

FAULT_FLAGS = (
    "--fault",
    "CreateTask:after:DEADLINE_EXCEEDED:1",
    "--fault",
    "DeleteTask:before:UNAVAILABLE:1",
    "--fault",
    "PauseQueue:before:RESOURCE_EXHAUSTED:1",
    "--latency",
    "GetQueue:300",
    "--latency",
    "ListQueues:200-400",
)


@pytest.fixture(scope="module")
def faulty() -> Iterator[Emulator]:
    with running_emulator(*FAULT_FLAGS) as running:
        yield running


@pytest.fixture(params=sorted(CLIENTS))
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _task(queue: str, task_id: str) -> dict[str, Any]:
    return {
        "name": f"{queue}/tasks/{task_id}",
        "http_request": {"url": "http://127.0.0.1:9/never"},
        "schedule_time": {"seconds": int(time.time()) + 3600},  # never dispatched in the test
    }


def test_after_commits_then_answers_the_code(faulty: Emulator, transport: str) -> None:
    client = CLIENTS[transport](faulty)
    queue = new_queue_name()
    client.create_queue(parent=PARENT, queue={"name": queue})
    # gRPC raises DeadlineExceeded, REST its HTTP mapping 504 (DeadlineExceeded's base class).
    expected = exceptions.DeadlineExceeded if transport == "grpc" else exceptions.GatewayTimeout
    with pytest.raises(exceptions.GatewayTimeout) as raised:
        client.create_task(parent=queue, task=_task(queue, "lost-reply"), retry=None)
    assert type(raised.value) is expected
    assert "Injected fault (CreateTask:after:DEADLINE_EXCEEDED:1)" in raised.value.message
    # The work was done: the task exists, and its name is taken.
    assert client.get_task(name=f"{queue}/tasks/lost-reply").name == f"{queue}/tasks/lost-reply"
    line = wait_for(
        lambda: [
            line
            for line in list(faulty.stderr_lines)
            if "fault injected: CreateTask:after:DEADLINE_EXCEEDED" in line
            and f"{queue}/tasks/lost-reply" in line
        ],
        timeout_s=5,
        what="the fault's log line",
    )
    assert "did the work and committed it, then answered DEADLINE_EXCEEDED" in line[0]


def test_before_answers_the_code_and_does_nothing(faulty: Emulator, transport: str) -> None:
    client = CLIENTS[transport](faulty)
    queue = new_queue_name()
    client.create_queue(parent=PARENT, queue={"name": queue})
    with pytest.raises(exceptions.GatewayTimeout):
        client.create_task(parent=queue, task=_task(queue, "kept"), retry=None)
    with pytest.raises(exceptions.ServiceUnavailable) as raised:
        client.delete_task(name=f"{queue}/tasks/kept", retry=None)
    assert "answered UNAVAILABLE without doing anything" in raised.value.message
    assert client.get_task(name=f"{queue}/tasks/kept")  # not deleted
    # ResourceExhausted over gRPC; 429 TooManyRequests (its base class) over REST.
    with pytest.raises(exceptions.TooManyRequests):
        client.pause_queue(name=queue, retry=None)
    assert client.get_queue(name=queue).state == 1  # still RUNNING


def test_latency_holds_each_matching_call(faulty: Emulator, transport: str) -> None:
    client = CLIENTS[transport](faulty)
    queue = new_queue_name()
    client.create_queue(parent=PARENT, queue={"name": queue})
    for _ in range(3):
        started = time.monotonic()
        client.get_queue(name=queue, retry=None)
        assert time.monotonic() - started >= 0.3
        started = time.monotonic()
        client.list_queues(parent=PARENT, retry=None)
        assert time.monotonic() - started >= 0.2
    assert any("fault injected: GetQueue:latency" in line for line in list(faulty.stderr_lines))


def test_star_faults_every_rpc(emulator_factory: Callable[..., Emulator], transport: str) -> None:
    emulator = emulator_factory("--fault", "*:before:UNAVAILABLE:1")
    client = CLIENTS[transport](emulator)
    with pytest.raises(exceptions.ServiceUnavailable):
        client.create_queue(parent=PARENT, queue={"name": new_queue_name()}, retry=None)
    with pytest.raises(exceptions.ServiceUnavailable):
        client.list_queues(parent=PARENT, retry=None)
    with pytest.raises(exceptions.ServiceUnavailable):
        client.get_task(name=f"{PARENT}/queues/q/tasks/t", retry=None)


def _outcomes(emulator: Emulator, transport: str, *, calls: int) -> list[str]:
    client = CLIENTS[transport](emulator)
    outcomes = []
    for _ in range(calls):
        try:
            client.list_queues(parent=PARENT, retry=None)
        except exceptions.ServiceUnavailable:
            outcomes.append("fault")
        else:
            outcomes.append("ok")
    return outcomes


def test_the_same_seed_gives_the_same_faults_in_the_same_order(
    emulator_factory: Callable[..., Emulator],
) -> None:
    flags = ("--fault", "ListQueues:before:UNAVAILABLE:0.5")
    first = _outcomes(emulator_factory(*flags, "--fault-seed", "42"), "grpc", calls=30)
    again = _outcomes(emulator_factory(*flags, "--fault-seed", "42"), "rest", calls=30)
    other = _outcomes(emulator_factory(*flags, "--fault-seed", "43"), "grpc", calls=30)
    assert first == again
    assert 0 < first.count("fault") < 30  # the draw is a real one
    assert other != first


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--fault", "CreateTask:after:UNAVAILABLE"], "a fault is RPC:WHEN:CODE:P"),
        (["--fault", "Create:after:UNAVAILABLE:1"], "unknown RPC 'Create'"),
        (["--fault", "CreateTask:after:NOPE:1"], "'NOPE' is not a gRPC status name"),
        (["--fault", "CreateTask:after:UNAVAILABLE:2"], "probability '2' is not a number"),
        (["--latency", "CreateTask:9-1"], "MIN must not be greater than MAX"),
        (["--fault-seed", "x"], "seed 'x' is not an integer"),
        (["--dispatch-fault", "drop:x"], "probability 'x' is not a number"),
        (["--dispatch-fault", "delay:1"], "a dispatch fault is drop:P"),
    ],
)
def test_bad_fault_flags_exit_2_naming_them(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tasks_emulator", "--port", "0", "--http-port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr


def test_every_rpc_can_be_faulted_also_those_added_later(
    emulator_factory: Callable[..., Emulator], transport: str
) -> None:
    for rpc in api.RPCS:  # each spec parses: the wrapper covers whatever RPCS lists
        assert faults.parse_fault(f"{rpc}:before:UNAVAILABLE:1").rpc == rpc
    emulator = emulator_factory("--fault", "ListLocations:before:UNAVAILABLE:1")
    client = CLIENTS[transport](emulator)
    with pytest.raises(exceptions.ServiceUnavailable):
        client.list_locations(request={"name": f"projects/{PARENT.split('/')[1]}"}, retry=None)
    client.create_queue(parent=PARENT, queue={"name": new_queue_name()}, retry=None)  # not faulted
