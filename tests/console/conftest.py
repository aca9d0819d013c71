"""Fixtures: one emulator (a real ``python -m tasks_emulator``), a worker, Debian's Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.tasks_emulator.conftest import Emulator, Worker, grpc_client, running_emulator


@pytest.fixture(scope="session")
def console_emulator() -> Iterator[Emulator]:
    with running_emulator() as running:
        yield running


@pytest.fixture(scope="session")
def tasks(console_emulator: Emulator) -> Any:
    """The official client (gRPC) on the console's emulator: the API the pages are checked by."""
    return grpc_client(console_emulator)


@pytest.fixture(scope="session")
def console_worker(console_emulator: Emulator) -> Iterator[Worker]:
    with Worker(certs_url=console_emulator.certs_url) as worker:
        yield worker
