"""Test helpers on the HTTP port, under ``/_emulator/``: not part of Cloud Tasks' API.

- ``POST /_emulator/reset``: forget every queue, task, reserved task and queue name, CMEK config
  and operation, without a restart (also in the data directory). Answers ``{}``.
- ``POST`` or ``GET /_emulator/wait?queue=projects/P/locations/L/queues/Q&timeout_s=10``: answer
  once the queue (no ``queue``: every queue) has no task pending or in flight and no batch is
  running: ``{"idle": true, "tasks": 0}``; after ``timeout_s`` (default 30, at most 600) without
  that, 504 DEADLINE_EXCEEDED in Google's error shape, saying how many are left. A task scheduled
  later, or held by a paused queue, is pending.

Only callers on this machine (loopback addresses) are answered; others get 403
PERMISSION_DENIED, even when the emulator listens on another address.
"""

from __future__ import annotations

import enum
import json
import math
from typing import Protocol

import grpc
from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from tasks_emulator.errors import ApiError
from tasks_emulator.loopback import is_loopback

PREFIX = "/_emulator"
DEFAULT_WAIT_S = 30.0
MAX_WAIT_S = 600.0
_JSON = "application/json; charset=UTF-8"


class TestHelpers(Protocol):
    """What the helpers ask of the service."""

    def reset(self) -> None: ...
    def wait_idle(self, *, queue: str | None, timeout_s: float) -> int: ...


class Helper(enum.Enum):
    RESET = "reset"
    WAIT = "wait"


def rules() -> list[Rule]:
    return [
        Rule(f"{PREFIX}/reset", methods=["POST"], endpoint=Helper.RESET),
        Rule(f"{PREFIX}/wait", methods=["GET", "POST"], endpoint=Helper.WAIT),
    ]


def _timeout_s(request: Request) -> float:
    text = request.args.get("timeout_s", "")
    if not text:
        return DEFAULT_WAIT_S
    try:
        value = float(text)
    except ValueError as e:
        raise ApiError(
            grpc.StatusCode.INVALID_ARGUMENT, f"timeout_s must be a number: {text!r}."
        ) from e
    if not (math.isfinite(value) and 0 <= value <= MAX_WAIT_S):
        raise ApiError(
            grpc.StatusCode.INVALID_ARGUMENT, f"timeout_s must be between 0 and {MAX_WAIT_S:g}."
        )
    return value


def respond(helper: Helper, target: TestHelpers | None, request: Request) -> Response:
    """The helper's answer (an ApiError for the REST adapter to shape, when it fails)."""
    if target is None:
        raise ApiError(grpc.StatusCode.NOT_FOUND, f"{request.path} is not served here.")
    if not is_loopback(request.remote_addr):
        raise ApiError(
            grpc.StatusCode.PERMISSION_DENIED,
            f"{PREFIX}/ helpers answer callers on this machine only.",
        )
    if helper is Helper.RESET:
        target.reset()
        return Response("{}", content_type=_JSON)
    queue = request.args.get("queue") or None
    timeout_s = _timeout_s(request)
    left = target.wait_idle(queue=queue, timeout_s=timeout_s)
    if left:
        raise ApiError(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"Still {left} task(s) pending or in flight (or batches running) after "
            f"{timeout_s:g} s.",
        )
    return Response(json.dumps({"idle": True, "tasks": 0}), content_type=_JSON)
