"""Which client addresses a loopback-only endpoint answers."""

from __future__ import annotations

import pytest

from tasks_emulator.loopback import NotLoopback, is_loopback, require_loopback


@pytest.mark.parametrize("address", ["127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1", "::1%lo"])
def test_loopback_addresses_pass(address: str) -> None:
    assert is_loopback(address)
    require_loopback(address)


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.5",
        "192.0.2.1",
        "0.0.0.0",
        "::",
        "2001:db8::1",
        "::ffff:10.0.0.1",
        "localhost",
        "",
        None,
    ],
)
def test_other_addresses_are_refused_naming_them(address: str | None) -> None:
    assert not is_loopback(address)
    with pytest.raises(NotLoopback, match="loopback clients only") as raised:
        require_loopback(address)
    assert raised.value.address == address
