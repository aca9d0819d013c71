"""The console in a real browser: what the API made is on the page, what the page does the API
sees. Each page is screenshotted into build/screenshots/."""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from playwright.sync_api import BrowserContext, Page, expect

from bridge.stack import procs
from tests.console.browser import screenshot
from tests.tasks_emulator.conftest import (
    PARENT,
    Emulator,
    Worker,
    grpc_client,
    start_emulator,
    wait_for,
)

DASH, NEXT = "\u2013", "\u203a"  # the en dash and the angle quote the pager shows
SA = "console-worker@emu-project.iam.gserviceaccount.com"
_ids = itertools.count(1)
PAUSED = 2
RUNNING = 1


def new_queue(tasks: Any, *, min_backoff_s: int = 1, paused: bool = False) -> str:
    name = f"{PARENT}/queues/console-{os.getpid()}-{next(_ids)}"
    tasks.create_queue(
        parent=PARENT,
        queue={"name": name, "retry_config": {"min_backoff": {"seconds": min_backoff_s}}},
    )
    if paused:
        tasks.pause_queue(name=name)
    return name


def add_task(
    tasks: Any,
    queue: str,
    task_id: str,
    *,
    url: str = "http://127.0.0.1:9/never",
    in_s: float = 3600.0,
    body: bytes = b'{"case_id": "CASE-1", "nota": "\xc2\xa1hola!"}',
) -> str:
    name = f"{queue}/tasks/{task_id}"
    tasks.create_task(
        parent=queue,
        task={
            "name": name,
            "schedule_time": {"seconds": int(time.time() + in_s)},
            "http_request": {
                "url": url,
                "body": body,
                "headers": {"Content-Type": "application/json"},
                "oidc_token": {"service_account_email": SA},
            },
        },
    )
    return name


def console_url(emulator: Emulator, fragment: str = "") -> str:
    return f"{emulator.http_url}/console/{fragment}"


def queue_fragment(queue: str, query: str = "") -> str:
    return f"#/queue/{queue.replace('/', '%2F')}{query}"


def task_gone(tasks: Any, name: str) -> bool:
    try:
        tasks.get_task(name=name)
    except gexc.NotFound:
        return True
    return False


def test_the_queue_list_shows_the_apis_queues_with_their_columns(
    page: Page, tasks: Any, console_emulator: Emulator
) -> None:
    running = new_queue(tasks)
    paused = new_queue(tasks, paused=True)
    for i in range(3):
        add_task(tasks, running, f"t{i}")
    page.goto(console_url(console_emulator))
    row = page.locator(f'tr[data-queue="{running}"]')
    expect(row).to_contain_text(running.rsplit("/", 1)[1])
    expect(row).to_contain_text("running")
    expect(row.locator("td").nth(2)).to_have_text("3")  # tasks
    expect(row.locator("td").nth(3)).to_have_text("500/s")  # max rate
    expect(row.locator("td").nth(4)).to_have_text("1,000")  # max concurrent
    expect(row.locator("td").nth(5)).to_have_text("100")  # max attempts
    expect(row.locator("td").nth(6)).to_have_text(
        re.compile(r"^in (59 min( \d+ s)?|1 h)$")
    )  # oldest: an hour ahead
    expect(page.locator(f'tr[data-queue="{paused}"]')).to_contain_text("paused")
    expect(page.locator("#live")).to_contain_text("live")
    screenshot(page, "console-queues")


def test_a_queues_tasks_by_state_are_paged(
    page: Page, tasks: Any, console_emulator: Emulator
) -> None:
    queue = new_queue(tasks)
    for i in range(120):
        add_task(tasks, queue, f"task-{i:03d}", in_s=3600 + i)
    page.goto(console_url(console_emulator, queue_fragment(queue)))
    expect(page.locator(".tab.on")).to_contain_text("Pending 120")
    expect(page.locator("#tasks tbody tr")).to_have_count(50)
    expect(page.locator(".pager")).to_contain_text(f"1{DASH}50 of 120")
    first = page.locator("#tasks tbody tr").first
    expect(first).to_contain_text("task-000")  # soonest due first
    expect(first).to_contain_text("0 / 0")  # dispatched / answered
    expect(first).to_contain_text("http://127.0.0.1:9/never")
    screenshot(page, "console-queue")
    screenshot(page, "console-queue-window", full_page=False)  # docs/console.png is one of these
    page.get_by_role("link", name=f"Next {NEXT}").click()
    expect(page.locator(".pager")).to_contain_text(f"51{DASH}100 of 120")
    expect(page.locator("#tasks tbody tr").first).to_contain_text("task-050")
    page.locator('.tab[data-state="retrying"]').click()
    expect(page.locator(".empty")).to_have_text("No retrying tasks in this queue.")


def test_a_task_page_shows_the_request_the_attempts_and_the_token(
    page: Page, tasks: Any, console_emulator: Emulator, console_worker: Worker
) -> None:
    queue = new_queue(tasks, min_backoff_s=3600)
    console_worker.plan("flaky", ["503"])
    name = add_task(tasks, queue, "flaky", url=f"{console_worker.url}/work", in_s=0)
    console_worker.wait_for("flaky", 1, timeout_s=20)
    wait_for(
        lambda: tasks.get_task(name=name).response_count == 1,
        timeout_s=10,
        what="the 503 recorded",
    )
    page.goto(console_url(console_emulator, queue_fragment(queue, "?state=retrying")))
    row = page.locator(f'tr[data-task="{name}"]')
    expect(row).to_contain_text("503 Service Unavailable")
    expect(row).to_contain_text("1 / 1")
    row.get_by_role("link", name="flaky").click()
    expect(page.locator("h1")).to_have_text("flaky")
    expect(page.locator(".title .badge")).to_have_text("retrying")
    expect(page.locator(".request-line")).to_have_text(f"POST {console_worker.url}/work")
    headers = page.locator("#headers")
    expect(headers).to_contain_text("X-CloudTasks-TaskRetryCount1")
    expect(headers).to_contain_text("X-CloudTasks-TaskPreviousResponse503")
    expect(headers).to_contain_text("Content-Typeapplication/json")
    body = json.loads(page.locator("#body").inner_text())
    assert body == {"case_id": "CASE-1", "nota": "¡hola!"}
    assert "\n  " in page.locator("#body").inner_text()  # pretty-printed
    expect(page.locator("#attempts")).to_contain_text("503 Service Unavailable (code 14)")
    claims = page.locator("#claims")
    expect(claims).to_contain_text(f'email"{SA}"')
    expect(claims).to_contain_text('iss"https://accounts.google.com"')
    expect(claims).to_contain_text(f'aud"{console_worker.url}/work"')
    screenshot(page, "console-task")


def test_run_now_from_the_page_dispatches_the_task(
    page: Page, tasks: Any, console_emulator: Emulator, console_worker: Worker
) -> None:
    queue = new_queue(tasks)
    name = add_task(tasks, queue, "later", url=f"{console_worker.url}/run")
    page.goto(console_url(console_emulator, queue_fragment(queue)))
    page.locator(f'tr[data-task="{name}"]').get_by_role("button", name="Run now").click()
    console_worker.wait_for("later", 1, timeout_s=20)
    wait_for(lambda: task_gone(tasks, name), timeout_s=10, what="the task done")
    expect(page.locator('.tab[data-state="reserved"] .count')).to_have_text("1")
    expect(page.locator(".empty")).to_have_text("No pending tasks in this queue.")


def test_pause_and_resume_from_the_page(page: Page, tasks: Any, console_emulator: Emulator) -> None:
    queue = new_queue(tasks)
    page.goto(console_url(console_emulator, queue_fragment(queue)))
    page.locator(".title").get_by_role("button", name="Pause").click()
    wait_for(lambda: tasks.get_queue(name=queue).state == PAUSED, timeout_s=5, what="paused")
    expect(page.locator(".title .badge")).to_have_text("paused")
    page.locator(".title").get_by_role("button", name="Resume").click()
    wait_for(lambda: tasks.get_queue(name=queue).state == RUNNING, timeout_s=5, what="resumed")
    expect(page.locator(".title .badge")).to_have_text("running")


def test_delete_from_the_page_asks_then_deletes(
    page: Page, tasks: Any, console_emulator: Emulator
) -> None:
    queue = new_queue(tasks)
    keep = add_task(tasks, queue, "keep")
    name = add_task(tasks, queue, "doomed")
    page.goto(console_url(console_emulator, queue_fragment(queue)))
    row = page.locator(f'tr[data-task="{name}"]')
    row.get_by_role("button", name="Delete…").click()
    page.locator("#confirm").get_by_role("button", name="Cancel").click()
    assert not task_gone(tasks, name)
    row.get_by_role("button", name="Delete…").click()
    expect(page.locator("#confirm-title")).to_have_text("Delete task doomed?")
    page.locator("#confirm").get_by_role("button", name="Delete").click()
    wait_for(lambda: task_gone(tasks, name), timeout_s=5, what="the task deleted")
    expect(row).to_have_count(0)
    assert not task_gone(tasks, keep)
    with pytest.raises(gexc.AlreadyExists):  # its name stays reserved, as the page said
        add_task(tasks, queue, "doomed")


def test_purge_from_the_page_needs_the_queue_id_typed(
    page: Page, tasks: Any, console_emulator: Emulator
) -> None:
    queue = new_queue(tasks)
    queue_id = queue.rsplit("/", 1)[1]
    for i in range(5):
        add_task(tasks, queue, f"p{i}")
    page.goto(console_url(console_emulator, queue_fragment(queue)))
    page.locator(".title").get_by_role("button", name="Purge…").click()
    ok = page.locator("#confirm-ok")
    expect(ok).to_be_disabled()
    page.locator("#confirm-input").fill("not-the-id")
    expect(ok).to_be_disabled()
    page.locator("#confirm-input").fill(queue_id)
    screenshot(page, "console-purge")
    ok.click()
    wait_for(
        lambda: list(tasks.list_tasks(parent=queue)) == [], timeout_s=5, what="the queue purged"
    )
    expect(page.locator('.tab[data-state="reserved"] .count')).to_have_text("5")


def test_the_page_follows_tasks_as_they_come_and_go(
    page: Page, tasks: Any, console_emulator: Emulator
) -> None:
    queue = new_queue(tasks)
    page.goto(console_url(console_emulator, queue_fragment(queue)))
    expect(page.locator(".empty")).to_have_text("No pending tasks in this queue.")
    name = add_task(tasks, queue, "arrives")
    expect(page.locator(f'tr[data-task="{name}"]')).to_be_visible(timeout=5000)
    tasks.delete_task(name=name)
    expect(page.locator(f'tr[data-task="{name}"]')).to_have_count(0, timeout=5000)


def test_a_gone_task_says_so(page: Page, tasks: Any, console_emulator: Emulator) -> None:
    queue = new_queue(tasks)
    name = add_task(tasks, queue, "short-lived")
    tasks.delete_task(name=name)
    page.goto(console_url(console_emulator, f"#/task/{name.replace('/', '%2F')}"))
    expect(page.locator("#missing")).to_contain_text("no longer exists")


def test_the_page_says_when_the_emulator_is_gone_and_comes_back(
    browser: BrowserContext,
) -> None:
    http_port = str(procs.free_port())
    emulator = start_emulator("--http-port", http_port)
    page = browser.new_page()
    try:
        page.goto(console_url(emulator))
        expect(page.locator("#live")).to_contain_text("live")
        expect(page.locator("#gone")).to_be_hidden()
        assert emulator.terminate(timeout_s=20) == 0
        expect(page.locator("#gone")).to_contain_text("The emulator is gone", timeout=10000)
        expect(page.locator("#live")).to_have_text("not answering")
        screenshot(page, "console-gone")
        # The same port again, a new process (a new page token): the page picks both up.
        emulator = start_emulator("--http-port", http_port)
        tasks = grpc_client(emulator)
        queue = new_queue(tasks)
        expect(page.locator("#gone")).to_be_hidden(timeout=10000)
        row = page.locator(f'tr[data-queue="{queue}"]')
        expect(row).to_be_visible(timeout=5000)
        row.get_by_role("button", name="Pause").click()
        wait_for(lambda: tasks.get_queue(name=queue).state == PAUSED, timeout_s=5, what="paused")
    finally:
        page.close()
        if emulator.process.poll() is None:
            emulator.terminate(timeout_s=20)


def test_another_origins_page_cannot_act(
    page: Page, tasks: Any, console_emulator: Emulator, console_worker: Worker
) -> None:
    """A page served elsewhere (the worker's origin) posts to the console: nothing happens."""
    queue = new_queue(tasks)
    page.goto(f"{console_worker.url}/attacker")
    for mode in ("no-cors", "cors"):
        page.evaluate(
            """([url, name, mode]) => fetch(url, {
                 method: "POST", mode, body: JSON.stringify({name}),
                 headers: mode === "cors" ? {} : {"Content-Type": "text/plain"},
               }).catch(() => null)""",
            [f"{console_emulator.http_url}/console/api/actions/pause", queue, mode],
        )
    time.sleep(1.0)  # a bounded window in which a pause would have landed
    assert tasks.get_queue(name=queue).state == RUNNING
