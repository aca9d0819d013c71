from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config import Settings
from bridge.envelope import Envelope
from bridge.errors import PermanentError, Reason
from bridge.limits import MAX_DELAY_S
from bridge.naming import KeyKind, task_id_for
from bridge.plan import DedupeKey, TaskSpec, encode_body, plan_task, route_for, schedule_for
from tests.conftest import CALLER_SA, NOW, PUBLISHED_AT

MESSAGE = DedupeKey(KeyKind.MESSAGE_ID, "1001")
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def plan(
    settings: Settings,
    envelope: Envelope,
    *,
    dedupe: DedupeKey = MESSAGE,
    message_id: str | None = "1001",
    now: datetime = NOW,
    traceparent: str | None = None,
) -> TaskSpec:
    return plan_task(
        envelope,
        settings=settings,
        dedupe=dedupe,
        message_id=message_id,
        not_before=PUBLISHED_AT,
        now=now,
        traceparent=traceparent,
    )


def test_the_task_for_the_regresos_example(settings: Settings) -> None:
    payload = {"sheet_id": "1HwF", "row": 359, "additional_params": {"visa_type": "visa t"}}
    envelope = Envelope(service="regresos", payload=payload, idempotency_key="TEST-REGRESOS-001")
    spec = plan(settings, envelope, dedupe=DedupeKey(KeyKind.IDEMPOTENCY_KEY, "TEST-REGRESOS-001"))
    task_id = task_id_for(
        service="regresos", kind=KeyKind.IDEMPOTENCY_KEY, value="TEST-REGRESOS-001"
    )
    assert spec.task_name == f"{settings.routes['regresos'].queue_path}/tasks/{task_id}"
    assert spec.route.url == settings.routes["regresos"].url
    assert spec.route.audience == "https://regresos-123.us-central1.run.app"
    assert spec.caller_sa == CALLER_SA
    assert spec.deadline_s == 1800
    assert spec.schedule_time is None  # no delay: dispatch now
    assert spec.headers == {
        "Content-Type": "application/json",
        "X-Idempotency-Key": "TEST-REGRESOS-001",
        "X-Pubsub-Message-Id": "1001",
    }
    assert json.loads(spec.body) == payload


def test_without_a_key_the_message_id_is_the_key(settings: Settings) -> None:
    spec = plan(settings, Envelope(service="brain", payload={}))
    assert spec.headers["X-Idempotency-Key"] == "1001" == spec.idempotency_key
    assert spec.task_name.endswith(
        task_id_for(service="brain", kind=KeyKind.MESSAGE_ID, value="1001")
    )


def test_the_delay_counts_from_the_publish_time(settings: Settings) -> None:
    spec = plan(settings, Envelope(service="brain", payload={}, delay_s=30))
    assert spec.schedule_time == PUBLISHED_AT + timedelta(seconds=30)


def test_a_redelivery_after_the_delay_dispatches_now(settings: Settings) -> None:
    spec = plan(
        settings,
        Envelope(service="brain", payload={}, delay_s=30),
        now=PUBLISHED_AT + timedelta(minutes=5),
    )
    assert spec.schedule_time is None


def test_deadline_override_and_service_default(settings: Settings) -> None:
    assert plan(settings, Envelope(service="brain", payload={})).deadline_s == 700
    assert plan(settings, Envelope(service="brain", payload={}, deadline_s=60)).deadline_s == 60


def test_traceparent_is_forwarded_only_when_well_formed(settings: Settings) -> None:
    envelope = Envelope(service="brain", payload={})
    good = plan(settings, envelope, message_id=None, traceparent=TRACE)
    bad = plan(settings, envelope, message_id=None, traceparent="00-x\r\nEvil: 1")
    assert good.headers["traceparent"] == TRACE
    assert "traceparent" not in bad.headers
    assert "X-Pubsub-Message-Id" not in good.headers  # no message id: HTTP entry


def test_unknown_service_lists_the_known_ones(settings: Settings) -> None:
    with pytest.raises(PermanentError) as caught:
        route_for(settings, "cerebro")
    assert caught.value.reason is Reason.UNKNOWN_SERVICE
    assert "brain, regresos, testimonios, transcripciones" in caught.value.detail


def test_body_keeps_non_ascii_and_is_compact() -> None:
    assert encode_body({"texto": "ñandú 🚀"}, max_body_bytes=100) == '{"texto":"ñandú 🚀"}'.encode()


def pythons_json(payload: object) -> bytes | str:
    """The body as Python's ``json`` writes it (the documented form), or why it refuses."""
    try:
        return json.dumps(
            payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    except (ValueError, TypeError) as e:
        return type(e).__name__


def encoded_by_the_bridge(payload: object) -> bytes | str:
    try:
        return encode_body(payload, max_body_bytes=10**9)
    except PermanentError as e:
        return "ValueError" if e.reason is Reason.BAD_JSON else e.reason.value
    except (ValueError, TypeError) as e:
        return type(e).__name__


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats()
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=1500, deadline=None)
@given(payload=st.dictionaries(st.text(), JSON_VALUES, max_size=5))
def test_the_body_is_written_as_pythons_json_writes_it(payload: dict[str, object]) -> None:
    assert encoded_by_the_bridge(payload) == pythons_json(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"x": 1e-05},  # pydantic's encoder: 0.00001
        {"x": 1e16},  # 1e16
        {"x": [1, {"y": 1.5e-07}]},
        {"x": -0.0},
        {"x": 10**40},
        {"x": "\ud800"},  # a lone surrogate (a Python caller's): not UTF-8
        {"x": {None: 1}},  # keys a Python caller made: "null" in Python's json
        {"x": {(1, 2): 1}},
        {"x": (1, 2)},
        {"x": float("nan")},
        {"x": '\u2028\x7f\x00\x1f"\\/\U0001f600é'},
    ],
)
def test_what_pydantics_encoder_would_write_otherwise_is_written_by_pythons(
    payload: dict[str, object],
) -> None:
    assert encoded_by_the_bridge(payload) == pythons_json(payload)


def test_body_size_limit_counts_utf8_bytes() -> None:
    payload = {"t": "ñ" * 10}  # 8 bytes of JSON syntax + 20 bytes of text, 18 characters
    assert len(encode_body(payload, max_body_bytes=28)) == 28
    with pytest.raises(PermanentError) as caught:
        encode_body(payload, max_body_bytes=27)
    assert caught.value.reason is Reason.TOO_LARGE


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_not_json(value: float) -> None:
    with pytest.raises(PermanentError) as caught:
        encode_body({"x": value}, max_body_bytes=100)
    assert caught.value.reason is Reason.BAD_JSON


def test_max_body_bytes_comes_from_settings(settings: Settings) -> None:
    small = replace(settings, max_body_bytes=10)
    with pytest.raises(PermanentError) as caught:
        plan(small, Envelope(service="brain", payload={"x": "0123456789"}))
    assert caught.value.reason is Reason.TOO_LARGE


@pytest.mark.parametrize(
    ("not_before", "delay_s", "expected"),
    [
        # Within the clock skew, the publish time counts: a redelivery keeps its schedule.
        (NOW + timedelta(minutes=4), 60, NOW + timedelta(minutes=5)),
        # Beyond it, the publish time is not trusted: counted from now.
        (NOW + timedelta(minutes=6), 60, NOW + timedelta(seconds=60)),
        (datetime(9999, 12, 31, tzinfo=UTC), MAX_DELAY_S, NOW + timedelta(seconds=MAX_DELAY_S)),
        (datetime(9999, 12, 31, tzinfo=UTC), 0, None),
        # Never past Cloud Tasks' 30 days from now, whatever the skew added.
        (NOW + timedelta(minutes=4), MAX_DELAY_S, NOW + timedelta(seconds=MAX_DELAY_S)),
        # Long past: dispatch now.
        (datetime(1, 1, 1, tzinfo=UTC), MAX_DELAY_S, None),
    ],
)
def test_the_schedule_is_always_one_cloud_tasks_accepts(
    not_before: datetime, delay_s: int, expected: datetime | None
) -> None:
    assert schedule_for(not_before=not_before, delay_s=delay_s, now=NOW) == expected
