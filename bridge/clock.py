"""The one place the bridge reads the time: entries pass ``now`` into the pure core."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC (never the naive ``utcnow()``)."""
    return datetime.now(UTC)
