"""Fixtures: one emulator (a real ``python -m tasks_emulator``), a worker, Debian's Chromium."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page

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


@pytest.fixture
def page(browser: BrowserContext) -> Iterator[Page]:
    """A new tab; a JavaScript error on it fails the test."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield tab
    finally:
        tab.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"
