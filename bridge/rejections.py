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
    wrapped = {"data": b64encode(data).decode("ascii"), "attributes": dict(attributes)}
    return OutgoingMessage(
        data=json.dumps(wrapped, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        attributes={**ours, WRAPPED_ATTRIBUTE: "true"},
    )


def truncate_utf8(text: str, max_bytes: int) -> str:
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return text
    return encoded[: max_bytes - 3].decode("utf-8", "ignore") + "..."


def _fits(attributes: Mapping[str, str]) -> bool:
    return len(attributes) <= MAX_ATTRIBUTES - _OURS and all(
        _size(k) <= MAX_KEY_BYTES and _size(v) <= MAX_VALUE_BYTES and k
        for k, v in attributes.items()
    )


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


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
