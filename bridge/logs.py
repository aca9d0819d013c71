"""One structured log line per message, in the shape Cloud Logging reads from stdout.

Payloads carry personal data: they are never logged, only their size and a hash.
"""

from __future__ import annotations

import hashlib
import json
import sys
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    RETRY = "retry"


_SEVERITY = {
    Outcome.CREATED: "INFO",
    Outcome.DUPLICATE: "INFO",
    Outcome.REJECTED: "WARNING",
    Outcome.RETRY: "WARNING",
}


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
    entry.update((k, v) for k, v in fields.items() if v is not None)
    line = json.dumps(entry, ensure_ascii=False, default=str)
    try:
        sys.stdout.write(line + "\n")
    except UnicodeEncodeError:  # a lone surrogate from a hostile push, or a non-UTF-8 stdout
        sys.stdout.write(json.dumps(entry, ensure_ascii=True, default=str) + "\n")
    sys.stdout.flush()
