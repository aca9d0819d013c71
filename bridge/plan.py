"""The pure core: from a validated envelope to the exact task to create. No network, no clock.

Everything a task will be (queue, name, URL, headers, body, OIDC identity, deadline, schedule)
is decided here, so it can be tested with plain values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

import pydantic_core

from bridge.config import Route, Settings
from bridge.envelope import Envelope
from bridge.errors import PermanentError, Reason
from bridge.limits import MAX_CLOCK_SKEW_S, MAX_DELAY_S
from bridge.naming import KeyKind, task_id_for, task_name_for
from bridge.trace import TRACEPARENT, parse_traceparent

IDEMPOTENCY_HEADER = "X-Idempotency-Key"
MESSAGE_ID_HEADER = "X-Pubsub-Message-Id"
# A publish time further ahead than this is not a clock skew but a lie (or a hand-made push).
MAX_CLOCK_SKEW = timedelta(seconds=MAX_CLOCK_SKEW_S)
MAX_SCHEDULE_AHEAD = timedelta(seconds=MAX_DELAY_S)


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One HTTP task, fully decided."""

    route: Route
    task_name: str  # full path: projects/P/locations/L/queues/Q/tasks/ID
    caller_sa: str
    deadline_s: int
    schedule_time: datetime | None  # None: dispatch now
    headers: Mapping[str, str]
    body: bytes
    idempotency_key: str  # what the worker sees in X-Idempotency-Key


@dataclass(frozen=True, slots=True)
class DedupeKey:
    """What names the task: a publisher's key, or a Pub/Sub message id."""

    kind: KeyKind
    value: str


def route_for(settings: Settings, service: str) -> Route:
    """Raised if unknown: ``PermanentError(unknown_service)``, listing the known services."""
    route = settings.routes.get(service)
    if route is None:
        known = ", ".join(settings.service_names)
        raise PermanentError(
            Reason.UNKNOWN_SERVICE,
            f"service: unknown service {service!r}; known services: {known}",
            field="service",
        )
    return route


def exact_body(data: bytes, *, max_body_bytes: int) -> bytes:
    """Attribute mode: the data as published is the body (already checked to be a JSON object)."""
    if len(data) > max_body_bytes:
        raise PermanentError(
            Reason.TOO_LARGE,
            f"payload: {len(data)} bytes, over the limit of {max_body_bytes}",
            field="payload",
        )
    return data


# One encoder for every body: ``json.dumps`` with options builds a new one per call.
_BODY_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})
_STRING_KEYS = frozenset({str})


def encode_body(payload: object, *, max_body_bytes: int) -> bytes:
    """Envelope mode: the payload as the worker receives it, re-serialised as compact UTF-8 JSON
    (non-ASCII kept as is; see docs/configuration.md for what that normalises), as Python's
    ``json`` writes it.

    pydantic's encoder writes the same bytes for a payload without floats in a quarter to a
    half of the time (``tests/test_plan.py`` holds the two to the same bytes), so it writes
    those; Python's writes the rest, and refuses what it refuses.
    """
    encoded = _written_by_pydantic(payload)
    if encoded is None:
        try:
            text = _BODY_JSON.encode(payload)
        except ValueError as e:  # NaN or Infinity: not JSON, a worker could not parse it
            raise PermanentError(Reason.BAD_JSON, f"payload: {e}", field="payload") from e
        encoded = text.encode("utf-8")
    if len(encoded) > max_body_bytes:
        raise PermanentError(
            Reason.TOO_LARGE,
            f"payload: {len(encoded)} bytes as JSON, over the limit of {max_body_bytes}",
            field="payload",
        )
    return encoded


def _written_by_pydantic(payload: object) -> bytes | None:
    """The body by pydantic's encoder where it writes Python's bytes, else None."""
    if not _is_plain_json(payload):
        return None
    try:
        return pydantic_core.to_json(payload)
    except ValueError:  # a lone surrogate, too deep: Python's encoder says what is wrong
        return None


def _is_plain_json(value: object) -> bool:
    """Whether ``value`` is only dicts with string keys, lists, strings, integers, booleans and
    nulls: what pydantic's encoder writes byte for byte as Python's does. Not a float, which it
    writes in another form (``1e-05`` as ``0.00001``, ``1e+16`` as ``1e16``), nor anything else."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)  # exactly these types: a subclass may write itself otherwise
        if kind is dict:
            mapping = cast("dict[object, object]", item)
            if not _STRING_KEYS.issuperset(map(type, mapping)):
                return False
            pending.extend(mapping.values())
        elif kind is list:
            pending.extend(cast("list[object]", item))
        elif kind not in _PLAIN_SCALARS:
            return False
    return True


def plan_task(
    envelope: Envelope,
    *,
    settings: Settings,
    dedupe: DedupeKey,
    message_id: str | None,
    not_before: datetime,
    now: datetime,
    traceparent: str | None = None,
    exact_payload: bytes | None = None,
) -> TaskSpec:
    """Decide the task for ``envelope``; its schedule counts ``delay_s`` from ``not_before``.

    ``exact_payload``: the payload's own bytes (attribute mode), forwarded as they are.
    """
    route = route_for(settings, envelope.service)
    if exact_payload is not None:
        body = exact_body(exact_payload, max_body_bytes=settings.max_body_bytes)
    else:
        body = encode_body(envelope.payload, max_body_bytes=settings.max_body_bytes)
    header_key = envelope.idempotency_key or dedupe.value
    headers = {"Content-Type": "application/json", IDEMPOTENCY_HEADER: header_key}
    if message_id:
        headers[MESSAGE_ID_HEADER] = message_id
    trace = parse_traceparent(traceparent)
    if trace is not None:
        headers[TRACEPARENT] = trace.traceparent
    scheduled = schedule_for(not_before=not_before, delay_s=envelope.delay_s, now=now)
    task_id = task_id_for(service=route.service, kind=dedupe.kind, value=dedupe.value)
    return TaskSpec(
        route=route,
        task_name=task_name_for(queue_path=route.queue_path, task_id=task_id),
        caller_sa=settings.caller_sa,
        deadline_s=envelope.deadline_s or route.deadline_s,
        schedule_time=scheduled,
        headers=headers,
        body=body,
        idempotency_key=header_key,
    )


def schedule_for(*, not_before: datetime, delay_s: int, now: datetime) -> datetime | None:
    """When to dispatch: ``delay_s`` after ``not_before``; None for "now" (that moment passed).

    A ``not_before`` beyond the clock skew is not trusted (counted from ``now`` instead), and the
    result is clamped to Cloud Tasks' 30 days from ``now``: the schedule is always one it accepts.
    """
    start = not_before if not_before <= now + MAX_CLOCK_SKEW else now
    scheduled = min(start + timedelta(seconds=delay_s), now + MAX_SCHEDULE_AHEAD)
    return scheduled if scheduled > now else None
