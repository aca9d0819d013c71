"""Page tokens: opaque, and only the ones this process issued are accepted.

A token carries the last name of the page it follows and is signed (HMAC-SHA256, a key made at
start) together with the list it belongs to, so a token that was not issued by this emulator for
this very list (``AAAA``, a token of another queue's ListTasks, bytes cut short) is
INVALID_ARGUMENT, as production answers for a token it did not issue. Tokens do not survive a
restart (production's are valid for 2 hours; a restart of the emulator ends them sooner).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

import grpc

from tasks_emulator.errors import ApiError

_KEY = secrets.token_bytes(32)
_MAC_BYTES = 16
# A token is at most a resource name (< 1.5 KB) and its MAC, base64'd: anything longer is not ours.
MAX_TOKEN_CHARS = 4096


def _mac(scope: str, after: str) -> bytes:
    message = scope.encode() + b"\x00" + after.encode()
    return hmac.new(_KEY, message, hashlib.sha256).digest()[:_MAC_BYTES]


def encode_token(*, scope: str, after: str) -> str:
    """The next_page_token of a page of ``scope`` (e.g. "ListTasks <queue>") ending at ``after``."""
    raw = _mac(scope, after) + after.encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_token(token: str, *, scope: str) -> str:
    """The name a page token of ``scope`` continues after ("" for no token); INVALID_ARGUMENT
    for a token this emulator did not issue for that list."""
    if not token:
        return ""
    invalid = ApiError(grpc.StatusCode.INVALID_ARGUMENT, "page_token is not a valid page token.")
    if len(token) > MAX_TOKEN_CHARS:
        raise invalid
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        mac, after_bytes = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        after = after_bytes.decode()
    except (binascii.Error, UnicodeError, ValueError) as e:
        raise invalid from e
    if len(mac) != _MAC_BYTES or not hmac.compare_digest(mac, _mac(scope, after)):
        raise invalid
    return after
