"""What one task, or one queue, looks like to an operator: pure descriptions of Cloud Tasks'
answers for ``bridge status`` and ``bridge queues``. No network, the time passed in.

Only these fields are read: queue, schedule, attempts and their last response, the worker URL,
audience, OIDC identity and dispatch deadline; the body only when asked (it is personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from google.rpc import code_pb2

from bridge.logs import RESERVATION_WINDOW

# Why a task is not found (bridge.cli.tasks_reader decides which).
NEVER = "never"  # Cloud Tasks has no record of the name
RECENTLY = "recently"  # reserved: it ran or was deleted within the window

RECENT_MEANING = (
    "the task completed or was deleted recently (within Cloud Tasks' name-reservation window, "
    f"{RESERVATION_WINDOW}): re-publishing the same key now is a `reserved` duplicate and will "
    "NOT run; publish with a new key to run the work again"
)
NEVER_MEANING = (
    "Cloud Tasks has no record of this name: it was never created, or finished longer ago than "
    "the reservation window; re-publishing the same key creates it (check the rejected and "
    "dead-letter subscriptions with --look-in rejected,dead-letter)"
)


NO_QUEUE = "no_queue"  # the name's queue does not exist
UNCONFIGURED = "unconfigured"  # the service is not configured: no task can exist


def no_queue_meaning(queue: str) -> str:
    return (
        f"the queue {queue} does not exist: Cloud Tasks answers NOT_FOUND, so the bridge retries "
        "this service's messages until Pub/Sub moves them to the dead-letter topic; create the "
        "queue (terraform apply), then `bridge replay` them from the dead-letter subscription "
        "(--look-in dead-letter finds them)"
    )


def unconfigured_meaning(service: str) -> str:
    return (
        f"service {service!r} is not configured here (QUEUE_<S>, BRIDGE_SERVICES): the bridge "
        "rejects its messages as unknown_service, so no task exists; configure the service, "
        "then `bridge replay --reason unknown_service` republishes them"
    )


@dataclass(frozen=True, slots=True)
class TaskView:
    state: str  # scheduled | dispatching | retrying | paused
    detail: str  # one sentence
    fields: dict[str, Any]  # for --json (and the table)


def _time(value: Any) -> datetime | None:
    """A proto-plus timestamp (a datetime) or None when unset (the epoch)."""
    if not isinstance(value, datetime) or value.timestamp() == 0:
        return None
    return value


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def rpc_code_name(code: int) -> str:
    """google.rpc.Code's name (UNAVAILABLE for 14: Cloud Tasks' word for an HTTP 503)."""
    try:
        return str(code_pb2.Code.Name(code))
    except ValueError:
        return f"CODE_{code}"


def describe_task(task: Any, *, queue_state: str | None, now: datetime) -> TaskView:
    """The state of a ``tasks_v2.Task`` (proto-plus), in the words of the issue's spec."""
    http = task.http_request
    attempt = task.last_attempt
    dispatched = _time(attempt.dispatch_time) if attempt else None
    responded = _time(attempt.response_time) if attempt else None
    scheduled = _time(task.schedule_time)
    last_response: dict[str, Any] | None = None
    if responded is not None:
        status = attempt.response_status
        last_response = {
            "code": int(status.code),
            "status": rpc_code_name(int(status.code)),
            "message": status.message,
            "at": _iso(responded),
        }
    if queue_state == "PAUSED":
        state, detail = "paused", "the queue is paused: nothing is dispatched until it resumes"
    elif dispatched is not None and responded is None:
        state = "dispatching"
        detail = f"dispatching: attempt {task.dispatch_count}, sent at {_iso(dispatched)}"
    elif task.dispatch_count > 0 and last_response is not None:
        state = "retrying"
        detail = (
            f"retrying: attempt {task.dispatch_count + 1} scheduled for {_iso(scheduled)}; "
            f"last response {last_response['status']} ({last_response['code']}) "
            f"{last_response['message']!r} at {last_response['at']}"
        )
    elif scheduled is not None and scheduled > now:
        state, detail = "scheduled", f"scheduled for {_iso(scheduled)}"
    else:
        state, detail = "scheduled", "due now: waiting for a dispatch slot"
    deadline = task.dispatch_deadline
    fields: dict[str, Any] = {
        "task": task.name,
        "queue": task.name.split("/tasks/")[0],
        "state": state,
        "detail": detail,
        "schedule_time": _iso(scheduled),
        "dispatch_count": int(task.dispatch_count),
        "response_count": int(task.response_count),
        "last_response": last_response,
        "url": http.url,
        "audience": http.oidc_token.audience or http.url,
        "identity": http.oidc_token.service_account_email or None,
        "deadline_s": int(deadline.total_seconds()) if deadline else None,
    }
    return TaskView(state=state, detail=detail, fields=fields)


def describe_queue(queue: Any) -> dict[str, Any]:
    """A ``tasks_v2.Queue``: its state and rate / retry settings."""
    rate, retry = queue.rate_limits, queue.retry_config
    return {
        "queue": queue.name,
        "state": queue.state.name,
        "max_dispatches_per_second": rate.max_dispatches_per_second,
        "max_burst_size": int(rate.max_burst_size),
        "max_concurrent_dispatches": int(rate.max_concurrent_dispatches),
        "max_attempts": int(retry.max_attempts),
        "max_retry_duration_s": _seconds(retry.max_retry_duration),
        "min_backoff_s": _seconds(retry.min_backoff),
        "max_backoff_s": _seconds(retry.max_backoff),
        "max_doublings": int(retry.max_doublings),
    }


def _seconds(value: Any) -> float | None:
    return value.total_seconds() if value is not None else None
