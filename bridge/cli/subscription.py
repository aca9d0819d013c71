"""Reading a pull subscription for ``bridge replay``: pull, extend leases, ack, release.

Through google-cloud-pubsub (honours ``PUBSUB_EMULATOR_HOST``); every error is translated at the
publisher's one boundary (``translate_error``) into a ``PublishError``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bridge.limits import ACK_IDS_PER_REQUEST, REPLAY_WAIT_S
from bridge.publishing.publisher import (
    CLIENT_ERRORS,
    DEFAULT_TIMEOUT_S,
    PublishFailed,
    transient_retry,
    translate_error,
)

DEFAULT_WAIT_S = REPLAY_WAIT_S


@dataclass(frozen=True, slots=True)
class Pulled:
    ack_id: str
    message_id: str
    data: bytes
    attributes: Mapping[str, str]
    publish_time: str


class Subscription(Protocol):
    def pull(self, max_messages: int) -> list[Pulled]:
        """What is there now (waiting a little when empty); leased to us until released.

        Empty only when Pub/Sub answered that there is nothing. Raised if it did not answer, or
        failed: ``PublishError``.
        """

    def extend(self, ack_ids: Sequence[str], seconds: int) -> None: ...

    def ack(self, ack_ids: Sequence[str]) -> None: ...

    def release(self, ack_ids: Sequence[str]) -> None:
        """Nack: let Pub/Sub deliver these again at once, untouched."""


class PubsubSubscription:
    """A pull subscription through google-cloud-pubsub (honours ``PUBSUB_EMULATOR_HOST``)."""

    def __init__(
        self, path: str, *, timeout_s: float = DEFAULT_TIMEOUT_S, wait_s: float = DEFAULT_WAIT_S
    ) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.wait_s = wait_s
        self._client: Any = None

    def _api(self) -> Any:
        if self._client is None:
            try:
                from google.cloud import pubsub_v1  # type: ignore[attr-defined]  # heavy

                self._client = pubsub_v1.SubscriberClient()
            except CLIENT_ERRORS as e:
                raise translate_error(e, topic_path=self.path, doing="pulling from") from e
        return self._client

    def pull(self, max_messages: int) -> list[Pulled]:
        from google.api_core import exceptions as api

        request = {"subscription": self.path, "max_messages": max_messages}
        response: Any = None
        if self.wait_s > 0:
            try:  # wait up to wait_s for messages to arrive
                response = self._api().pull(request=request, timeout=self.wait_s, retry=None)
            except (api.DeadlineExceeded, api.RetryError):
                response = None  # nothing within wait_s, or no answer at all: ask again
            except CLIENT_ERRORS as e:
                raise translate_error(e, topic_path=self.path, doing="pulling from") from e
        if response is None:
            response = self._pull_now(request)
        return [
            Pulled(
                ack_id=item.ack_id,
                message_id=item.message.message_id,
                data=bytes(item.message.data),
                attributes=dict(item.message.attributes),
                publish_time=_rfc3339(item.message.publish_time),
            )
            for item in response.received_messages
        ]

    def _pull_now(self, request: dict[str, Any]) -> Any:
        """A pull answered at once, empty or not: only an answer tells "empty" from "no answer"."""
        from google.api_core import exceptions as api

        try:
            with warnings.catch_warnings():  # the flag is deprecated, and the only way to ask this
                warnings.simplefilter("ignore", DeprecationWarning)
                return self._api().pull(
                    request={**request, "return_immediately": True},
                    timeout=self.timeout_s,
                    retry=None,
                )
        except (api.DeadlineExceeded, api.RetryError) as e:
            raise PublishFailed(
                f"pulling from {self.path}: Pub/Sub did not answer within {self.timeout_s:g} s "
                "(--timeout-s): nothing was read, and the subscription may well hold messages"
            ) from e
        except CLIENT_ERRORS as e:
            raise translate_error(e, topic_path=self.path, doing="pulling from") from e

    def extend(self, ack_ids: Sequence[str], seconds: int) -> None:
        self._modify(ack_ids, seconds)

    def release(self, ack_ids: Sequence[str]) -> None:
        self._modify(ack_ids, 0)

    def ack(self, ack_ids: Sequence[str]) -> None:
        self._in_chunks("acknowledge", ack_ids, doing="acknowledging on")

    def _modify(self, ack_ids: Sequence[str], seconds: int) -> None:
        self._in_chunks(
            "modify_ack_deadline",
            ack_ids,
            doing="changing ack deadlines on",
            ack_deadline_seconds=seconds,
        )

    def _in_chunks(self, rpc: str, ack_ids: Sequence[str], *, doing: str, **fields: Any) -> None:
        """The client's ``rpc`` on ``ack_ids``, ``ACK_IDS_PER_REQUEST`` a request, each retried
        while its error may pass (``transient_retry``); ``doing`` says what failed."""
        for start in range(0, len(ack_ids), ACK_IDS_PER_REQUEST):
            chunk = list(ack_ids[start : start + ACK_IDS_PER_REQUEST])
            request = {"subscription": self.path, "ack_ids": chunk, **fields}
            try:
                getattr(self._api(), rpc)(
                    request=request, timeout=self.timeout_s, retry=transient_retry(self.timeout_s)
                )
            except CLIENT_ERRORS as e:
                raise translate_error(e, topic_path=self.path, doing=doing) from e


def _rfc3339(value: Any) -> str:
    try:
        return str(value.isoformat())
    except AttributeError:
        return str(value or "")
