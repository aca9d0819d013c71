"""Pure descriptions of a task and a queue, from plain protobuf values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from google.cloud import tasks_v2

from bridge.cli.tasks_view import describe_queue, describe_task

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
NAME = "projects/p/locations/l/queues/q/tasks/abc"


def task(**fields: Any) -> Any:
    return tasks_v2.Task(
        name=NAME,
        http_request={
            "url": "https://w.example/run",
            "oidc_token": {"service_account_email": "sa@p.iam.gserviceaccount.com"},
        },
        dispatch_deadline={"seconds": 700},
        **fields,
    )


def test_a_task_scheduled_ahead() -> None:
    view = describe_task(
        task(schedule_time=NOW + timedelta(hours=1)), queue_state="RUNNING", now=NOW
    )
    assert view.state == "scheduled"
    assert view.detail == "scheduled for 2026-11-28T13:00:00Z"
    assert view.fields["queue"] == "projects/p/locations/l/queues/q"
    assert view.fields["audience"] == "https://w.example/run"  # none set: the URL is the audience
    assert view.fields["identity"] == "sa@p.iam.gserviceaccount.com"
    assert view.fields["deadline_s"] == 700


def test_a_task_being_dispatched() -> None:
    attempt = {"dispatch_time": NOW - timedelta(seconds=3)}
    view = describe_task(
        task(schedule_time=NOW, dispatch_count=1, last_attempt=attempt),
        queue_state="RUNNING",
        now=NOW,
    )
    assert view.state == "dispatching"
    assert "attempt 1" in view.detail


def test_a_retrying_task_shows_its_last_response() -> None:
    attempt = {
        "dispatch_time": NOW - timedelta(seconds=5),
        "response_time": NOW - timedelta(seconds=4),
        "response_status": {"code": 14, "message": "Service Unavailable"},
    }
    view = describe_task(
        task(
            schedule_time=NOW + timedelta(seconds=60),
            dispatch_count=2,
            response_count=2,
            last_attempt=attempt,
        ),
        queue_state="RUNNING",
        now=NOW,
    )
    assert view.state == "retrying"
    assert view.detail == (
        "retrying: attempt 3 scheduled for 2026-11-28T12:01:00Z; last response UNAVAILABLE "
        "(14) 'Service Unavailable' at 2026-11-28T11:59:56Z"
    )
    assert view.fields["last_response"]["code"] == 14
    assert view.fields["last_response"]["status"] == "UNAVAILABLE"


def test_a_paused_queue_says_so() -> None:
    view = describe_task(task(schedule_time=NOW), queue_state="PAUSED", now=NOW)
    assert view.state == "paused"


def test_a_queue_and_its_settings() -> None:
    queue = tasks_v2.Queue(
        name="projects/p/locations/l/queues/q",
        state=tasks_v2.Queue.State.PAUSED,
        rate_limits={"max_dispatches_per_second": 5, "max_concurrent_dispatches": 2},
        retry_config={"max_attempts": 3, "min_backoff": {"seconds": 10}},
    )
    report = describe_queue(queue)
    assert report["state"] == "PAUSED"
    assert (report["max_dispatches_per_second"], report["max_concurrent_dispatches"]) == (5, 2)
    assert (report["max_attempts"], report["min_backoff_s"]) == (3, 10)
