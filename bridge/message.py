"""From a decoded Pub/Sub message to its envelope and its task. Pure: no network, no clock.

A message is in attribute mode when it carries a ``service`` attribute (the data is the payload,
forwarded byte for byte), else in envelope mode (the data is the JSON envelope). It is named by
its idempotency key, else by its message id, or, for a ``bridge replay``, by the original's id
(``bridge_origin_message_id``). A ``bridge_wrapped`` replay carries the message it stands for.
"""

from __future__ import annotations

import re
from datetime import datetime

from bridge.config import Settings
from bridge.envelope import Envelope, parse_attribute_envelope, parse_envelope
from bridge.errors import PermanentError, Reason
from bridge.event import PubsubMessage, UnreadableMessage, printable_id
from bridge.limits import MAX_ORIGIN_ID_DIGITS
from bridge.naming import KeyKind
from bridge.plan import DedupeKey, TaskSpec, plan_task
from bridge.trace import trace_of
from bridge.wrapped import WRAPPED_ATTRIBUTE, is_wrapped, unwrap

SERVICE_ATTRIBUTE = "service"  # its presence selects attribute mode
ORIGIN_ATTRIBUTE = "bridge_origin_message_id"  # set by `bridge replay`: name as the original
# Only a Pub/Sub message id (decimal digits), never free text: it names the task and travels in
# the X-Idempotency-Key header.
ORIGIN_FORMAT = re.compile(rf"[0-9]{{1,{MAX_ORIGIN_ID_DIGITS}}}")


def envelope_of(message: PubsubMessage) -> Envelope:
    """Raised if the message is no valid envelope: ``PermanentError``."""
    if SERVICE_ATTRIBUTE in message.attributes:
        return parse_attribute_envelope(message.data, message.attributes)
    return parse_envelope(message.data)


def exact_payload_of(message: PubsubMessage) -> bytes | None:
    """Attribute mode: the data is the payload, forwarded byte for byte; envelope mode: None."""
    return message.data if SERVICE_ATTRIBUTE in message.attributes else None


def dedupe_key_of(envelope: Envelope, message: PubsubMessage) -> DedupeKey:
    """Raised if ``bridge_origin_message_id`` is not a message id: ``PermanentError``."""
    origin = message.attributes.get(ORIGIN_ATTRIBUTE)
    if origin is not None and not ORIGIN_FORMAT.fullmatch(origin):
        raise PermanentError(
            Reason.BAD_EVENT,
            f"attribute {ORIGIN_ATTRIBUTE}: not a Pub/Sub message id (decimal digits): "
            f"{printable_id(origin)[:80]!r}",
            field=ORIGIN_ATTRIBUTE,
        )
    if envelope.idempotency_key:
        return DedupeKey(KeyKind.IDEMPOTENCY_KEY, envelope.idempotency_key)
    return DedupeKey(KeyKind.MESSAGE_ID, origin or message.message_id)


def unwrapped(message: PubsubMessage) -> PubsubMessage:
    """The message a ``bridge_wrapped`` one carries (a replay whose attributes did not fit
    beside ``bridge_origin_message_id``); any other as is. Raised if the wrapped form is not
    one: ``UnreadableMessage`` (``bad_event``)."""
    if not is_wrapped(message.attributes):
        return message
    try:
        data, attributes = unwrap(message.data)
    except ValueError as e:
        raise UnreadableMessage(
            Reason.BAD_EVENT,
            f"{WRAPPED_ATTRIBUTE}=true but the data is not {{'data', 'attributes'}}: {e}",
            kept=message,
        ) from e
    return PubsubMessage(
        message_id=message.message_id,
        data=data,
        attributes=attributes,
        publish_time=message.publish_time,
    )


def plan_envelope(
    envelope: Envelope, message: PubsubMessage, *, settings: Settings, now: datetime
) -> TaskSpec:
    """The task ``envelope`` (read from ``message``) becomes; raised if none: ``PermanentError``."""
    return plan_task(
        envelope,
        settings=settings,
        dedupe=dedupe_key_of(envelope, message),
        message_id=message.message_id,
        # Counting the delay from the publish time keeps a redelivered message on schedule.
        not_before=message.publish_time or now,
        now=now,
        traceparent=traceparent_of(message),
        exact_payload=exact_payload_of(message),
    )


def traceparent_of(message: PubsubMessage) -> str | None:
    """The publisher's ``traceparent`` (or Pub/Sub's OpenTelemetry one), if valid."""
    context = trace_of(message.attributes)
    return context.traceparent if context else None


def plan_message(message: PubsubMessage, *, settings: Settings, now: datetime) -> TaskSpec:
    """The task a Pub/Sub message becomes, as the Pub/Sub entry decides it (replay's tests and
    the CPU benchmark use it); raised if it cannot: ``PermanentError``."""
    message = unwrapped(message)
    return plan_envelope(envelope_of(message), message, settings=settings, now=now)
