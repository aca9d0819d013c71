"""The test helpers under /_emulator/ on the HTTP port: reset and wait, loopback only."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from google.api_core import exceptions
from werkzeug.test import Client

from tasks_emulator import loopback
from tasks_emulator.oidc import TokenIssuer
from tasks_emulator.rest_api import make_rest_app
from tests.tasks_emulator.conftest import PARENT, Emulator, Worker, grpc_client
from tests.tasks_emulator.test_rest_api import FakeService, as_api

QUEUE = f"{PARENT}/queues/helped"


def test_reset_forgets_queues_tasks_and_reserved_names_without_a_restart(
    emulator_factory: Callable[..., Emulator], tmp_path: Path
) -> None:
    emulator = emulator_factory("--data-dir", str(tmp_path))
    client = grpc_client(emulator)
    client.create_queue(parent=PARENT, queue={"name": QUEUE})
    client.pause_queue(name=QUEUE)
    task = {"name": f"{QUEUE}/tasks/kept", "http_request": {"url": "http://127.0.0.1:9/"}}
    client.create_task(parent=QUEUE, task=task)
    gone = {"name": f"{QUEUE}/tasks/gone", "http_request": {"url": "http://127.0.0.1:9/"}}
    client.create_task(parent=QUEUE, task=gone)
    client.delete_task(name=gone["name"])
    answer = requests.post(f"{emulator.http_url}/_emulator/reset", timeout=10)
    assert answer.status_code == 200
    assert answer.json() == {}
    with pytest.raises(exceptions.NotFound):
        client.get_queue(name=QUEUE)
    # Every name is free again: the queue, the live task's and the deleted task's.
    client.create_queue(parent=PARENT, queue={"name": QUEUE})
    client.pause_queue(name=QUEUE)
    client.create_task(parent=QUEUE, task=task)
    client.create_task(parent=QUEUE, task=gone)
    assert len(list(client.list_tasks(parent=QUEUE))) == 2
    # Also in the data directory: a restart does not bring the old state back.
    requests.post(f"{emulator.http_url}/_emulator/reset", timeout=10)
    assert emulator.terminate() == 0
    again = grpc_client(emulator_factory("--data-dir", str(tmp_path)))
    with pytest.raises(exceptions.NotFound):
        again.get_queue(name=QUEUE)


def test_reset_forgets_iam_policies_cmek_configs_and_operations(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory()
    client = grpc_client(emulator)
    client.create_queue(parent=PARENT, queue={"name": QUEUE})
    binding = {"role": "roles/cloudtasks.viewer", "members": ["allUsers"]}
    client.set_iam_policy(request={"resource": QUEUE, "policy": {"bindings": [binding]}})
    cmek = f"{PARENT}/cmekConfig"
    key = f"{PARENT}/keyRings/r/cryptoKeys/k"
    client.update_cmek_config(cmek_config={"name": cmek, "kms_key": key})
    operation = client.batch_delete_tasks(parent=QUEUE, names=[f"{QUEUE}/tasks/none"])
    with pytest.raises(exceptions.Aborted):  # nothing to delete: none succeeded
        operation.result(timeout=30)
    requests.post(f"{emulator.http_url}/_emulator/reset", timeout=10)
    client.create_queue(parent=PARENT, queue={"name": QUEUE})
    assert list(client.get_iam_policy(request={"resource": QUEUE}).bindings) == []
    assert client.get_cmek_config(name=cmek).kms_key == ""
    with pytest.raises(exceptions.NotFound):
        client.get_operation(request={"name": operation.operation.name})


def test_reset_frees_a_deleted_queues_name(emulator_factory: Callable[..., Emulator]) -> None:
    emulator = emulator_factory()
    client = grpc_client(emulator)
    client.create_queue(parent=PARENT, queue={"name": QUEUE})
    client.delete_queue(name=QUEUE)
    with pytest.raises(exceptions.FailedPrecondition):
        client.create_queue(parent=PARENT, queue={"name": QUEUE})
    requests.post(f"{emulator.http_url}/_emulator/reset", timeout=10)
    client.create_queue(parent=PARENT, queue={"name": QUEUE})


def test_wait_returns_once_the_queue_has_delivered_everything(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory()
    with Worker(certs_url="") as worker:
        client = grpc_client(emulator)
        client.create_queue(parent=PARENT, queue={"name": QUEUE})
        for task_id in ("w1", "w2", "w3"):
            worker.plan(task_id, ["slow"])  # each answers after Worker.SLOW_S
            client.create_task(
                parent=QUEUE,
                task={
                    "name": f"{QUEUE}/tasks/{task_id}",
                    "http_request": {"url": f"{worker.url}/{task_id}"},
                },
            )
        answer = requests.post(
            f"{emulator.http_url}/_emulator/wait",
            params={"queue": QUEUE, "timeout_s": "20"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"idle": True, "tasks": 0}
        # Idle means answered and recorded: every task was delivered and is gone.
        assert all(worker.of(task_id) for task_id in ("w1", "w2", "w3"))
        assert list(client.list_tasks(parent=QUEUE)) == []
        everything = requests.get(f"{emulator.http_url}/_emulator/wait", timeout=30)
        assert everything.status_code == 200


def test_wait_times_out_on_a_queue_that_holds_a_task(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory()
    client = grpc_client(emulator)
    client.create_queue(parent=PARENT, queue={"name": QUEUE})
    client.pause_queue(name=QUEUE)
    client.create_task(
        parent=QUEUE,
        task={"name": f"{QUEUE}/tasks/held", "http_request": {"url": "http://127.0.0.1:9/"}},
    )
    started = time.monotonic()
    answer = requests.post(
        f"{emulator.http_url}/_emulator/wait",
        params={"queue": QUEUE, "timeout_s": "0.5"},
        timeout=30,
    )
    assert time.monotonic() - started >= 0.5
    assert answer.status_code == 504
    assert answer.json()["error"]["status"] == "DEADLINE_EXCEEDED"
    assert "Still 1 task(s)" in answer.json()["error"]["message"]
    bad = requests.post(
        f"{emulator.http_url}/_emulator/wait", params={"timeout_s": "soon"}, timeout=10
    )
    assert bad.status_code == 400


class _Helpers:
    def __init__(self) -> None:
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def wait_idle(self, *, queue: str | None, timeout_s: float) -> int:
        return 0


@pytest.mark.parametrize(
    ("address", "status"),
    [("127.0.0.1", 200), ("127.8.9.10", 200), ("::1", 200), ("10.1.2.3", 403), ("::2", 403)],
)
def test_the_helpers_answer_loopback_callers_only(address: str, status: int) -> None:
    helpers = _Helpers()
    app = make_rest_app(
        as_api(FakeService()), TokenIssuer.load_or_create(None), test_helpers=helpers
    )
    answer = Client(app).post("/_emulator/reset", environ_base={"REMOTE_ADDR": address})
    assert answer.status_code == status
    assert helpers.resets == (1 if status == 200 else 0)
    if status == 403:
        assert answer.get_json()["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("fe80::1%eth0", False),
        ("192.168.1.1", False),
        ("localhost", False),
        ("", False),
        (None, False),
    ],
)
def test_is_loopback(address: str | None, expected: bool) -> None:
    assert loopback.is_loopback(address) is expected
