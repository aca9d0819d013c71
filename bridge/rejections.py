"""Rejected messages: what can never become a task goes, with its reason, to the rejected topic.

The rejection keeps the original data and attributes (so an operator can fix the cause and
replay it) and adds ``bridge_reason``, ``bridge_error`` and ``bridge_message_id``. It must fit
Pub/Sub's limits whatever arrived: when the original attributes cannot sit beside ours (too
many, or too long, or not UTF-8, as only a hand-made push could send), they move into the data,
wrapped as ``{"data": <base64>, "attributes": {...}}`` and flagged ``bridge_wrapped=true``
(the format lives in ``bridge.wrapped``). When
even that is over one publish request (a message near Pub/Sub's 10 MB), the error sentence is
shortened first, then the data is cut: ``bridge_data_bytes`` and ``bridge_data_sha256`` then
describe the original, and ``bridge_error`` says it was cut. The same wrapped form carries a
replay whose attributes are full (``bridge replay``); the bridge unwraps it on arrival.

The Pub/Sub client is imported and created on the first rejection: most instances never need it.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from google.api_core import exceptions as core_exceptions
from google.auth import exceptions as auth_exceptions

from bridge.errors import PermanentError, TransientError
from bridge.limits import (
    MAX_ATTRIBUTE_KEY_BYTES,
    MAX_ATTRIBUTE_VALUE_BYTES,
    MAX_ATTRIBUTES,
    MAX_MESSAGE_BYTES,
    SHORT_ERROR_BYTES,
)
from bridge.wrapped import WRAPPED_ATTRIBUTE, wrap

REASON_ATTRIBUTE = "bridge_reason"
ERROR_ATTRIBUTE = "bridge_error"
MESSAGE_ID_ATTRIBUTE = "bridge_message_id"
DATA_BYTES_ATTRIBUTE = "bridge_data_bytes"  # set only when the data was cut
DATA_SHA256_ATTRIBUTE = "bridge_data_sha256"


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    data: bytes
    attributes: Mapping[str, str]


class RejectionSink(Protocol):
    def reject(self, message: OutgoingMessage) -> None:
        """Raised if not stored: ``TransientError`` (the original is then retried, not lost)."""


class AsyncRejectionSink(Protocol):
    async def reject_async(self, message: OutgoingMessage) -> None:
        """``reject`` on the function's event loop: the same answers, no thread held."""


def rejection_for(
    *, data: bytes, attributes: Mapping[str, str], message_id: str, error: PermanentError
) -> OutgoingMessage:
    """The rejection of a message: always one Pub/Sub accepts, whatever arrived."""
    ours = {
        REASON_ATTRIBUTE: error.reason.value,
        ERROR_ATTRIBUTE: truncate_utf8(error.detail, MAX_ATTRIBUTE_VALUE_BYTES),
        MESSAGE_ID_ATTRIBUTE: truncate_utf8(message_id, MAX_ATTRIBUTE_VALUE_BYTES),
    }
    # A stale bridge_* attribute (a message rejected before) must not shadow the new reason.
    stale = {*ours, WRAPPED_ATTRIBUTE, *_CUT_ATTRIBUTES}
    kept = {k: v for k, v in attributes.items() if k not in stale}
    rejection = _assemble(data, kept, attributes, ours)
    if message_size(rejection) <= MAX_MESSAGE_BYTES:
        return rejection
    ours[ERROR_ATTRIBUTE] = truncate_utf8(error.detail, SHORT_ERROR_BYTES)
    rejection = _assemble(data, kept, attributes, ours)
    if message_size(rejection) <= MAX_MESSAGE_BYTES:
        return rejection
    return _cut(data, kept, attributes, ours, error=error)


_CUT_ATTRIBUTES = (DATA_BYTES_ATTRIBUTE, DATA_SHA256_ATTRIBUTE)


def _assemble(
    data: bytes, kept: Mapping[str, str], original: Mapping[str, str], ours: Mapping[str, str]
) -> OutgoingMessage:
    if _fits(kept, room=MAX_ATTRIBUTES - len(ours)):
        return OutgoingMessage(data=data, attributes={**kept, **ours})
    return OutgoingMessage(
        data=wrap(data, original), attributes={**ours, WRAPPED_ATTRIBUTE: "true"}
    )


def _cut(
    data: bytes,
    kept: Mapping[str, str],
    original: Mapping[str, str],
    ours: dict[str, str],
    *,
    error: PermanentError,
) -> OutgoingMessage:
    """Over one publish request even with a short error: keep the head of the data, and say so."""
    ours[DATA_BYTES_ATTRIBUTE] = str(len(data))
    ours[DATA_SHA256_ATTRIBUTE] = hashlib.sha256(data).hexdigest()
    note = f" [data cut: {len(data)} bytes, over one Pub/Sub request; see {DATA_SHA256_ATTRIBUTE}]"
    ours[ERROR_ATTRIBUTE] = truncate_utf8(error.detail, SHORT_ERROR_BYTES) + note
    shell = _assemble(b"", kept, original, ours)
    empty, wrapped = message_size(shell), WRAPPED_ATTRIBUTE in shell.attributes
    room = MAX_MESSAGE_BYTES - empty - 16  # the data field's tag and lengths
    keep = max(0, room * 3 // 4 - 4 if wrapped else room)
    if empty > MAX_MESSAGE_BYTES:  # the attributes alone are too large: only ours remain
        return OutgoingMessage(data=data[: MAX_MESSAGE_BYTES // 2], attributes=ours)
    return _assemble(data[:keep], kept, original, ours)


def _varint_size(value: int) -> int:
    size = 1
    while value >= 0x80:
        value >>= 7
        size += 1
    return size


def field_size(length: int) -> int:
    """A length-delimited protobuf field (tag < 16): tag + length + bytes."""
    return 1 + _varint_size(length) + length


def message_size(message: OutgoingMessage) -> int:
    """Exact bytes ``message`` adds to a serialized PublishRequest (as one ``messages`` entry)."""
    inner = field_size(len(message.data)) if message.data else 0
    for key, value in message.attributes.items():
        key_bytes = len(key.encode("utf-8", "surrogatepass"))
        value_bytes = len(value.encode("utf-8", "surrogatepass"))
        inner += field_size(field_size(key_bytes) + field_size(value_bytes))
    return field_size(inner)


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
        if not key or key_bytes > MAX_ATTRIBUTE_KEY_BYTES:
            return f"attribute name {key[:40]!r} is empty or over {MAX_ATTRIBUTE_KEY_BYTES} bytes"
        if value_bytes > MAX_ATTRIBUTE_VALUE_BYTES:
            return f"attribute {key[:40]!r} is over {MAX_ATTRIBUTE_VALUE_BYTES} bytes"
    return None


def _fits(attributes: Mapping[str, str], *, room: int) -> bool:
    """Whether Pub/Sub takes these beside ours (``room`` more): counts, sizes, valid UTF-8."""
    if len(attributes) > room:
        return False
    for key, value in attributes.items():
        try:
            if not key or len(key.encode()) > MAX_ATTRIBUTE_KEY_BYTES:
                return False
            if len(value.encode()) > MAX_ATTRIBUTE_VALUE_BYTES:
                return False
        except UnicodeEncodeError:
            return False
    return True


# What the client raises when a publish fails: Pub/Sub's and the transport's errors (a timeout is
# an OSError), credentials that cannot be had. Anything else is a bug: it is not dressed as a
# retry, it propagates with its traceback.
PUBLISH_FAILURES = (
    core_exceptions.GoogleAPIError,
    auth_exceptions.GoogleAuthError,
    OSError,
)


class PubsubRejectionSink:
    """Publishes rejections to ``topic_path`` and waits for Pub/Sub to confirm each one."""

    def __init__(self, *, topic_path: str, timeout_s: float) -> None:
        self._topic_path = topic_path
        self._timeout_s = timeout_s
        self._publisher: Any = None
        self._lock = threading.Lock()

    def reject(self, message: OutgoingMessage) -> None:
        try:
            self._publish(message).result(timeout=self._timeout_s)
        except PUBLISH_FAILURES as e:  # the rejection is not stored: retry
            raise self._failed(e) from e

    async def reject_async(self, message: OutgoingMessage) -> None:
        # The client's future is a concurrent.futures.Future: awaited, it holds no thread.
        try:
            await asyncio.wait_for(asyncio.wrap_future(self._publish(message)), self._timeout_s)
        except PUBLISH_FAILURES as e:  # TimeoutError included
            raise self._failed(e) from e

    def _publish(self, message: OutgoingMessage) -> Any:
        return self._get_publisher().publish(self._topic_path, message.data, **message.attributes)

    def _failed(self, error: BaseException) -> TransientError:
        return TransientError(
            code=type(error).__name__,
            detail=f"publishing to {self._topic_path}: {self._describe(error)}",
        )

    def _describe(self, error: BaseException) -> str:
        """The cause in words: a timeout's own message is empty."""
        text = str(error).strip()
        if isinstance(error, TimeoutError):
            # The client keeps retrying in the background: the same rejection may still land
            # (bridge replay dedupes rejections by bridge_message_id).
            return f"no confirmation within {self._timeout_s:g} s" + (f" ({text})" if text else "")
        return f"{type(error).__name__}: {text}" if text else type(error).__name__

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

    async def reject_async(self, message: OutgoingMessage) -> None:
        return None
