"""The recording worker over real HTTP: it answers as Cloud Run's IAM would, records the claims
and the answer, fails first attempts and hangs on demand."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from bridge.stack.caller_check import CallerCheck
from bridge.stack.worker import RecordingWorker
from tests.e2e.issuer import CALLER, Issuer


@pytest.fixture(scope="module")
def issuer() -> Iterator[Issuer]:
    with Issuer() as running:
        yield running


@pytest.fixture
def worker(issuer: Issuer) -> Iterator[tuple[RecordingWorker, list[str]]]:
    lines: list[str] = []
    running = RecordingWorker(
        check=CallerCheck(certs_url=issuer.certs_url, caller_sa=CALLER), log=lines.append
    )
    running.start()
    try:
        yield running, lines
    finally:
        running.stop()


def post(
    worker: RecordingWorker, path: str, headers: dict[str, str], *, timeout_s: float = 5
) -> int:
    request = urllib.request.Request(worker.url(path), data=b"{}", headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_valid_token_is_200_with_claims_recorded(
    issuer: Issuer, worker: tuple[RecordingWorker, list[str]]
) -> None:
    running, lines = worker
    token = issuer.token(aud=running.url(""))
    assert post(running, "/process", {"Authorization": f"Bearer {token}"}) == 200
    [record] = running.records()
    assert record.ok
    assert record.claims["email"] == CALLER
    assert lines == []


def test_refusals_are_recorded_and_logged_with_the_reason(
    issuer: Issuer, worker: tuple[RecordingWorker, list[str]]
) -> None:
    running, lines = worker
    wrong_aud = issuer.token(aud="https://brain.example")
    intruder = issuer.token(aud=running.url(""), email="x@example.iam.gserviceaccount.com")
    assert post(running, "/process", {}) == 401
    assert post(running, "/process", {"Authorization": f"Bearer {wrong_aud}"}) == 401
    assert post(running, "/process", {"Authorization": f"Bearer {intruder}"}) == 403
    assert [r.status for r in running.records()] == [401, 401, 403]
    assert len(lines) == 3
    assert "https://brain.example" in lines[1]
    assert "x@example" in lines[2]


def test_accepting_a_custom_audience(
    issuer: Issuer, worker: tuple[RecordingWorker, list[str]]
) -> None:
    running, _ = worker
    token = issuer.token(aud="https://brain.example")
    running.accept_audience("https://brain.example")
    assert post(running, "/process", {"Authorization": f"Bearer {token}"}) == 200


def test_fail_first_fails_each_task_once(
    issuer: Issuer, worker: tuple[RecordingWorker, list[str]]
) -> None:
    running, _ = worker
    running.fail_first("key-1")
    auth = {"Authorization": f"Bearer {issuer.token(aud=running.url(''))}"}
    first = {**auth, "X-Idempotency-Key": "key-1", "X-CloudTasks-TaskName": "t1"}
    other = {**auth, "X-Idempotency-Key": "key-2", "X-CloudTasks-TaskName": "t2"}
    assert post(running, "/process", first) == 503
    assert post(running, "/process", first) == 200
    assert post(running, "/process", other) == 200
    assert running.records()[0].reason.startswith("fail_first")


def test_fail_first_several_attempts(
    issuer: Issuer, worker: tuple[RecordingWorker, list[str]]
) -> None:
    running, _ = worker
    running.fail_first("/flaky", attempts=2)
    auth = {"Authorization": f"Bearer {issuer.token(aud=running.url(''))}"}
    task = {**auth, "X-CloudTasks-TaskName": "t3"}
    assert [post(running, "/flaky", task) for _ in range(3)] == [503, 503, 200]


def test_hang_outlasts_a_client_deadline(
    issuer: Issuer, worker: tuple[RecordingWorker, list[str]]
) -> None:
    running, _ = worker
    running.hang("/slow", hold_s=30)
    auth = {"Authorization": f"Bearer {issuer.token(aud=running.url(''))}"}
    task = {**auth, "X-CloudTasks-TaskName": "t4"}
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        post(running, "/slow", task, timeout_s=0.5)
    assert post(running, "/fast", auth) == 200
    assert post(running, "/slow", task, timeout_s=5) == 200  # the retry is answered at once
    assert [r.path for r in running.records()] == ["/slow", "/fast", "/slow"]
    assert [r.ok for r in running.records()] == [False, True, True]


def test_without_a_check_everything_is_200() -> None:
    running = RecordingWorker()
    running.start()
    try:
        assert post(running, "/process", {}) == 200
    finally:
        running.stop()
