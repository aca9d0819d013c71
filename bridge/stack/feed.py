"""The bridge page's data: taps on the stack's topics, and the function's log as it grows.

``Feed.start`` creates two pull subscriptions of its own (on ``enqueue-requests`` and on the
rejected topic), so it sees every message published from then on without taking one from the
bridge or from an operator's subscription; ``refresh`` pulls both (acknowledging only its own
copies) and reads the function's log from where it stopped. ``snapshot`` joins them
(``outcomes``). The subscriptions are deleted by ``stop``.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

from bridge.stack import outcomes
from bridge.stack.pubsub_rest import PubSubRest, PulledMessage

MAX_MESSAGES = 5000  # the page keeps the newest this many of each kind
PULLS_PER_REFRESH = 20  # of 100 messages each: a burst larger than this shows on the next poll


def _seen(pulled: PulledMessage) -> outcomes.Seen:
    return outcomes.Seen(
        message_id=pulled.message_id,
        publish_time=pulled.publish_time,
        data=pulled.data,
        attributes=pulled.attributes,
    )


class Feed:
    def __init__(
        self, *, pubsub: PubSubRest, log_path: Path, topic_id: str, rejected_topic_id: str
    ) -> None:
        self._pubsub = pubsub
        self._log_path = log_path
        self._topics = (topic_id, rejected_topic_id)
        tap = uuid.uuid4().hex[:8]
        self.tap_ids = (f"{topic_id}-page-{tap}", f"{rejected_topic_id}-page-{tap}")
        self._messages: OrderedDict[str, outcomes.MessageRow] = OrderedDict()
        self._rejections: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lines: dict[str, list[dict[str, Any]]] = {}
        self._offset = 0
        self._partial = b""
        self._lock = threading.Lock()

    def start(self) -> None:
        """Create the taps; and skip the log written so far (those messages were not seen)."""
        for tap_id, topic_id in zip(self.tap_ids, self._topics, strict=True):
            self._pubsub.create_subscription(tap_id, topic_id=topic_id)
        self._offset = self._log_path.stat().st_size if self._log_path.exists() else 0

    def stop(self) -> None:
        for tap_id in self.tap_ids:
            # The emulator gone already: so is the subscription.
            with contextlib.suppress(OSError, RuntimeError):
                self._pubsub.delete_subscription(tap_id)

    def refresh(self) -> None:
        with self._lock:
            for tap_id, keep in zip(
                self.tap_ids, (self._keep_message, self._keep_rejection), strict=True
            ):
                for _ in range(PULLS_PER_REFRESH):
                    pulled = self._pubsub.pull(tap_id)
                    for item in pulled:
                        keep(_seen(item))
                    if not pulled:
                        break
            self._read_log()

    def _keep_message(self, seen: outcomes.Seen) -> None:
        self._messages.setdefault(seen.message_id, outcomes.message_row(seen))
        while len(self._messages) > MAX_MESSAGES:
            self._messages.popitem(last=False)

    def _keep_rejection(self, seen: outcomes.Seen) -> None:
        self._rejections.setdefault(seen.message_id, outcomes.rejection_row(seen))
        while len(self._rejections) > MAX_MESSAGES:
            self._rejections.popitem(last=False)

    def _read_log(self) -> None:
        try:
            size = self._log_path.stat().st_size
            if size < self._offset:  # a new log: read it from the start
                self._offset, self._partial = 0, b""
            with self._log_path.open("rb") as log:
                log.seek(self._offset)
                chunk = log.read()
        except FileNotFoundError:
            return
        self._offset += len(chunk)
        text, _, self._partial = (self._partial + chunk).rpartition(b"\n")
        for entry in outcomes.log_lines(text.decode("utf-8", "replace")):
            self._lines.setdefault(str(entry["message_id"]), []).append(entry)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            rows = []
            for message_id, row in self._messages.items():
                row.lines = self._lines.get(message_id, [])
                rows.append(row)
            unmatched = sum(1 for m in self._lines if m not in self._messages)
            return outcomes.snapshot(
                rows, list(self._rejections.values()), unmatched_lines=unmatched
            )
