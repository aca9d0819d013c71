"""Fixtures: one emulator (a real ``python -m tasks_emulator``), a worker, Debian's Chromium."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from tests.tasks_emulator.conftest import Emulator, Worker, grpc_client, start_emulator


@pytest.fixture(scope="session")
def console_emulator() -> Iterator[Emulator]:
    running = start_emulator()
    try:
        yield running
    finally:
        try:
            running.terminate(timeout_s=20)
        except subprocess.TimeoutExpired:
            running.kill()


@pytest.fixture(scope="session")
def tasks(console_emulator: Emulator) -> Any:
    """The official client (gRPC) on the console's emulator: the API the pages are checked by."""
    return grpc_client(console_emulator)


@pytest.fixture(scope="session")
def console_worker(console_emulator: Emulator) -> Iterator[Worker]:
    worker = Worker(certs_url=f"{console_emulator.http_url}/oauth2/v1/certs")
    try:
        yield worker
    finally:
        worker.close()
