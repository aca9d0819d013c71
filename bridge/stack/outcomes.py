"""What became of each published message, from the two honest sources, joined by message id.

- What was published: a tap, a pull subscription of the stack's own on ``enqueue-requests``
  (and one on the rejected topic). It sees every message as Pub/Sub has it, whether or not the
  function ever got it, so a message the bridge has not handled yet shows as ``waiting``
  instead of being missing.
- What the bridge did: the function's own structured log line per delivery (``bridge.logs``:
  ``outcome``, ``task``, ``task_state``, ``reason``, ``error``), which is what Cloud Logging holds
  in production. It is the bridge's word, not a guess from Cloud Tasks' state; each delivery
  logs one line, so a retried message shows its ``retry`` lines before its last outcome.

Pure: values in, JSON-ready dicts out. Payloads are never kept, only their size.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.message import ORIGIN_ATTRIBUTE, SERVICE_ATTRIBUTE
from bridge.rejections import ERROR_ATTRIBUTE, MESSAGE_ID_ATTRIBUTE, REASON_ATTRIBUTE

WAITING = "waiting"  # published; the function has logged nothing for it yet
KEY_ATTRIBUTE = "idempotency_key"


@dataclass(frozen=True, slots=True)
class Seen:
    """One message pulled from a tap."""

    message_id: str
    publish_time: str
    data: bytes
    attributes: Mapping[str, str]


@dataclass
class MessageRow:
    message_id: str
    publish_time: str
    service: str | None
    key: str | None
    data_bytes: int
    replay_of: str | None
    lines: list[dict[str, Any]] = field(default_factory=list)  # the function's, in order

    def as_json(self) -> dict[str, Any]:
        last = self.lines[-1] if self.lines else {}
        return {
            "message_id": self.message_id,
            "publish_time": self.publish_time,
            "service": last.get("service") or self.service,
            "key": self.key,
            "data_bytes": self.data_bytes,
            "replay_of": self.replay_of,
            "outcome": last.get("outcome", WAITING),
            "task": last.get("task"),
            "task_state": last.get("task_state"),
            "reason": last.get("reason"),
            "error": last.get("error"),
            "severity": last.get("severity"),
            "said": last.get("message"),
            "history": [str(line.get("outcome")) for line in self.lines],
        }


def _envelope_fields(seen: Seen) -> tuple[str | None, str | None]:
    """(service, idempotency key) as the publisher gave them, if they can be read."""
    attributes = seen.attributes
    if SERVICE_ATTRIBUTE in attributes:
        return attributes[SERVICE_ATTRIBUTE], attributes.get(KEY_ATTRIBUTE)
    try:
        body = json.loads(seen.data)
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    service, key = body.get("service"), body.get(KEY_ATTRIBUTE)
    return (
        service if isinstance(service, str) else None,
        key if isinstance(key, str) else None,
    )


def message_row(seen: Seen) -> MessageRow:
    service, key = _envelope_fields(seen)
    return MessageRow(
        message_id=seen.message_id,
        publish_time=seen.publish_time,
        service=service,
        key=key,
        data_bytes=len(seen.data),
        replay_of=seen.attributes.get(ORIGIN_ATTRIBUTE),
    )


def rejection_row(seen: Seen) -> dict[str, Any]:
    """A message on the rejected topic, as the bridge tagged it."""
    attributes = seen.attributes
    return {
        "message_id": seen.message_id,
        "publish_time": seen.publish_time,
        "origin_message_id": attributes.get(MESSAGE_ID_ATTRIBUTE),
        "reason": attributes.get(REASON_ATTRIBUTE),
        "error": attributes.get(ERROR_ATTRIBUTE),
        "service": _envelope_fields(seen)[0],
    }


def log_lines(text: str) -> Iterable[dict[str, Any]]:
    """The function's JSON log lines (one object with a message id and an outcome each)."""
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and "outcome" in entry and "message_id" in entry:
            yield entry


def snapshot(
    messages: Iterable[MessageRow],
    rejections: Iterable[dict[str, Any]],
    *,
    unmatched_lines: int,
) -> dict[str, Any]:
    """Newest first; each rejection with what its replays became."""
    rows = [m.as_json() for m in messages]
    rows.sort(key=lambda r: (r["publish_time"], int_or_zero(r["message_id"])), reverse=True)
    replays: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        if row["replay_of"]:
            replays.setdefault(row["replay_of"], []).append(row)
    rejected = []
    for rejection in rejections:
        origin = rejection["origin_message_id"]
        done = replays.get(origin or "", [])
        rejected.append(
            {
                **rejection,
                "replays": [
                    {"message_id": r["message_id"], "outcome": r["outcome"], "task": r["task"]}
                    for r in done
                ],
            }
        )
    rejected.sort(key=lambda r: (r["publish_time"], int_or_zero(r["message_id"])), reverse=True)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    return {
        "messages": rows,
        "rejected": rejected,
        "counts": counts,
        "unmatched_lines": unmatched_lines,
    }


def int_or_zero(value: str) -> int:
    return int(value) if value.isdigit() else 0
