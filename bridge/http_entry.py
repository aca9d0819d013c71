"""``POST /enqueue``: the old enqueuer's HTTP API, on the same core, for its existing callers.

Status codes: 200 created or duplicate; 422 with a FastAPI-style ``{"detail": [...]}`` for any
invalid request; 413 for a body over the limit; 503 with ``Retry-After`` when Cloud Tasks fails
in a way that retrying may fix. Without ``idempotency_key`` a random key is used, as before:
such requests are not deduplicated.

Served on functions-framework's ASGI stack (Starlette): ``handle`` is a coroutine awaiting its
CreateTask, so one instance serves many callers at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from time import perf_counter
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from bridge.clock import utc_now
from bridge.config import Settings
from bridge.envelope import parse_envelope
from bridge.errors import PermanentError, Reason, TransientError
from bridge.gateway import AsyncTaskGateway
from bridge.limits import MAX_REQUEST_BYTES, RETRY_AFTER_S
from bridge.logs import Outcome, duplicate_note, fingerprint, log_outcome
from bridge.naming import KeyKind
from bridge.plan import DedupeKey, plan_task
from bridge.trace import TRACEPARENT, log_fields, parse_traceparent


class HttpBridge:
    def __init__(
        self,
        *,
        settings: Settings,
        gateway: AsyncTaskGateway,
        clock: Callable[[], datetime] = utc_now,
        new_key: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._settings = settings
        self._gateway = gateway
        self._clock = clock
        self._new_key = new_key

    async def handle(self, request: Request) -> JSONResponse:
        if request.url.path.rstrip("/") != "/enqueue":
            return _json({"detail": "Not Found"}, 404)
        if request.method != "POST":
            return _json({"detail": "Method Not Allowed"}, 405, Allow="POST")
        started = perf_counter()
        trace = parse_traceparent(request.headers.get(TRACEPARENT))
        traced = log_fields(trace, project_id=self._settings.project_id)
        too_large = _json({"detail": f"request body over {MAX_REQUEST_BYTES} bytes"}, 413)
        if _content_length(request) > MAX_REQUEST_BYTES:
            return too_large
        # Read at most one byte past the limit, whatever Content-Length claimed (or omitted).
        body = await _read_at_most(request, MAX_REQUEST_BYTES + 1)
        if len(body) > MAX_REQUEST_BYTES:
            return too_large
        try:
            envelope = parse_envelope(body)
            key = envelope.idempotency_key or self._new_key()
            now = self._clock()
            spec = plan_task(
                envelope,
                settings=self._settings,
                dedupe=DedupeKey(KeyKind.IDEMPOTENCY_KEY, key),
                message_id=None,
                not_before=now,
                now=now,
                traceparent=trace.traceparent if trace else None,
            )
            result = await self._gateway.create(spec)
        except PermanentError as e:
            _log(Outcome.REJECTED, body, started, reason=e.reason.value, error=e.detail, **traced)
            if e.reason is Reason.TOO_LARGE:
                return _json({"detail": e.detail}, 413)
            return _json({"detail": [_detail_item(e, self._settings)]}, 422)
        except TransientError as e:
            _log(Outcome.RETRY, body, started, reason=e.code, error=e.detail, **traced)
            return _json(
                {"detail": f"Cloud Tasks is unavailable ({e.code}); retry later"},
                503,
                **{"Retry-After": str(RETRY_AFTER_S)},
            )
        outcome = Outcome.DUPLICATE if result.duplicate else Outcome.CREATED
        severity, note = duplicate_note(result.task_state)
        _log(
            outcome,
            body,
            started,
            severity=severity,
            note=note,
            service=envelope.service,
            task=result.task_name,
            task_state=result.task_state,
            **traced,
        )
        return _json(
            {
                "ok": True,
                "task": result.task_name,
                "service": envelope.service,
                "queue": spec.route.queue_id,
                "deadline_s": spec.deadline_s,
                "idempotency_key": key,
                "duplicate": result.duplicate,
                **({"task_state": result.task_state.value} if result.task_state else {}),
            },
            200,
        )


def _detail_item(error: PermanentError, settings: Settings) -> dict[str, Any]:
    loc = ["body", *(error.field.split(".") if error.field else [])]
    item: dict[str, Any] = {"type": error.reason.value, "loc": loc, "msg": error.detail}
    if error.reason is Reason.UNKNOWN_SERVICE:
        item["ctx"] = {"known_services": settings.service_names}
    return item


def _content_length(request: Request) -> int:
    """The declared length; 0 when absent or unreadable (the read below caps the body anyway)."""
    try:
        return int(request.headers.get("content-length", "0"))
    except ValueError:
        return 0


async def _read_at_most(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    read = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        read += len(chunk)
        if read >= limit:
            break  # stop reading: the rest of the body is never pulled from the connection
    return b"".join(chunks)[:limit]


def _json(body: dict[str, Any], status: int, **headers: str) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers or None)


def _log(
    outcome: Outcome,
    body: bytes,
    started: float,
    *,
    severity: str | None = None,
    note: str = "",
    **fields: Any,
) -> None:
    log_outcome(
        outcome,
        message=f"{outcome.value} POST /enqueue{note}",
        severity=severity,
        entry="http",
        data_bytes=len(body),
        data_sha256=fingerprint(body),
        latency_ms=round((perf_counter() - started) * 1000, 2),
        **fields,
    )
