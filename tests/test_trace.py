from __future__ import annotations

import pytest

from bridge.trace import log_fields, new_traceparent, parse_traceparent, trace_of

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN_ID = "00f067aa0ba902b7"
VALID = f"00-{TRACE_ID}-{SPAN_ID}-01"


def test_a_valid_traceparent_is_read() -> None:
    context = parse_traceparent(VALID)
    assert context is not None
    assert (context.traceparent, context.trace_id, context.span_id) == (VALID, TRACE_ID, SPAN_ID)
    assert context.sampled


def test_the_sampled_flag_is_the_low_bit() -> None:
    context = parse_traceparent(f"00-{TRACE_ID}-{SPAN_ID}-02")
    assert context is not None
    assert not context.sampled


def test_a_later_version_may_carry_more_fields() -> None:
    later = f"01-{TRACE_ID}-{SPAN_ID}-01-what-comes-next"
    context = parse_traceparent(later)
    assert context is not None
    assert context.traceparent == later


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        VALID.upper(),  # W3C: lowercase hex only
        f"ff-{TRACE_ID}-{SPAN_ID}-01",  # version ff is invalid
        f"00-{'0' * 32}-{SPAN_ID}-01",  # all-zero trace id
        f"00-{TRACE_ID}-{'0' * 16}-01",  # all-zero parent id
        f"00-{TRACE_ID}-{SPAN_ID}-01-extra",  # version 00 is exactly 55 characters
        f"00-{TRACE_ID}-{SPAN_ID}-1",
        f"00-{TRACE_ID}-{SPAN_ID}-01\r\nEvil: 1",  # header injection
        f" {VALID}",
    ],
)
def test_invalid_traceparents_are_none(value: str | None) -> None:
    assert parse_traceparent(value) is None


def test_traceparent_first_then_pubsubs_opentelemetry_attribute() -> None:
    other = f"00-{'a' * 32}-{'b' * 16}-01"
    both = {"traceparent": VALID, "googclient_traceparent": other}
    assert trace_of(both) == parse_traceparent(VALID)
    assert trace_of({"googclient_traceparent": other}) == parse_traceparent(other)
    assert trace_of({"traceparent": "junk", "googclient_traceparent": other}) == (
        parse_traceparent(other)
    )
    assert trace_of({}) is None


def test_log_fields_name_the_trace_in_cloud_loggings_format() -> None:
    assert log_fields(parse_traceparent(VALID), project_id="p-1") == {
        "logging.googleapis.com/trace": f"projects/p-1/traces/{TRACE_ID}",
        "logging.googleapis.com/spanId": SPAN_ID,
        "logging.googleapis.com/trace_sampled": True,
    }
    assert log_fields(None, project_id="p-1") == {}


def test_a_new_traceparent_is_valid_sampled_version_00_and_fresh() -> None:
    made = {new_traceparent() for _ in range(50)}
    assert len(made) == 50
    for value in made:
        context = parse_traceparent(value)
        assert context is not None
        assert context.sampled
        assert value.startswith("00-")


def test_a_new_traceparent_never_uses_an_all_zero_id() -> None:
    answers = iter(["0" * 32, "0" * 16, TRACE_ID, SPAN_ID])
    assert new_traceparent(random_hex=lambda _n: next(answers)) == VALID
