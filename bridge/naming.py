"""Deterministic task names: the same request maps to the same task, so Cloud Tasks creates it once.

The id is the SHA-256 (hex, 64 chars) of a JSON array ``["v1", service, kind, value]``: JSON
encoding is unambiguous, so two different (service, key) pairs never share an id, even when they
differ only in characters a task id cannot hold. A hash also keeps ids free of the sequential
prefixes Cloud Tasks warns against. ``kind`` separates publisher keys from Pub/Sub message ids.
"""

from __future__ import annotations

import hashlib
import json
from enum import StrEnum

_VERSION = "v1"  # bump only with a migration note: it changes every name


class KeyKind(StrEnum):
    IDEMPOTENCY_KEY = "key"  # given by the publisher
    MESSAGE_ID = "msg"  # the Pub/Sub message id (or the original id of a replayed message)


def task_id_for(*, service: str, kind: KeyKind, value: str) -> str:
    material = json.dumps([_VERSION, service, kind.value, value], ensure_ascii=True)
    return hashlib.sha256(material.encode("ascii")).hexdigest()


def task_name_for(*, queue_path: str, task_id: str) -> str:
    return f"{queue_path}/tasks/{task_id}"
