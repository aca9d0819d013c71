"""The bridge's page in a real browser, on the whole local stack: messages published through the
Pub/Sub emulator show the bridge's outcome for each (created with its task, duplicate pending
and reserved, rejected with its reason); a rejected one is replayed from the page once its
cause is fixed, and runs once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Locator, Page, expect

from bridge.stack import bridge_page
from bridge.stack.runner import Stack
from bridge.stack.worker import Received
from tests.console.browser import screenshot
from tests.e2e.conftest import delivered_once
from tests.e2e.test_status import configure_service

pytestmark = pytest.mark.e2e
SERVICE, SUFFIX = "pagina", "PAGINA"  # not configured until the test configures it
OUTCOME_TIMEOUT_MS = 20_000


@pytest.fixture
def page_url(stack: Stack) -> Iterator[str]:
    page = bridge_page.for_stack(stack).start()
    try:
        yield page.url
    finally:
        page.stop()


def row(page: Page, message_id: str) -> Locator:
    return page.locator(f'tr[data-message="{message_id}"]')


def test_each_outcome_is_on_the_page_and_a_rejection_is_replayed_from_it(
    stack: Stack, page_url: str, page: Page, unique: str
) -> None:
    ran_key, queued_key, fixed_key = (f"page-{what}-{unique}" for what in ("ran", "queued", "fix"))
    created = stack.publish_envelope(
        {"service": "brain", "payload": {"n": 1}, "idempotency_key": ran_key}
    )
    delivered_once(stack, lambda r: r.header("X-Idempotency-Key") == ran_key)
    reserved = stack.publish_envelope(
        {"service": "brain", "payload": {"n": 1}, "idempotency_key": ran_key}
    )
    first = stack.publish_envelope(
        {
            "service": "testimonios",
            "payload": {"n": 2},
            "idempotency_key": queued_key,
            "delay_s": 600,
        }
    )
    pending = stack.publish_envelope(
        {
            "service": "testimonios",
            "payload": {"n": 2},
            "idempotency_key": queued_key,
            "delay_s": 600,
        }
    )
    malformed = stack.pubsub.publish("enqueue-requests", data=b"{not json")
    unknown = stack.publish_envelope(
        {"service": SERVICE, "payload": {"n": unique}, "idempotency_key": fixed_key}
    )

    page.goto(page_url)
    expect(row(page, created).locator(".badge")).to_have_text("created", timeout=OUTCOME_TIMEOUT_MS)
    expect(row(page, first).locator(".badge")).to_have_text("created")
    expect(row(page, reserved).locator(".badge")).to_have_text(
        "duplicate · reserved", timeout=OUTCOME_TIMEOUT_MS
    )
    expect(row(page, reserved)).to_contain_text("this request will not run")
    expect(row(page, pending).locator(".badge")).to_have_text(
        "duplicate · pending", timeout=OUTCOME_TIMEOUT_MS
    )
    expect(row(page, malformed).locator(".badge")).to_have_text(
        "rejected", timeout=OUTCOME_TIMEOUT_MS
    )
    expect(row(page, malformed)).to_contain_text("bad_json")
    expect(row(page, unknown)).to_contain_text("unknown_service", timeout=OUTCOME_TIMEOUT_MS)
    expect(row(page, unknown)).to_contain_text(fixed_key)
    rejected_row = page.locator(f'#rejected-table tr[data-origin="{unknown}"]')
    expect(rejected_row).to_contain_text("unknown_service", timeout=OUTCOME_TIMEOUT_MS)
    expect(page.locator(f'#rejected-table tr[data-origin="{malformed}"]')).to_be_visible()
    screenshot(page, "bridge-messages")

    # The created message's task link opens it in tasks_emulator's console.
    href = row(page, first).get_by_role("link").get_attribute("href")
    assert href is not None
    assert href.startswith(stack.console_url)
    opened = page.context.new_page()
    opened.goto(href)
    expect(opened.locator(".title .badge")).to_have_text("pending", timeout=10_000)
    expect(opened.locator(".request-line")).to_contain_text("/generate-testimony")
    opened.close()

    # Fix the cause (configure the service), then replay from the page: it runs once.
    configure_service(stack, SERVICE, SUFFIX)
    rejected_row.get_by_role("button", name="Replay").click()
    expect(page.locator("#flash")).to_contain_text("republished as", timeout=30_000)
    expect(rejected_row).to_contain_text("created", timeout=OUTCOME_TIMEOUT_MS)
    request: Received = delivered_once(stack, lambda r: r.header("X-Idempotency-Key") == fixed_key)
    assert request.path == f"/{SERVICE}"
    assert request.json() == {"n": unique}
    screenshot(page, "bridge-replayed")
