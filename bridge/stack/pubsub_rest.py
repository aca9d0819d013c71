"""The Pub/Sub emulator's REST API (v1), with urllib: topics, subscriptions, publish, pull.

Why not google-cloud-pubsub, which we already depend on: it finds the emulator through the
process-wide ``PUBSUB_EMULATOR_HOST``, and one test process talks to two emulators at once (the
stack's and the publishers' tests' own), while the bridge under test reads that same variable.
This client is bound to one explicit ``host:port`` and has no credentials, so the stack can
never reach a real project by mistake. The code under test (``bridge publish``, ``bridge
replay``, the rejection sink) does use google-cloud-pubsub, against the same emulators.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PulledMessage:
    message_id: str
    data: bytes
    attributes: dict[str, str]
    publish_time: str


class PubSubRest:
    """A few calls of ``https://pubsub.googleapis.com/v1`` against the emulator at ``host``."""

    def __init__(self, *, host: str, project: str, timeout_s: float = 10.0) -> None:
        self.host = host
        self.project = project
        self.timeout_s = timeout_s

    def topic_path(self, topic_id: str) -> str:
        return f"projects/{self.project}/topics/{topic_id}"

    def subscription_path(self, subscription_id: str) -> str:
        return f"projects/{self.project}/subscriptions/{subscription_id}"

    def create_topic(self, topic_id: str) -> None:
        self._call("PUT", f"/v1/{self.topic_path(topic_id)}", {})

    def create_subscription(
        self,
        subscription_id: str,
        *,
        topic_id: str,
        push_endpoint: str | None = None,
        ack_deadline_s: int = 30,
        retry_backoff_s: tuple[float, float] | None = None,
        dead_letter: tuple[str, int] | None = None,
    ) -> None:
        """A pull subscription, or a push one when ``push_endpoint`` is given.

        ``retry_backoff_s`` = (minimum, maximum); ``dead_letter`` = (topic id, max attempts).
        """
        body: dict[str, Any] = {
            "topic": self.topic_path(topic_id),
            "ackDeadlineSeconds": ack_deadline_s,
        }
        if push_endpoint:
            body["pushConfig"] = {"pushEndpoint": push_endpoint}
        if retry_backoff_s:
            low, high = retry_backoff_s
            body["retryPolicy"] = {"minimumBackoff": f"{low}s", "maximumBackoff": f"{high}s"}
        if dead_letter:
            topic_id_dl, attempts = dead_letter
            body["deadLetterPolicy"] = {
                "deadLetterTopic": self.topic_path(topic_id_dl),
                "maxDeliveryAttempts": attempts,
            }
        self._call("PUT", f"/v1/{self.subscription_path(subscription_id)}", body)

    def delete_topic(self, topic_id: str) -> None:
        self._call("DELETE", f"/v1/{self.topic_path(topic_id)}", None)

    def delete_subscription(self, subscription_id: str) -> None:
        self._call("DELETE", f"/v1/{self.subscription_path(subscription_id)}", None)

    def publish(
        self, topic_id: str, *, data: bytes = b"", attributes: Mapping[str, str] | None = None
    ) -> str:
        """Publish one message; returns its message id."""
        message: dict[str, Any] = {"data": base64.b64encode(data).decode("ascii")}
        if attributes:
            message["attributes"] = dict(attributes)
        answer = self._call(
            "POST", f"/v1/{self.topic_path(topic_id)}:publish", {"messages": [message]}
        )
        message_id: str = answer["messageIds"][0]
        return message_id

    def pull(self, subscription_id: str, *, max_messages: int = 100) -> list[PulledMessage]:
        """Pull what is there now (no waiting) and acknowledge it."""
        path = f"/v1/{self.subscription_path(subscription_id)}"
        answer = self._call(
            "POST", f"{path}:pull", {"maxMessages": max_messages, "returnImmediately": True}
        )
        received = answer.get("receivedMessages", [])
        if received:
            ack_ids = [item["ackId"] for item in received]
            self._call("POST", f"{path}:acknowledge", {"ackIds": ack_ids})
        return [
            PulledMessage(
                message_id=item["message"]["messageId"],
                data=base64.b64decode(item["message"].get("data", "")),
                attributes=dict(item["message"].get("attributes", {})),
                publish_time=item["message"].get("publishTime", ""),
            )
            for item in received
        ]

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        request = urllib.request.Request(
            f"http://{self.host}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as err:
            detail = err.read().decode("utf-8", "replace")
            raise RuntimeError(
                f"Pub/Sub emulator: {method} {path} -> {err.code}: {detail}"
            ) from err
        answer: dict[str, Any] = json.loads(raw) if raw.strip() else {}
        return answer
