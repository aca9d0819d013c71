"""Who may use the console: clients on this machine, through a loopback name, and for every
action the console's own page (same origin, and the page's token).

A page on another site cannot act: a form or ``fetch`` from it has another ``Origin`` (and
``Sec-Fetch-Site: cross-site``), and cannot read the token out of our page. A DNS-rebinding
page (a name of the attacker's resolving to 127.0.0.1) is refused by the ``Host`` check.
"""

from __future__ import annotations

import hmac
import secrets

from werkzeug.wrappers import Request

from tasks_emulator import loopback

TOKEN_HEADER = "X-Console-Token"  # noqa: S105 - a header's name
_LOOPBACK_NAMES = frozenset({"localhost"})


class Refused(Exception):
    """Raised if a request may not use the console; ``reason`` says why (HTTP 403)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _is_loopback_name(host: str) -> bool:
    host = host.strip("[]").lower()
    return host in _LOOPBACK_NAMES or host.endswith(".localhost") or loopback.is_loopback(host)


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header.split("]")[0] + "]"
    return host_header.rsplit(":", 1)[0] if host_header.count(":") == 1 else host_header


def check_reader(request: Request) -> None:
    """Raised if the client is not on this machine or used a name that is not loopback."""
    if not loopback.is_loopback(request.remote_addr):
        raise Refused("the console answers clients on this machine only")
    if not _is_loopback_name(_host_name(request.host)):
        raise Refused(f"the console answers loopback addresses only, not {request.host!r}")


def check_action(request: Request, *, token: str) -> None:
    """Raised unless the request comes from the console's own page (and a reader's)."""
    check_reader(request)
    if request.method != "POST":
        raise Refused("actions are POST only")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None and fetch_site != "same-origin":
        raise Refused(f"actions come from the console's own page, not {fetch_site}")
    origin = request.headers.get("Origin")
    if origin is not None and origin != request.host_url.rstrip("/"):
        raise Refused(f"actions come from the console's own page, not {origin}")
    given = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise Refused(f"the console's page token ({TOKEN_HEADER}) is missing or stale: reload")
