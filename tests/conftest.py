"""Shared fixtures: the old enqueuer's environment, settings built from it, and test doubles."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from bridge.config import Settings, load_settings
from bridge.pubsub_entry import PubsubBridge
from tests.doubles import FakeGateway, RecordingSink

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

    from bridge.stack.runner import Stack

PROJECT = "demo-project"
CALLER_SA = f"enqueuer-api@{PROJECT}.iam.gserviceaccount.com"
PUBLISHED_AT = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 28, 12, 0, 5, tzinfo=UTC)


def probe_in_fresh_interpreter(code: str, **env: str) -> Any:
    """What ``code`` prints last, as JSON, run by a fresh interpreter in the repository with the
    old enqueuer's environment (plus ``env``): what a cold start imports, seen from outside."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(repo),
        **old_enqueuer_env(),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=repo,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def old_enqueuer_env() -> dict[str, str]:
    """The variables the old enqueuer's README sets, plus the rejected topic."""
    env = {
        "PROJECT_ID": PROJECT,
        "TASKS_REGION": "us-central1",
        "CALLER_SA": CALLER_SA,
        "REJECTED_TOPIC": "enqueue-requests-rejected",
        "QUEUE_BRAIN": "queue-brain",
        "QUEUE_TESTI": "queue-testimonios",
        "QUEUE_TRANS": "queue-transcripciones",
        "QUEUE_REGRESOS": "queue-regresos",
        "URL_BRAIN": "https://brain-abc-uc.a.run.app/process",
        "URL_TESTI": "https://testimonios-abc-uc.a.run.app/generate-testimony",
        "URL_TRANS": "https://transcripciones-abc-uc.a.run.app/api/transcribe",
        "URL_REGRESOS": "https://regresos-123.us-central1.run.app/_tasks/process-pdf-back-questions-run",
        "AUD_BRAIN": "https://brain-abc-uc.a.run.app",
        "AUD_TESTI": "https://testimonios-abc-uc.a.run.app",
        "AUD_TRANS": "https://transcripciones-abc-uc.a.run.app",
        "AUD_REGRESOS": "https://regresos-123.us-central1.run.app",
        "DEADLINE_BRAIN_S": "700",
        "DEADLINE_TESTI_S": "390",
        "DEADLINE_TRANS_S": "880",
        "DEADLINE_REGRESOS_S": "1800",
    }
    return env


@pytest.fixture(autouse=True)
def _restore_environ() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """The one local stack of a run (tests/e2e/conftest.py says how it is set up), shared by the
    end-to-end and the publishers' end-to-end tests; started on first use only."""
    from tests.e2e.conftest import running_stack  # the stack's modules load only when needed

    yield from running_stack()


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    """One headless Chromium per test module that uses it (tests/console/browser.py says which
    browser and how). Playwright's sync API allows one at a time per thread, and while it runs it
    marks the thread's asyncio loop as running, so asyncio.run() fails: a module's browser is
    closed before the next module's tests (the async entry points' among them) run."""
    from tests.console.browser import chromium

    with chromium() as context:
        yield context


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


@pytest.fixture
def settings() -> Settings:
    return load_settings(old_enqueuer_env())


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def pubsub_bridge(settings: Settings, gateway: FakeGateway, sink: RecordingSink) -> PubsubBridge:
    return PubsubBridge(settings=settings, gateway=gateway, rejections=sink, clock=lambda: NOW)


def b64(data: bytes | str) -> str:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return base64.b64encode(raw).decode("ascii")


def push_body(
    data: bytes | str | dict[str, Any],
    *,
    attributes: dict[str, str] | None = None,
    message_id: str = "1001",
    publish_time: str = "2026-11-28T12:00:00.000000001Z",
) -> dict[str, Any]:
    """A Pub/Sub push body, as the emulator and Pub/Sub send it."""
    raw = json.dumps(data, ensure_ascii=False) if isinstance(data, dict) else data
    message: dict[str, Any] = {
        "data": b64(raw),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": publish_time,
        "publish_time": publish_time,
    }
    if attributes is not None:
        message["attributes"] = attributes
    return {"subscription": "projects/demo-project/subscriptions/enqueue-push", "message": message}
