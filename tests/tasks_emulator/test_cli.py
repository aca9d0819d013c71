"""The command line: the names other tools rely on, the ready line, a clean stop."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2

from tests.tasks_emulator.conftest import (
    PARENT,
    ROOT,
    Emulator,
    Worker,
    grpc_client,
    wait_for,
)

SA = "worker-invoker@emu-project.iam.gserviceaccount.com"


def test_port_0_prints_the_real_ports_on_loopback(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory()
    host, port = emulator.grpc_target.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert emulator.ready_line.startswith("tasks_emulator ready: grpc 127.0.0.1:")


def test_queues_on_the_command_line_exist_with_defaults(
    emulator_factory: Callable[..., Emulator],
) -> None:
    names = [f"{PARENT}/queues/cli-a", "projects/other/locations/eu/queues/cli-b"]
    emulator = emulator_factory("--queue", names[0], "--queue", names[1])
    client = grpc_client(emulator)
    for name in names:
        assert client.get_queue(name=name).rate_limits.max_dispatches_per_second == 500


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", "queues/q"], "--queue must be of the form"),
        (["--name-reserve-s", "-1"], "--name-reserve-s must not be negative"),
        (["--api-threads", "0"], "--api-threads must be at least 1"),
        (["--port", "x"], "invalid int value"),
    ],
)
def test_bad_arguments_exit_2_naming_them(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tasks_emulator", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly(
    emulator_factory: Callable[..., Emulator], signum: signal.Signals
) -> None:
    emulator = emulator_factory()
    emulator.process.send_signal(signum)
    assert emulator.process.wait(timeout=30) == 0


# --- --data-dir: restarts ------------------------------------------------------------------------
def _slow_queue(client: Any, worker: Worker, *, count: int, concurrent: int) -> list[str]:
    """A queue whose worker answers slowly, holding ``count`` tasks; their ids."""
    queue = f"{PARENT}/queues/restart"
    client.create_queue(
        parent=PARENT,
        queue={"name": queue, "rate_limits": {"max_concurrent_dispatches": concurrent}},
    )
    client.pause_queue(name=queue)
    ids = [f"r{i:03}" for i in range(count)]
    for task_id in ids:
        worker.plan(task_id, ["slow"])
        client.create_task(
            parent=queue,
            task={
                "name": f"{queue}/tasks/{task_id}",
                "http_request": {
                    "url": f"{worker.url}/{task_id}",
                    "oidc_token": {"service_account_email": SA},
                },
            },
        )
    client.resume_queue(name=queue)
    return ids


def _delivered(worker: Worker, ids: list[str]) -> dict[str, int]:
    return {task_id: len(worker.of(task_id)) for task_id in ids}


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_a_restart_mid_dispatch_loses_nothing(
    emulator_factory: Callable[..., Emulator], tmp_path: Path, stop: str
) -> None:
    """SIGTERM: in-flight attempts end and are recorded, nothing runs twice. SIGKILL: at most
    the attempts in flight run again. Either way every task is delivered."""
    data_dir = str(tmp_path / "data")
    first = emulator_factory("--data-dir", data_dir)
    with Worker(certs_url=first.certs_url) as worker:
        concurrent = 4
        ids = _slow_queue(grpc_client(first), worker, count=24, concurrent=concurrent)
        wait_for(
            lambda: sum(_delivered(worker, ids).values()) >= 6,
            timeout_s=20,
            what="dispatching to be under way",
        )
        if stop == "SIGTERM":
            assert first.terminate() == 0
        else:
            first.kill()
        before = _delivered(worker, ids)
        second = emulator_factory("--data-dir", data_dir)
        worker.certs_url = second.certs_url
        client = grpc_client(second)
        wait_for(
            lambda: all(_delivered(worker, ids).values()),
            timeout_s=30,
            what="every task to be delivered after the restart",
        )
        wait_for(
            lambda: not list(client.list_tasks(parent=f"{PARENT}/queues/restart")),
            timeout_s=30,
            what="the queue to empty",
        )
        after = _delivered(worker, ids)
        again = sum(count - 1 for count in after.values())
        if stop == "SIGTERM":
            assert again == 0, after
        else:
            assert again <= concurrent, (before, after)
        # The key is kept in the data dir: every token, minted before or after the restart,
        # verifies against the keys the second run publishes.
        for task_id in ids:
            for delivery in worker.of(task_id):
                claims, error = worker.verify(delivery.headers)
                assert claims is not None, error
        with pytest.raises(exceptions.Conflict):
            client.create_task(
                parent=f"{PARENT}/queues/restart",
                task={
                    "name": f"{PARENT}/queues/restart/tasks/{ids[0]}",
                    "http_request": {"url": worker.url},
                },
            )


def test_a_restart_keeps_queues_pending_tasks_and_reserved_names(
    emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    data_dir = str(tmp_path / "data")
    first = emulator_factory("--data-dir", data_dir, "--name-reserve-s", "600")
    client = grpc_client(first)
    queue = f"{PARENT}/queues/kept"
    client.create_queue(parent=PARENT, queue={"name": queue, "retry_config": {"max_attempts": 7}})
    client.pause_queue(name=queue)
    kept = client.create_task(
        parent=queue,
        task={
            "name": f"{queue}/tasks/kept",
            "http_request": {"url": "http://127.0.0.1:9/", "body": b"b"},
        },
    )
    deleted = client.create_task(
        parent=queue,
        task={"name": f"{queue}/tasks/deleted", "http_request": {"url": "http://127.0.0.1:9/"}},
    )
    client.delete_task(name=deleted.name)
    assert first.terminate() == 0

    client = grpc_client(emulator_factory("--data-dir", data_dir))
    got_queue = client.get_queue(name=queue)
    assert got_queue.retry_config.max_attempts == 7
    assert got_queue.state == tasks_v2.Queue.State.PAUSED
    got = client.get_task(request={"name": kept.name, "response_view": tasks_v2.Task.View.FULL})
    assert got.http_request.body == b"b"
    assert got.schedule_time == kept.schedule_time
    with pytest.raises(exceptions.Conflict):
        client.create_task(
            parent=queue,
            task={"name": deleted.name, "http_request": {"url": "http://127.0.0.1:9/"}},
        )


def test_a_second_signal_stops_without_waiting_for_a_hanging_attempt(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory()
    with Worker(certs_url="") as worker:
        client = grpc_client(emulator)
        queue = f"{PARENT}/queues/hung"
        client.create_queue(parent=PARENT, queue={"name": queue})
        worker.plan("hung", ["hang"])
        client.create_task(
            parent=queue,
            task={"name": f"{queue}/tasks/hung", "http_request": {"url": f"{worker.url}/hung"}},
        )
        worker.wait_for("hung", 1, timeout_s=10)
        emulator.process.send_signal(signal.SIGTERM)
        with pytest.raises(subprocess.TimeoutExpired):  # the first waits for the attempt
            emulator.process.wait(timeout=1.0)
        emulator.process.send_signal(signal.SIGTERM)
        assert emulator.process.wait(timeout=10) == 128 + signal.SIGTERM


def test_name_reserve_s_sets_how_long_a_name_stays_reserved(
    emulator_factory: Callable[..., Emulator],
) -> None:
    client = grpc_client(emulator_factory("--name-reserve-s", "1"))
    queue = f"{PARENT}/queues/reserve"
    client.create_queue(parent=PARENT, queue={"name": queue})
    client.pause_queue(name=queue)
    task = {"name": f"{queue}/tasks/again", "http_request": {"url": "http://127.0.0.1:9/"}}
    client.create_task(parent=queue, task=task)
    client.delete_task(name=task["name"])
    with pytest.raises(exceptions.Conflict):
        client.create_task(parent=queue, task=task)

    def created() -> bool:
        try:
            client.create_task(parent=queue, task=task)
        except exceptions.Conflict:
            return False
        return True

    wait_for(created, timeout_s=10, what="the name to be free after --name-reserve-s")
