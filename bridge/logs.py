"""One structured log line per message, in the shape Cloud Logging reads from stdout.

Payloads carry personal data: they are never logged, only their size and a hash.
"""

from __future__ import annotations

import hashlib
import json
import sys
from enum import StrEnum
from typing import Any

import pydantic_core


class Outcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    RETRY = "retry"


class TaskState(StrEnum):
    """What a duplicate's task is, from one GetTask after ALREADY_EXISTS."""

    PENDING = "pending"  # the earlier request's task is still queued: this one is served by it
    RESERVED = "reserved"  # it ran or was deleted within the reservation window: this one won't
    UNKNOWN = "unknown"  # the GetTask failed (no permission, timeout): either of the above


# Cloud Tasks keeps a finished or deleted task's name about an hour (the proto), "up to 24 hours"
# (the quotas page).
RESERVATION_WINDOW = "about 1 hour, up to 24 hours"
RESERVED_WARNING = (
    "its task already ran or was deleted within Cloud Tasks' name-reservation window "
    f"({RESERVATION_WINDOW}): this request will NOT run; publish with a new idempotency key "
    "to run the work again"
)


def duplicate_note(state: TaskState | None) -> tuple[str | None, str]:
    """The severity (None: the outcome's) and the message suffix of a duplicate's log line."""
    if state is TaskState.RESERVED:
        return "WARNING", f": {RESERVED_WARNING}"
    return None, ""


_SEVERITY = {
    Outcome.CREATED: "INFO",
    Outcome.DUPLICATE: "INFO",
    Outcome.REJECTED: "WARNING",
    Outcome.RETRY: "WARNING",
}


# For the rare line pydantic's encoder cannot write (``log_outcome``); built once, as
# ``json.dumps`` with options builds a new encoder per call.
_ASCII_LINE_JSON = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=str)


def fingerprint(data: bytes) -> str:
    """A short hash to correlate a payload across logs without revealing it."""
    return hashlib.sha256(data).hexdigest()[:16]


def log_outcome(
    outcome: Outcome, *, message: str, severity: str | None = None, **fields: Any
) -> None:
    entry = {
        "severity": severity or _SEVERITY[outcome],
        "message": message,
        "outcome": outcome.value,
    }
    for name, value in fields.items():
        if value is not None:
            entry[name] = value
    try:
        # Compact UTF-8 JSON in a quarter of the standard library's time, once per message.
        sys.stdout.write(pydantic_core.to_json(entry, fallback=str).decode() + "\n")
    except (pydantic_core.PydanticSerializationError, UnicodeEncodeError):
        # A lone surrogate from a hostile push (not UTF-8), or a stdout that is not UTF-8.
        sys.stdout.write(_ASCII_LINE_JSON.encode(entry) + "\n")
    sys.stdout.flush()
