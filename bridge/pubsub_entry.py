"""The Pub/Sub entry: one CloudEvent in, one task (or one rejection) out.

What the message becomes is decided by the core (``bridge.message``, ``bridge.plan``); this
module decides only what happens next.

Ack or retry is decided here and nowhere else: returning acks the message (2xx); raising
``TransientError`` makes the function answer 5xx, so Pub/Sub redelivers it.

``handle`` is a coroutine: the function serves many pushes at once on one event loop, each
awaiting its CreateTask (or its rejection's publish). Everything between the awaits is the
synchronous core, which never blocks.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from time import perf_counter
from typing import Any

from bridge.clock import utc_now
from bridge.config import Settings
from bridge.envelope import Envelope
from bridge.errors import PermanentError, TransientError
from bridge.event import PubsubMessage, UnreadableMessage, decode_event, printable_id
from bridge.gateway import AsyncTaskGateway
from bridge.logs import Outcome, duplicate_note, fingerprint, log_outcome
from bridge.message import SERVICE_ATTRIBUTE, envelope_of, plan_envelope, unwrapped
from bridge.plan import TaskSpec
from bridge.rejections import AsyncRejectionSink, rejection_for
from bridge.trace import log_fields, trace_of


class PubsubBridge:
    def __init__(
        self,
        *,
        settings: Settings,
        gateway: AsyncTaskGateway,
        rejections: AsyncRejectionSink,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._gateway = gateway
        self._rejections = rejections
        self._clock = clock

    async def handle(self, *, event_id: str | None, event_time: str | None, data: Any) -> Outcome:
        """Raised if worth retrying: ``TransientError``. Any other end acks the message."""
        started = perf_counter()
        try:
            message = unwrapped(decode_event(event_id=event_id, event_time=event_time, data=data))
        except UnreadableMessage as e:
            # Keep what could be read of the message; without even that, the whole event body.
            unreadable = e.kept or PubsubMessage(
                message_id=printable_id(event_id),
                data=_event_bytes(data),
                attributes={},
                publish_time=None,
            )
            return await self._reject(unreadable, e, started=started)
        envelope: Envelope | None = None
        try:
            envelope = envelope_of(message)
            spec = plan_envelope(envelope, message, settings=self._settings, now=self._clock())
        except PermanentError as e:
            service = envelope.service if envelope else None
            return await self._reject(message, e, started=started, service=service)
        try:
            result = await self._gateway.create(spec)
        except PermanentError as e:
            return await self._reject(message, e, started=started, service=envelope.service)
        except TransientError as e:
            self._log(Outcome.RETRY, message, started, spec=spec, reason=e.code, error=e.detail)
            raise
        outcome = Outcome.DUPLICATE if result.duplicate else Outcome.CREATED
        severity, note = duplicate_note(result.task_state)
        self._log(
            outcome,
            message,
            started,
            spec=spec,
            severity=severity,
            note=note,
            task=result.task_name,
            task_state=result.task_state,
        )
        return outcome

    async def _reject(
        self,
        message: PubsubMessage,
        error: PermanentError,
        *,
        started: float,
        service: str | None = None,
    ) -> Outcome:
        rejection = rejection_for(
            data=message.data,
            attributes=message.attributes,
            message_id=message.message_id,
            error=error,
        )
        try:
            await self._rejections.reject_async(rejection)
        except TransientError as e:
            self._log(
                Outcome.RETRY,
                message,
                started,
                service=service,
                reason=error.reason.value,
                error=e.detail,
            )
            raise
        severity = "ERROR" if self._settings.drop_rejected else None
        self._log(
            Outcome.REJECTED,
            message,
            started,
            service=service,
            reason=error.reason.value,
            error=error.detail,
            severity=severity,
        )
        return Outcome.REJECTED

    def _log(
        self,
        outcome: Outcome,
        message: PubsubMessage,
        started: float,
        *,
        spec: TaskSpec | None = None,
        service: str | None = None,
        severity: str | None = None,
        note: str = "",
        **fields: Any,
    ) -> None:
        log_outcome(
            outcome,
            message=f"{outcome.value} {message.message_id}{note}",
            severity=severity,
            message_id=message.message_id,
            service=spec.route.service
            if spec
            else service or message.attributes.get(SERVICE_ATTRIBUTE),
            queue=spec.route.queue_id if spec else None,
            data_bytes=len(message.data),
            data_sha256=fingerprint(message.data),
            latency_ms=round((perf_counter() - started) * 1000, 2),
            **log_fields(trace_of(message.attributes), project_id=self._settings.project_id),
            **fields,
        )


def _event_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8", "surrogatepass")
    return json.dumps(data, ensure_ascii=False, default=str).encode("utf-8", "surrogatepass")
