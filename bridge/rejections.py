"""Rejected messages: what can never become a task goes, with its reason, to the rejected topic.

The rejection keeps the original data and attributes (so an operator can fix the cause and
replay it) and adds ``bridge_reason``, ``bridge_error`` and ``bridge_message_id``. It must fit
Pub/Sub's limits whatever arrived: when the original attributes cannot sit beside ours (too
many, or too long, as only a hand-made push could send), they move into the data, wrapped as
``{"data": <base64>, "attributes": {...}}`` and flagged ``bridge_wrapped=true``.

The Pub/Sub client is imported and created on the first rejection: most instances never need it.
"""

from __future__ import annotations

import json
import threading
from base64 import b64encode
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from bridge.errors import PermanentError, TransientError

REASON_ATTRIBUTE = "bridge_reason"
ERROR_ATTRIBUTE = "bridge_error"
MESSAGE_ID_ATTRIBUTE = "bridge_message_id"
WRAPPED_ATTRIBUTE = "bridge_wrapped"
MAX_ATTRIBUTES = 100  # Pub/Sub's limits on one message
MAX_KEY_BYTES = 256
MAX_VALUE_BYTES = 1024
_OURS = 4  # the most attributes we add


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    data: bytes
    attributes: Mapping[str, str]


class RejectionSink(Protocol):
    def reject(self, message: OutgoingMessage) -> None:
        """Raised if not stored: ``TransientError`` (the original is then retried, not lost)."""


def rejection_for(
    *, data: bytes, attributes: Mapping[str, str], message_id: str, error: PermanentError
) -> OutgoingMessage:
    ours = {
        REASON_ATTRIBUTE: error.reason.value,
        ERROR_ATTRIBUTE: truncate_utf8(error.detail, MAX_VALUE_BYTES),
        MESSAGE_ID_ATTRIBUTE: truncate_utf8(message_id, MAX_VALUE_BYTES),
    }
    # A stale bridge_* attribute (a message rejected before) must not shadow the new reason.
    kept = {k: v for k, v in attributes.items() if k not in ours and k != WRAPPED_ATTRIBUTE}
    if _fits(kept):
        return OutgoingMessage(data=data, attributes={**kept, **ours})
    return OutgoingMessage(
        data=wrap(data, attributes), attributes={**ours, WRAPPED_ATTRIBUTE: "true"}
    )


def wrap(data: bytes, attributes: Mapping[str, str]) -> bytes:
    """``{"data": <base64>, "attributes": {...}}`` as UTF-8 JSON (``bridge replay`` unwraps it)."""
    wrapped = {"data": b64encode(data).decode("ascii"), "attributes": dict(attributes)}
    try:
        return json.dumps(wrapped, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a hand-made push): \ud800 escapes are JSON
        return json.dumps(wrapped, ensure_ascii=True).encode("ascii")


def truncate_utf8(text: str, max_bytes: int) -> str:
    """``text`` as valid UTF-8 (a lone surrogate becomes ``?``) of at most ``max_bytes``."""
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return encoded.decode("utf-8")
    return encoded[: max_bytes - 3].decode("utf-8", "ignore") + "..."


def pubsub_problem(message: OutgoingMessage) -> str | None:
    """Why Pub/Sub would refuse ``message`` (attribute count, sizes, strings that are not valid
    UTF-8), or None. Size limits of the whole request are the publisher's to check."""
    if len(message.attributes) > MAX_ATTRIBUTES:
        return f"{len(message.attributes)} attributes, Pub/Sub allows {MAX_ATTRIBUTES}"
    for key, value in message.attributes.items():
        try:
            key_bytes, value_bytes = len(key.encode()), len(value.encode())
        except UnicodeEncodeError:
            return f"attribute {key[:40]!r}: not valid UTF-8 (a lone surrogate)"
        if not key or key_bytes > MAX_KEY_BYTES:
            return f"attribute name {key[:40]!r} is empty or over {MAX_KEY_BYTES} bytes"
        if value_bytes > MAX_VALUE_BYTES:
            return f"attribute {key[:40]!r} is over {MAX_VALUE_BYTES} bytes"
    return None


def _fits(attributes: Mapping[str, str]) -> bool:
    """Whether Pub/Sub takes these beside ours: counts, sizes, and valid UTF-8 strings."""
    if len(attributes) > MAX_ATTRIBUTES - _OURS:
        return False
    for key, value in attributes.items():
        try:
            if not key or len(key.encode()) > MAX_KEY_BYTES:
                return False
            if len(value.encode()) > MAX_VALUE_BYTES:
                return False
        except UnicodeEncodeError:
            return False
    return True


class PubsubRejectionSink:
    """Publishes rejections to ``topic_path`` and waits for Pub/Sub to confirm each one."""

    def __init__(self, *, topic_path: str, timeout_s: float) -> None:
        self._topic_path = topic_path
        self._timeout_s = timeout_s
        self._publisher: Any = None
        self._lock = threading.Lock()

    def reject(self, message: OutgoingMessage) -> None:
        try:
            future = self._get_publisher().publish(
                self._topic_path, message.data, **message.attributes
            )
            future.result(timeout=self._timeout_s)
        except Exception as e:  # whatever went wrong, the rejection is not stored: retry
            raise TransientError(type(e).__name__, f"publishing to {self._topic_path}: {e}") from e

    def _get_publisher(self) -> Any:
        if self._publisher is None:
            with self._lock:
                if self._publisher is None:
                    self._publisher = make_publisher()
        return self._publisher


def make_publisher() -> Any:
    """A publisher that sends each message at once (honours ``PUBSUB_EMULATOR_HOST``)."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # heavy: lazy

    return pubsub_v1.PublisherClient(batch_settings=pubsub_v1.types.BatchSettings(max_messages=1))


class DroppingRejectionSink:
    """The explicit opt-out (``DROP_REJECTED=true``): the rejection is only logged, at ERROR."""

    def reject(self, message: OutgoingMessage) -> None:
        return None
