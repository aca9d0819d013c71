"""The bridge's errors, and the one question each answers: ack, or retry?

BridgeError
 ├── ConfigError      At cold start: the environment is wrong; the instance must not serve.
 ├── PermanentError   The message can never succeed: ack it, publish it to the rejected
 │                    topic with its stable ``reason`` code (see ``Reason``).
 └── TransientError   Retrying may help: raise, the function answers 5xx, Pub/Sub
                      redelivers; what keeps failing ends in the dead-letter topic.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Stable codes for ``bridge_reason``: operators filter and replay by them. Never rename one."""

    BAD_EVENT = "bad_event"  # the event carries no Pub/Sub message we can read
    BAD_BASE64 = "bad_base64"
    BAD_UTF8 = "bad_utf8"
    BAD_JSON = "bad_json"
    NOT_AN_OBJECT = "not_an_object"  # the envelope is JSON but not an object
    MISSING_PAYLOAD = "missing_payload"  # attribute mode with empty data
    PAYLOAD_NOT_OBJECT = "payload_not_object"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    WRONG_TYPE = "wrong_type"
    OUT_OF_RANGE = "out_of_range"
    BAD_IDEMPOTENCY_KEY = "bad_idempotency_key"  # could not travel safely in a header
    UNKNOWN_SERVICE = "unknown_service"
    TOO_LARGE = "too_large"
    TASK_REJECTED = "task_rejected"  # Cloud Tasks answered INVALID_ARGUMENT or OUT_OF_RANGE


class BridgeError(Exception):
    """Root of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """Raised if the environment does not describe a usable configuration.

    ``variable`` names the environment variable to fix.
    """

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class PermanentError(BridgeError):
    """Raised if a message can never become a task, whatever we retry.

    ``reason`` is the stable code, ``field`` the envelope field at fault (when one is).
    """

    def __init__(self, reason: Reason, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.field = field


class TransientError(BridgeError):
    """Raised if creating the task failed in a way that retrying may fix.

    ``code`` names the upstream condition (``UNAVAILABLE``, ``PERMISSION_DENIED``, ...) for logs.
    """

    def __init__(self, *, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
