"""The bridge's page in a real browser, served by ``BridgePage`` from a fixed snapshot (the whole
stack's page is tests/e2e/test_bridge_page.py): it draws what it is given, says the replay's
answer, says so when its server is gone, and the report (``make demo``'s, one file) works with
nothing served. The polling, the banner and the flash are the console's ``shared.js``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from bridge.stack.bridge_page import BridgePage, ReplayAnswer, page_html
from bridge.stack.outcomes import MessageRow, snapshot
from tests.console.browser import screenshot

CONSOLE_URL = "http://127.0.0.1:9/console/"
ORIGIN = "1001"
TASK = "projects/p/locations/l/queues/brain/tasks/0123456789abcdef0123"


def fixed_snapshot() -> dict[str, Any]:
    created = MessageRow(
        message_id="1002",
        publish_time="2026-12-06T10:00:02.5Z",
        service="brain",
        key="key-created",
        data_bytes=10,
        replay_of=None,
        lines=[{"outcome": "created", "task": TASK, "service": "brain"}],
    )
    rejected = MessageRow(
        message_id=ORIGIN,
        publish_time="2026-12-06T10:00:01.5Z",
        service="nope",
        key="key-rejected",
        data_bytes=10,
        replay_of=None,
        lines=[{"outcome": "rejected", "reason": "unknown_service", "error": "no route 'nope'"}],
    )
    rejection = {
        "message_id": "1003",
        "publish_time": "2026-12-06T10:00:01.6Z",
        "origin_message_id": ORIGIN,
        "reason": "unknown_service",
        "error": "no route 'nope'",
        "service": "nope",
    }
    return snapshot([created, rejected], [rejection], unmatched_lines=0)


class FixedSource:
    """The page's source, answering one snapshot; counts the refreshes."""

    def __init__(self) -> None:
        self.refreshes = 0

    def start(self) -> None:
        return None

    def stop(self) -> None:
        return None

    def refresh(self) -> None:
        self.refreshes += 1

    def snapshot(self) -> dict[str, Any]:
        return fixed_snapshot()


class Replays:
    """The replay: records the ids asked for, answers ``answer``."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.answer = ReplayAnswer(ok=True, said=f"{ORIGIN}: republished as 2001")

    def __call__(self, message_id: str) -> ReplayAnswer:
        self.asked.append(message_id)
        return self.answer


@pytest.fixture
def replays() -> Replays:
    return Replays()


@pytest.fixture
def served(replays: Replays) -> Iterator[BridgePage]:
    running = BridgePage(feed=FixedSource(), replay=replays, console_url=CONSOLE_URL).start()
    try:
        yield running
    finally:
        running.stop()


def test_the_page_draws_the_snapshot_and_says_the_replays_answer(
    page: Page, served: BridgePage, replays: Replays
) -> None:
    page.goto(served.url)
    expect(page.locator("#live")).to_contain_text("live · updated")
    created = page.locator('tr[data-message="1002"]')
    expect(created.locator(".badge")).to_have_text("created")
    assert created.get_by_role("link").get_attribute("href") == (
        f"{CONSOLE_URL}#/task/{TASK.replace('/', '%2F')}"
    )
    rejected = page.locator(f'#rejected-table tr[data-origin="{ORIGIN}"]')
    expect(rejected).to_contain_text("unknown_service")

    rejected.get_by_role("button", name="Replay").click()
    expect(page.locator("#flash")).to_have_text(f"{ORIGIN}: republished as 2001")
    expect(page.locator("#flash")).to_have_class("flash")
    assert replays.asked == [ORIGIN]

    replays.answer = ReplayAnswer(ok=False, said=f"{ORIGIN} not replayed: gone")
    page.locator(f'#rejected-table tr[data-origin="{ORIGIN}"]').get_by_role(
        "button", name="Replay"
    ).click()
    expect(page.locator("#flash")).to_have_text(f"{ORIGIN} not replayed: gone")
    expect(page.locator("#flash")).to_have_class("flash error")


def test_the_page_says_when_its_server_is_gone(page: Page, served: BridgePage) -> None:
    page.goto(served.url)
    expect(page.locator("#live")).to_contain_text("live · updated")
    expect(page.locator("#gone")).to_be_hidden()
    served.stop()
    expect(page.locator("#gone")).to_contain_text(
        "The local stack is gone: this page's server has not answered since", timeout=10_000
    )
    expect(page.locator("#live")).to_have_text("not answering")
    expect(page.locator('tr[data-message="1002"]')).to_be_visible()  # its last answer stays
    screenshot(page, "bridge-page-gone")


def test_the_report_works_as_one_file(page: Page) -> None:
    html = page_html(token="", console_url=CONSOLE_URL, snapshot=fixed_snapshot())
    assert "/static/" not in html  # every script and style is inlined
    page.set_content(html)
    expect(page.locator("#live")).to_contain_text("report · ")
    expect(page.locator('tr[data-message="1002"] .badge')).to_have_text("created")
    expect(page.locator(f'#rejected-table tr[data-origin="{ORIGIN}"]')).to_contain_text(
        "not replayed"
    )
