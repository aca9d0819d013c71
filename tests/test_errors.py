"""``bridge.errors``: the codes operators filter by, and what each error carries."""

from __future__ import annotations

from bridge.errors import BridgeError, ConfigError, PermanentError, Reason, TransientError

# Stable: rejected messages carry these in bridge_reason, and `bridge replay --reason` takes them.
REASONS = [
    "bad_event", "bad_base64", "bad_utf8", "bad_json", "not_an_object", "missing_payload",
    "payload_not_object", "missing_field", "unknown_field", "wrong_type", "out_of_range",
    "bad_idempotency_key", "unknown_service", "too_large", "task_rejected",
]  # fmt: skip


def test_the_reason_codes_never_change() -> None:
    assert [reason.value for reason in Reason] == REASONS


def test_each_error_carries_its_context() -> None:
    config = ConfigError("TASKS_REGION", "bad")
    assert (str(config), config.variable) == ("TASKS_REGION: bad", "TASKS_REGION")
    permanent = PermanentError(Reason.TOO_LARGE, "too big", field="payload")
    assert (permanent.reason, permanent.detail, permanent.field) == (
        Reason.TOO_LARGE,
        "too big",
        "payload",
    )
    transient = TransientError(code="UNAVAILABLE", detail="down")
    assert (str(transient), transient.code, transient.detail) == (
        "UNAVAILABLE: down",
        "UNAVAILABLE",
        "down",
    )
    assert all(isinstance(e, BridgeError) for e in (config, permanent, transient))
