"""W3C trace context (``traceparent``): read from a message, forwarded to the worker, logged so
Cloud Logging shows the publisher's, the bridge's and the worker's lines as one trace.

``traceparent`` is ``VERSION-TRACE_ID-PARENT_ID-FLAGS`` in lowercase hex (2-32-16-2). An invalid
one is ignored, never a reason to reject a message: tracing is a courtesy to the operator.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TRACEPARENT = "traceparent"  # what our publishers set, and the header the worker receives
OTEL_TRACEPARENT = "googclient_traceparent"  # set by Pub/Sub's client with OpenTelemetry on
ATTRIBUTES = (TRACEPARENT, OTEL_TRACEPARENT)  # read in this order: the first valid one wins

# Version 00 is exactly 55 characters; a later version may append "-..." fields (W3C: parse the
# first four, keep the header). Version ff, an all-zero trace id or parent id are invalid.
_TRACEPARENT = re.compile(
    r"(?P<version>[0-9a-f]{2})-(?P<trace_id>[0-9a-f]{32})-(?P<span_id>[0-9a-f]{16})"
    r"-(?P<flags>[0-9a-f]{2})(?P<rest>-[\x21-\x7e][\x20-\x7e]*)?"
)
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16
SAMPLED = 0x01

TRACE_FIELD = "logging.googleapis.com/trace"
SPAN_FIELD = "logging.googleapis.com/spanId"
SAMPLED_FIELD = "logging.googleapis.com/trace_sampled"


@dataclass(frozen=True, slots=True)
class TraceContext:
    traceparent: str  # as received: forwarded unchanged
    trace_id: str
    span_id: str
    sampled: bool


def parse_traceparent(value: object) -> TraceContext | None:
    """The trace context ``value`` holds, or None when it is not a valid ``traceparent``."""
    if not isinstance(value, str):
        return None
    match = _TRACEPARENT.fullmatch(value)
    if match is None:
        return None
    version, trace_id, span_id = match["version"], match["trace_id"], match["span_id"]
    if version == "ff" or (version == "00" and match["rest"] is not None):
        return None
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    return TraceContext(
        traceparent=value,
        trace_id=trace_id,
        span_id=span_id,
        sampled=bool(int(match["flags"], 16) & SAMPLED),
    )


def trace_of(attributes: Mapping[str, str]) -> TraceContext | None:
    """The first valid trace context among ``traceparent`` and ``googclient_traceparent``."""
    for name in ATTRIBUTES:
        context = parse_traceparent(attributes.get(name))
        if context is not None:
            return context
    return None


def log_fields(context: TraceContext | None, *, project_id: str) -> dict[str, Any]:
    """The fields Cloud Logging reads to group a line into its trace; none without a context."""
    if context is None:
        return {}
    return {
        TRACE_FIELD: f"projects/{project_id}/traces/{context.trace_id}",
        SPAN_FIELD: context.span_id,
        SAMPLED_FIELD: context.sampled,
    }


def new_traceparent(*, random_hex: Callable[[int], str] = secrets.token_hex) -> str:
    """A fresh version-00, sampled ``traceparent`` (for a publisher whose caller has none)."""
    while True:  # all zeros is invalid; at 2^-128 this loops once
        trace_id, span_id = random_hex(16), random_hex(8)
        if trace_id != _ZERO_TRACE and span_id != _ZERO_SPAN:
            return f"00-{trace_id}-{span_id}-{SAMPLED:02x}"
