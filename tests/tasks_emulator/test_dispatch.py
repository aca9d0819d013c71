"""Dispatch through a real worker: the request, the headers, the token, retries, limits.

Production's behaviour is as tasks_emulator/README.md's fidelity table says. The worker verifies
each OIDC token with google-auth against the keys the emulator publishes.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from typing import Any

import pytest
from google.api_core import exceptions
from google.cloud import tasks_v2
from google.protobuf import duration_pb2, timestamp_pb2

from tasks_emulator import retry
from tests.tasks_emulator.conftest import (
    CLIENTS,
    PARENT,
    Emulator,
    Worker,
    new_queue_name,
    wait_for,
)
from tests.tasks_emulator.test_service import PRODUCTION_TASK_GONE

SA = "worker-invoker@emu-project.iam.gserviceaccount.com"
QUIET_S = 1.0  # how long "nothing more happens" is watched


def _queue(client: Any, **config: Any) -> str:
    name = new_queue_name()
    client.create_queue(parent=PARENT, queue={"name": name, **config})
    return name


def _create(client: Any, queue: str, worker: Worker, task_id: str, **http: Any) -> Any:
    extra: dict[str, Any] = {
        k: http.pop(k) for k in ("schedule_time", "dispatch_deadline") if k in http
    }
    return client.create_task(
        parent=queue,
        task={
            "name": f"{queue}/tasks/{task_id}",
            "http_request": {"url": f"{worker.url}/{task_id}", **http},
            **extra,
        },
    )


def _gone(client: Any, name: str) -> bool:
    try:
        client.get_task(name=name)
    except exceptions.NotFound as e:
        return bool(e.message.endswith(PRODUCTION_TASK_GONE))  # REST prefixes the method and URL
    return False


def _retry(min_s: float, max_s: float, **more: Any) -> dict[str, Any]:
    return {
        "min_backoff": duration_pb2.Duration(nanos=int(min_s * 1e9))
        if min_s < 1
        else dt.timedelta(seconds=min_s),
        "max_backoff": dt.timedelta(seconds=max_s),
        **more,
    }


def test_the_worker_gets_the_task_as_production_sends_it(client: Any, worker: Worker) -> None:
    queue = _queue(client)
    eta = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=0.3)
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(eta)
    task = _create(
        client,
        queue,
        worker,
        "first",
        http_method=tasks_v2.HttpMethod.PUT,
        headers={"Content-Type": "application/json", "User-Agent": "mine", "X-Mine": "1"},
        body=b'{"a": 1}',
        schedule_time=stamp,
    )
    (delivery,) = worker.wait_for("first", 1, timeout_s=10)
    assert delivery.received_s >= eta.timestamp() - 0.01
    assert (delivery.method, delivery.path, delivery.body) == ("PUT", "/first", b'{"a": 1}')
    headers = delivery.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Mine"] == "1"
    assert headers["User-Agent"] == "Google-Cloud-Tasks"
    assert headers["X-CloudTasks-QueueName"] == queue.rsplit("/", 1)[1]
    assert headers["X-CloudTasks-TaskName"] == "first"
    assert headers["X-CloudTasks-TaskRetryCount"] == "0"
    assert headers["X-CloudTasks-TaskExecutionCount"] == "0"
    assert abs(float(headers["X-CloudTasks-TaskETA"]) - eta.timestamp()) < 0.001
    assert "X-CloudTasks-TaskPreviousResponse" not in headers
    assert "X-CloudTasks-TaskRetryReason" not in headers
    assert "Authorization" not in headers
    wait_for(lambda: _gone(client, task.name), timeout_s=10, what="the task to be done")
    with pytest.raises(exceptions.Conflict):
        _create(client, queue, worker, "first")
    time.sleep(QUIET_S)  # a bounded window: a 2xx is never delivered again
    assert len(worker.of("first")) == 1


def test_the_oidc_token_verifies_with_productions_claims(client: Any, worker: Worker) -> None:
    queue = _queue(client)
    _create(
        client,
        queue,
        worker,
        "aud",
        oidc_token={"service_account_email": SA, "audience": "https://svc.example"},
    )
    _create(client, queue, worker, "url", oidc_token={"service_account_email": SA})
    (explicit,) = worker.wait_for("aud", 1, timeout_s=10)
    (default,) = worker.wait_for("url", 1, timeout_s=10)
    for delivery, audience in ((explicit, "https://svc.example"), (default, f"{worker.url}/url")):
        assert delivery.token_error == ""
        claims = delivery.claims
        assert claims is not None
        assert claims["iss"] == "https://accounts.google.com"
        assert claims["aud"] == audience
        assert claims["email"] == SA
        assert claims["email_verified"] is True
        assert claims["sub"] == claims["azp"]
        assert claims["sub"].isdigit()
        assert claims["exp"] - claims["iat"] == 3600
        assert abs(claims["iat"] - delivery.received_s) < TOKEN_SLACK_S


TOKEN_SLACK_S = 301.0  # the dispatcher reuses a token for up to 5 minutes


def test_a_header_authorization_is_replaced_by_the_token(client: Any, worker: Worker) -> None:
    queue = _queue(client)
    _create(
        client,
        queue,
        worker,
        "replaced",
        headers={"Authorization": "Bearer mine"},
        oidc_token={"service_account_email": SA},
    )
    (delivery,) = worker.wait_for("replaced", 1, timeout_s=10)
    assert delivery.claims is not None
    assert delivery.headers["Authorization"] != "Bearer mine"


def test_an_oauth_token_sends_a_bearer_token(client: Any, worker: Worker) -> None:
    queue = _queue(client)
    _create(client, queue, worker, "oauth", oauth_token={"service_account_email": SA})
    (delivery,) = worker.wait_for("oauth", 1, timeout_s=10)
    assert delivery.headers["Authorization"].startswith("Bearer ya29.")


def test_a_queue_level_http_target_overrides_the_task(client: Any, worker: Worker) -> None:
    port = int(worker.url.rsplit(":", 1)[1])
    queue = _queue(
        client,
        http_target={
            "uri_override": {
                "scheme": tasks_v2.UriOverride.Scheme.HTTP,  # unset, a URL-less task gets HTTPS
                "host": "127.0.0.1",
                "port": port,
                "path_override": {"path": "/q"},
            },
            "header_overrides": [{"header": {"key": "X-Queue", "value": "yes"}}],
            "oidc_token": {"service_account_email": SA, "audience": "https://queue.example"},
        },
    )
    assert client.get_queue(name=queue).http_target.uri_override.host == "127.0.0.1"
    client.create_task(
        parent=queue,
        task={
            "name": f"{queue}/tasks/overridden",
            "http_request": {"url": "http://task.invalid/t", "headers": {"X-Queue": "no"}},
        },
    )
    client.create_task(
        parent=queue,
        task={"name": f"{queue}/tasks/no-url", "http_request": {"body": b"b"}},
    )
    (no_url,) = worker.wait_for("no-url", 1, timeout_s=10)
    assert (no_url.path, no_url.body) == ("/q", b"b")  # the override made the whole URL
    (delivery,) = worker.wait_for("overridden", 1, timeout_s=10)
    assert delivery.path == "/q"
    assert delivery.headers["X-Queue"] == "yes"
    assert delivery.claims is not None
    assert delivery.claims["aud"] == "https://queue.example"


def test_retry_headers_follow_productions_table(client: Any, worker: Worker) -> None:
    queue = _queue(client, retry_config=_retry(0.05, 0.05))
    worker.plan("table", ["503", "404", "200"])
    task = _create(client, queue, worker, "table")
    deliveries = worker.wait_for("table", 3, timeout_s=10)
    seen = [
        (
            d.headers["X-CloudTasks-TaskRetryCount"],
            d.headers["X-CloudTasks-TaskExecutionCount"],
            d.headers.get("X-CloudTasks-TaskPreviousResponse"),
            d.headers.get("X-CloudTasks-TaskRetryReason"),
        )
        for d in deliveries
    ]
    assert seen == [("0", "0", None, None), ("1", "0", "503", ""), ("2", "1", "404", "")]
    wait_for(lambda: _gone(client, task.name), timeout_s=10, what="the task to be done")


def test_retries_wait_as_the_backoff_formula_says(client: Any, worker: Worker) -> None:
    """One doubling, then linear growth, then the cap: each phase differs from the others by
    0.25 s, more than the tolerance for a loaded machine."""
    queue = _queue(client, retry_config=_retry(0.25, 1.75, max_doublings=1))
    worker.plan("timed", ["503"] * 5)
    _create(client, queue, worker, "timed")
    deliveries = worker.wait_for("timed", 6, timeout_s=20)
    gaps = [b.received_s - a.received_s for a, b in itertools.pairwise(deliveries)]
    policy = retry.RetryPolicy(
        max_attempts=100,
        max_retry_duration_s=0,
        min_backoff_s=0.25,
        max_backoff_s=1.75,
        max_doublings=1,
    )
    expected = [retry.backoff_s(policy, failed_attempts=n) for n in range(1, 6)]
    # Doubling would give 0.25, 0.5, 1.0, 1.75, 1.75; no cap 0.25, 0.5, 1.0, 1.5, 2.0.
    assert expected == pytest.approx([0.25, 0.5, 1.0, 1.5, 1.75])
    for gap, want in zip(gaps, expected, strict=True):
        assert want - 0.005 <= gap <= want + 0.2, (gaps, expected)


def test_a_503_with_retry_after_waits_at_least_that_long(client: Any, worker: Worker) -> None:
    queue = _queue(client, retry_config=_retry(0.05, 10))
    worker.plan("busy", ["busy"])
    _create(client, queue, worker, "busy")
    first, second = worker.wait_for("busy", 2, timeout_s=10)
    assert second.received_s - first.received_s >= 1.0


def test_get_task_shows_the_attempts(client: Any, worker: Worker) -> None:
    queue = _queue(client, retry_config=_retry(60, 60))
    worker.plan("counted", ["503"])
    task = _create(client, queue, worker, "counted")
    worker.wait_for("counted", 1, timeout_s=10)
    got = wait_for(
        lambda: (t := client.get_task(name=task.name)).response_count == 1 and t,
        timeout_s=10,
        what="the attempt to be recorded",
    )
    assert got.dispatch_count == 1
    assert got.first_attempt.dispatch_time is not None
    last = got.last_attempt
    assert last.response_status.code == 14  # UNAVAILABLE, production's mapping of 503
    assert last.dispatch_time <= last.response_time
    assert last.schedule_time == task.schedule_time
    # The next attempt is scheduled min_backoff after the failure.
    delay = got.schedule_time - last.response_time
    assert dt.timedelta(seconds=59.9) <= delay <= dt.timedelta(seconds=60.1)


def test_max_attempts_then_the_name_stays_reserved(client: Any, worker: Worker) -> None:
    queue = _queue(client, retry_config={**_retry(0.05, 0.05), "max_attempts": 3})
    worker.plan("exhausted", ["500"] * 10)
    task = _create(client, queue, worker, "exhausted")
    worker.wait_for("exhausted", 3, timeout_s=10)
    wait_for(lambda: _gone(client, task.name), timeout_s=10, what="the task to be given up")
    time.sleep(QUIET_S)
    assert len(worker.of("exhausted")) == 3
    with pytest.raises(exceptions.Conflict):
        _create(client, queue, worker, "exhausted")


def test_max_retry_duration_keeps_retrying_past_max_attempts(client: Any, worker: Worker) -> None:
    config = {**_retry(0.2, 0.2), "max_attempts": 2, "max_retry_duration": dt.timedelta(seconds=1)}
    queue = _queue(client, retry_config=config)
    worker.plan("aged", ["500"] * 20)
    task = _create(client, queue, worker, "aged")
    wait_for(lambda: _gone(client, task.name), timeout_s=15, what="the task to be given up")
    deliveries = worker.of("aged")
    span_s = deliveries[-1].received_s - deliveries[0].received_s
    # Both limits must be exhausted: 2 attempts are not enough before a second has passed.
    assert len(deliveries) > 2
    assert 1.0 - 0.25 <= span_s <= 1.0 + 0.5


def test_a_paused_queue_holds_tasks_and_run_task_dispatches_anyway(
    client: Any, worker: Worker
) -> None:
    queue = _queue(client)
    client.pause_queue(name=queue)
    held = _create(client, queue, worker, "held")
    forced = _create(client, queue, worker, "forced")
    ran = client.run_task(name=forced.name)
    assert ran.name == forced.name
    worker.wait_for("forced", 1, timeout_s=10)
    time.sleep(QUIET_S)
    assert worker.of("held") == []
    assert client.get_task(name=held.name).dispatch_count == 0
    client.resume_queue(name=queue)
    worker.wait_for("held", 1, timeout_s=10)
    wait_for(lambda: _gone(client, forced.name), timeout_s=10, what="the forced task to be done")
    with pytest.raises(exceptions.NotFound):
        client.run_task(name=forced.name)


def test_max_concurrent_dispatches_1_serialises(client: Any, worker: Worker) -> None:
    queue = _queue(client, rate_limits={"max_concurrent_dispatches": 1})
    ids = [f"serial{i}" for i in range(3)]
    for task_id in ids:
        worker.plan(task_id, ["slow"])
        _create(client, queue, worker, task_id)
    deliveries = sorted(
        (worker.wait_for(task_id, 1, timeout_s=10)[0] for task_id in ids),
        key=lambda d: d.received_s,
    )
    for earlier, later in itertools.pairwise(deliveries):
        assert later.received_s - earlier.received_s >= Worker.SLOW_S - 0.01


def test_max_dispatches_per_second_after_the_burst(client: Any, worker: Worker) -> None:
    queue = _queue(client, rate_limits={"max_dispatches_per_second": 5})
    assert client.get_queue(name=queue).rate_limits.max_burst_size == 10
    client.pause_queue(name=queue)
    ids = [f"rated{i:02}" for i in range(14)]
    for task_id in ids:
        _create(client, queue, worker, task_id)
    resumed_s = time.time()
    client.resume_queue(name=queue)
    times = sorted(worker.wait_for(task_id, 1, timeout_s=10)[0].received_s for task_id in ids)
    # The bucket is full: 10 at once (one token at a time, they would need 1.8 s); then one
    # token every 0.2 s from the resume on, so the k-th after the burst comes k * 0.2 s late.
    assert times[9] - times[0] < 1.0
    for k, received_s in enumerate(times[10:], start=1):
        assert received_s >= resumed_s + k * 0.2 - 0.01, (k, received_s - resumed_s)


def test_a_reset_and_a_closed_port_are_failed_attempts(client: Any, worker: Worker) -> None:
    queue = _queue(client, retry_config=_retry(0.05, 0.05))
    worker.plan("reset", ["reset"])
    task = _create(client, queue, worker, "reset")
    worker.wait_for("reset", 2, timeout_s=10)
    wait_for(lambda: _gone(client, task.name), timeout_s=10, what="the retried task to be done")
    closed = client.create_task(
        parent=queue,
        task={"name": f"{queue}/tasks/closed", "http_request": {"url": "http://127.0.0.1:9/x"}},
    )
    got = wait_for(
        lambda: (t := client.get_task(name=closed.name)).dispatch_count >= 2 and t,
        timeout_s=10,
        what="two failed attempts on a closed port",
    )
    assert got.response_count == 0
    assert got.last_attempt.response_status.code == 14  # UNAVAILABLE


def test_a_hanging_worker_is_cut_off_at_the_deadline(emulator: Emulator, worker: Worker) -> None:
    """The 15 s minimum deadline, once per transport, in parallel."""
    results: dict[str, Any] = {}

    def one(transport: str) -> None:
        client = CLIENTS[transport](emulator)
        queue = _queue(client, retry_config=_retry(60, 60))
        task_id = f"hang-{transport}"
        worker.plan(task_id, ["hang"])
        task = _create(client, queue, worker, task_id, dispatch_deadline=dt.timedelta(seconds=15))
        worker.wait_for(task_id, 1, timeout_s=10)
        # While it hangs: dispatch_count counts the attempt, response_count does not (yet).
        during = client.get_task(name=task.name)
        results[f"{transport} during"] = (during.dispatch_count, during.response_count)
        results[transport] = wait_for(
            lambda: (
                (t := client.get_task(name=task.name)).dispatch_count == 1
                and t.last_attempt.response_time
                and t
            ),
            timeout_s=30,
            what=f"the deadline over {transport}",
        )

    threads = [threading.Thread(target=one, args=(transport,)) for transport in CLIENTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(40)
    assert sorted(results) == sorted([*CLIENTS, *(f"{t} during" for t in CLIENTS)])
    for transport in CLIENTS:
        assert results[f"{transport} during"] == (1, 0)
        got = results[transport]
        last = got.last_attempt
        assert last.response_status.code == 4  # DEADLINE_EXCEEDED
        assert got.response_count == 0
        held = (last.response_time - last.dispatch_time).total_seconds()
        assert 15.0 - 0.05 <= held <= 15.0 + 1.5
