"""Loopback only: the emulator's admin endpoints answer the machine they run on, nobody else.

``require_loopback`` is the one check: a client address that is not a loopback address (IPv4
127.0.0.0/8, IPv6 ``::1``, or an IPv4-mapped loopback) raises ``NotLoopback``. No header is
trusted (no proxy stands in front of the emulator): the socket's peer address decides.
"""

from __future__ import annotations

import ipaddress


class NotLoopback(PermissionError):
    """Raised if a request to a loopback-only endpoint comes from another address."""

    def __init__(self, address: str | None) -> None:
        super().__init__(f"this endpoint answers loopback clients only, not {address or '(none)'}")
        self.address = address


def is_loopback(address: str | None) -> bool:
    """Whether ``address`` (an IP address as text, maybe with an IPv6 zone) is loopback."""
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped.is_loopback
    return ip.is_loopback


def require_loopback(address: str | None) -> None:
    """Return if ``address`` is a loopback address; raise ``NotLoopback`` otherwise."""
    if not is_loopback(address):
        raise NotLoopback(address)
