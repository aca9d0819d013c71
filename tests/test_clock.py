from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.clock import utc_now


def test_now_is_aware_utc_and_current() -> None:
    before = datetime.now(UTC)
    now = utc_now()
    after = datetime.now(UTC)
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after
