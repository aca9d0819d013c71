"""``bridge.errors``: the codes operators filter by, and what each error carries."""

from __future__ import annotations

import pytest

from bridge.errors import BridgeError, ConfigError, PermanentError, Reason, TransientError

# Stable: rejected messages carry these in bridge_reason, and `bridge replay --reason` takes them.
REASONS = [
    "bad_event", "bad_base64", "bad_utf8", "bad_json", "not_an_object", "missing_payload",
    "payload_not_object", "missing_field", "unknown_field", "wrong_type", "out_of_range",
    "bad_idempotency_key", "unknown_service", "too_large", "task_rejected",
]  # fmt: skip


def test_the_reason_codes_never_change() -> None:
    assert [reason.value for reason in Reason] == REASONS


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        # What an operator reads first: the variable to fix, the upstream condition.
        (ConfigError("TASKS_REGION", "'us central' is not a region"), "TASKS_REGION: "),
        (TransientError(code="UNAVAILABLE", detail="down"), "UNAVAILABLE: down"),
        (PermanentError(Reason.TOO_LARGE, "payload is 2000000 bytes"), "payload is 2000000 bytes"),
    ],
)
def test_the_message_leads_with_what_to_look_at(error: BridgeError, shown: str) -> None:
    assert str(error).startswith(shown)


def test_ack_or_retry_cannot_be_confused() -> None:
    """``except TransientError`` (retry) never catches a permanent error (ack), nor the reverse;
    both are BridgeErrors, and neither is a ConfigError (which stops the instance)."""
    permanent = PermanentError(Reason.BAD_JSON, "not JSON")
    transient = TransientError(code="UNAVAILABLE", detail="down")
    assert not isinstance(permanent, TransientError)
    assert not isinstance(transient, PermanentError)
    assert not isinstance(permanent, ConfigError)
    assert not isinstance(transient, ConfigError)
    assert isinstance(permanent, BridgeError)
    assert isinstance(transient, BridgeError)


def test_a_transient_error_needs_keywords() -> None:
    # code and detail are both strings: positional arguments could be swapped unnoticed.
    with pytest.raises(TypeError):
        TransientError("UNAVAILABLE", "down")  # type: ignore[call-arg]
