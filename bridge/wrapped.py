"""The wrapped form of a Pub/Sub message: its data and attributes, both carried in the data.

``{"data": <base64>, "attributes": {...}}`` as UTF-8 JSON, on a message flagged
``bridge_wrapped=true``. Written where attributes cannot travel as attributes: by the rejection
sink (``bridge.rejections``: the original's attributes do not fit beside ours) and by
``bridge replay`` (a replay whose attributes are full). Read by the Pub/Sub entry on arrival
(``bridge.message.unwrapped``), by ``bridge replay`` and by ``bridge status``.

Its own module so the inbound path reads it without entering the rejection sink.
"""

from __future__ import annotations

import binascii
import json
from base64 import b64decode, b64encode
from collections.abc import Mapping

WRAPPED_ATTRIBUTE = "bridge_wrapped"


def is_wrapped(attributes: Mapping[str, str]) -> bool:
    """Whether a message with these attributes carries another in its data."""
    return attributes.get(WRAPPED_ATTRIBUTE) == "true"


def wrap(data: bytes, attributes: Mapping[str, str]) -> bytes:
    """``{"data": <base64>, "attributes": {...}}`` as UTF-8 JSON (``unwrap`` reads it back)."""
    wrapped = {"data": b64encode(data).decode("ascii"), "attributes": dict(attributes)}
    try:
        return json.dumps(wrapped, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a hand-made push): \ud800 escapes are JSON
        return json.dumps(wrapped, ensure_ascii=True).encode("ascii")


def unwrap(data: bytes) -> tuple[bytes, dict[str, str]]:
    """The data and attributes of a wrapped form; raised if it is not one: ``ValueError``."""
    try:
        wrapped = json.loads(data)
        inner = b64decode(wrapped["data"], validate=True)
        attributes = wrapped["attributes"]
    except (ValueError, KeyError, TypeError, binascii.Error) as e:
        raise ValueError(f"{type(e).__name__}: {e}") from e
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise ValueError("its attributes are not a string map")
    return inner, attributes
