"""The demo's verdict: the summary line, and a failure for anything lost or delivered twice; and
``make demo`` itself, run end to end."""

from __future__ import annotations

import subprocess
import sys

import pytest
from playwright.sync_api import BrowserContext

from bridge.stack.demo import Sent, account
from bridge.stack.runner import REPO_ROOT
from bridge.stack.worker import Received
from tests.prerequisites import missing_prerequisite

DEMO_TIMEOUT_S = 240  # about 30 s on an idle machine


def attempt(task_id: str, status: int = 200) -> Received:
    headers = (("X-CloudTasks-TaskName", task_id),)
    return Received("POST", "/process", headers, b"{}", 0.0, status=status)


def sent(outcome: str, task_id: str = "", *attempts: Received, rejected: bool = False) -> Sent:
    item = Sent(f"{outcome} {task_id}", b"{}", {})
    item.log = {"outcome": outcome, "task": f"projects/p/locations/l/queues/q/tasks/{task_id}"}
    item.attempts = list(attempts)
    item.rejection = object() if rejected else None
    return item


def test_all_accounted_for() -> None:
    items = [
        sent("created", "a", attempt("a")),
        sent("created", "b", attempt("b", 503), attempt("b")),
        sent("duplicate", "b"),
        sent("rejected", rejected=True),
    ]
    summary, failures = account(items)
    assert summary == (
        "4 published, 2 delivered exactly once, 1 duplicates refused, "
        "1 rejected with reason, 0 lost"
    )
    assert failures == []


def test_lost_twice_refused_and_orphan_duplicates_fail() -> None:
    items = [
        sent("created", "a"),  # never delivered
        sent("created", "b", attempt("b"), attempt("b")),  # delivered twice
        sent("created", "c", attempt("c", 401), attempt("c")),  # a token refused
        sent("duplicate", "z"),  # a duplicate of nothing created
        sent("retry"),  # neither a task nor rejected: lost
    ]
    summary, failures = account(items)
    assert summary.endswith(", 1 lost")
    assert any("delivered 0 times" in f for f in failures)
    assert any("delivered 2 times" in f for f in failures)
    assert any("refused a token" in f for f in failures)
    assert any("never created" in f for f in failures)
    assert any("lost" in f for f in failures)


def test_a_republish_after_the_run_must_be_a_reserved_duplicate() -> None:
    reserved = sent("duplicate", "a")
    reserved.log["task_state"] = "reserved"
    reserved.after_run = True
    pending = sent("duplicate", "a")
    pending.log["task_state"] = "pending"
    pending.after_run = True

    summary, failures = account([sent("created", "a", attempt("a")), reserved])
    assert summary == (
        "2 published, 1 delivered exactly once, 1 duplicates refused, "
        "0 rejected with reason, 0 lost"
    )
    assert failures == []
    _, failures = account([sent("created", "a", attempt("a")), pending])
    assert any("not a reserved duplicate" in f for f in failures)


@pytest.mark.e2e
def test_make_demo_runs_end_to_end_and_accounts_for_every_message(
    browser: BrowserContext,
) -> None:
    """What ``make demo`` runs, in a process of its own with its own stack: exit 0, the summary
    line, and the operator's commands answering on that stack."""
    done = subprocess.run(
        [sys.executable, "-m", "bridge.stack", "demo"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    out = done.stdout
    if done.returncode == 2:  # as the stack fixture: say what is missing
        missing_prerequisite(out.strip().splitlines()[-1])
    assert done.returncode == 0, out[-3000:] + done.stderr[-2000:]
    lines = out.splitlines()
    assert lines[-1] == (
        "11 published, 8 delivered exactly once, 2 duplicates refused, 1 rejected with reason, "
        "0 lost"
    )
    assert "    task_state  reserved: will not run (logged WARNING)" in lines
    status_at = lines.index("$ bridge status --service testimonios --key CASE-002-testimonio")
    assert lines[status_at + 2] == "    state    not found (existed recently)"
    queues_at = lines.index("$ bridge queues")
    table = lines[queues_at + 2 : queues_at + 6]
    assert [row.split()[0] for row in table] == [
        "brain",
        "testimonios",
        "transcripciones",
        "regresos",
    ]
    assert all(" RUNNING  tasks=0 " in row for row in table)  # every task ran and was dropped
    assert "· stopped every process the demo started" in lines
    [report_line] = [line for line in lines if line.startswith(REPORT_LINE)]
    check_the_report_page(browser, report_line.removeprefix(REPORT_LINE))


REPORT_LINE = "· the report page (open it in a browser): "


def check_the_report_page(browser: BrowserContext, url: str) -> None:
    """The demo's report page, opened from disk: every message with its outcome, no server."""
    from playwright.sync_api import expect

    from tests.console.browser import screenshot

    assert url.startswith("file://")
    page = browser.new_page()
    try:
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        rows = page.locator("#message-table tbody tr")
        expect(rows).to_have_count(11)
        outcomes = [str(rows.nth(i).get_attribute("data-outcome")) for i in range(11)]
        assert sorted(outcomes) == sorted(["created"] * 8 + ["duplicate"] * 2 + ["rejected"])
        expect(page.locator("#live")).to_contain_text("report")
        expect(page.locator("#rejected-table tbody tr")).to_have_count(1)
        expect(page.get_by_role("button", name="Replay")).to_have_count(0)  # nothing to replay to
        screenshot(page, "demo-report")
        assert errors == []
    finally:
        page.close()
