"""``make demo``: the whole product, locally, on real emulators; a readable report; then stop.

Publishes eleven real messages through the Pub/Sub emulator: one per service including the old
enqueuer's ``regresos`` example, one in attribute mode, one with a delay, the same idempotency
key twice (delayed: the second finds the task queued, ``pending``), one whose worker fails the
first attempt (503) and succeeds on the queue's retry, one malformed, and, once every task has
run, an earlier message's key again: Cloud Tasks still reserves the name, so the bridge logs a
``reserved`` duplicate (a WARNING: it will not run). The queues have Terraform's settings; the
recording worker verifies every OIDC token. The report shows what each worker request carried,
then what ``bridge status`` says of the re-published key and what ``bridge queues`` says of the
queues (run as an operator runs them), then one summary line:

    N published, N delivered exactly once, N duplicates refused, N rejected with reason, 0 lost

The demo exits 1 if any message was lost (neither delivered nor rejected) or delivered twice,
or if either command failed.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bridge.stack import bridge_page
from bridge.stack.feed import Feed
from bridge.stack.poll import TimedOut, poll_until
from bridge.stack.procs import MissingPrerequisite, StackError
from bridge.stack.pubsub_rest import PulledMessage
from bridge.stack.runner import REJECTED_SUBSCRIPTION, REJECTED_TOPIC, TOPIC, Stack
from bridge.stack.worker import Received

DELAY_S = 5
REPORT_PAGE = "report.html"  # in the run's state directory
SETTLE_S = 3.0  # after the last expected delivery: a window in which a second one would show
RETRY_KEY = "CASE-008-retry"
REPUBLISH_TITLE = "a re-publish after the task ran"
REGRESOS_EXAMPLE: dict[str, Any] = {
    "service": "regresos",
    "payload": {
        "system_instructions_doc_id": "1WLo-dBiXU8Cd7uBPZcY_qt9QwmzbWiuae0wEfKu5ERY",
        "base_prompt_doc_id": "1w64h4PmvmaHLImjVqT6R6be8kItQRyU5xBmB9YVoFZs",
        "pdf_url": "https://drive.google.com/file/d/1E3sC9rhEG_pGYwwCXxOcklJtlDstOLEn/view",
        "drive_file_id": "1E3sC9rhEG_pGYwwCXxOcklJtlDstOLEn",
        "output_doc_id": "1eG5Cmxl19qVC0dIIYqbQnUc94DuiefHhW_LfVXOLmMQ",
        "sampling_first_pages": 0,
        "sampling_last_pages": 3,
        "sheet_id": "1HwFByvIxfL8gLl0vY-QBz0rnqCZuh6H2e7E_wXhQXko",
        "row": 359,
        "col": 5,
        "additional_params": {"visa_type": "visa t", "strategy": "hybrid"},
    },
    "idempotency_key": "TEST-REGRESOS-001",
}
SHOWN_HEADERS = (
    "Content-Type",
    "X-Idempotency-Key",
    "X-Pubsub-Message-Id",
    "X-CloudTasks-QueueName",
    "X-CloudTasks-TaskName",
    "X-CloudTasks-TaskETA",
    "X-CloudTasks-TaskRetryCount",
    "X-CloudTasks-TaskExecutionCount",
    "X-CloudTasks-TaskPreviousResponse",
    "X-CloudTasks-TaskRetryReason",
)


@dataclass
class Sent:
    """One message the demo published, and what became of it."""

    title: str
    data: bytes
    attributes: dict[str, str]
    message_id: str = ""
    published_at: float = 0.0
    log: dict[str, Any] = field(default_factory=dict)
    attempts: list[Received] = field(default_factory=list)  # every request, refused ones too
    rejection: Any = None
    after_run: bool = False  # published only once every other message's task has run

    @property
    def outcome(self) -> str:
        return str(self.log.get("outcome", ""))

    @property
    def task_state(self) -> str:
        return str(self.log.get("task_state", ""))

    @property
    def task_id(self) -> str:
        return str(self.log.get("task", "")).rsplit("/", 1)[-1]

    @property
    def deliveries(self) -> list[Received]:
        return [a for a in self.attempts if a.ok]


def messages() -> list[Sent]:
    def envelope(title: str, value: Mapping[str, Any]) -> Sent:
        return Sent(title, json.dumps(value, ensure_ascii=False).encode("utf-8"), {})

    testimonio = {
        "service": "testimonios",
        "payload": {"case_id": "CASE-002", "testigo": "José Peña"},
        "idempotency_key": "CASE-002-testimonio",
    }
    duplicate = {
        "service": "transcripciones",
        "payload": {"audio_uri": "gs://casos/CASE-7/entrevista.m4a", "idioma": "es"},
        "idempotency_key": "CASE-7-transcripcion",
        "delay_s": DELAY_S,  # still queued when the 2nd arrives: a pending duplicate
    }
    return [
        envelope(
            "envelope mode: brain",
            {
                "service": "brain",
                "payload": {"case_id": "CASE-001", "nota": "Declaración de la señora Núñez"},
            },
        ),
        envelope("envelope mode: testimonios, with an idempotency key", testimonio),
        envelope(
            "envelope mode: transcripciones",
            {k: v for k, v in duplicate.items() if k not in ("idempotency_key", "delay_s")},
        ),
        envelope("the old enqueuer's regresos example", REGRESOS_EXAMPLE),
        Sent(
            "attribute mode: service=brain as an attribute, data = the payload",
            json.dumps({"case_id": "CASE-003", "origen": "Apps Script"}).encode("utf-8"),
            {"service": "brain", "idempotency_key": "CASE-003-brain"},
        ),
        envelope(
            f"a delay: testimonios, delay_s={DELAY_S}",
            {
                "service": "testimonios",
                "payload": {"case_id": "CASE-004", "recordatorio": "mañana"},
                "delay_s": DELAY_S,
            },
        ),
        envelope(f"a duplicate, 1st: same idempotency key twice, delay_s={DELAY_S}", duplicate),
        envelope(f"a duplicate, 2nd: same idempotency key twice, delay_s={DELAY_S}", duplicate),
        envelope(
            "a worker that fails the first attempt (503), retried on the queue's backoff",
            {
                "service": "brain",
                "payload": {"case_id": "CASE-008", "nota": "reintento"},
                "idempotency_key": RETRY_KEY,
            },
        ),
        Sent(
            "a malformed message (truncated JSON)",
            b'{"service": "brain", "payload": {"case_id": "CASE-005"',
            {},
        ),
        replace(
            envelope(f"{REPUBLISH_TITLE}: message 2's key again", testimonio),
            after_run=True,
        ),
    ]


def run(out: Any = sys.stdout) -> int:
    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    sent = messages()
    try:
        with Stack(echo=lambda line: say(f"· {line}")) as stack:
            say(f"· the stack is up; logs in {stack.state_dir}")
            feed = bridge_page.stack_feed(stack)  # before publishing: it sees every message
            feed.start()
            policy = stack.queue_policy
            say(
                f"· queues as Terraform makes them: {policy.max_dispatches_per_second:g}/s, "
                f"{policy.max_attempts} attempts, backoff {policy.min_backoff_s:g} s doubling "
                f"{policy.max_doublings}x up to {policy.max_backoff_s:g} s"
            )
            _exercise(stack, sent, say)
            _report(stack, sent, say)
            cli_failures = _operator_view(stack, sent, say)
            report = _report_page(stack, feed)
        say("· stopped every process the demo started")
        say(f"· the report page (open it in a browser): {report.as_uri()}")
    except KeyboardInterrupt:
        say("· interrupted: stopped every process the demo started")
        return 130
    except MissingPrerequisite as err:
        say(f"make demo: {err}")
        return 2
    except StackError as err:
        say(f"make demo: the stack failed: {err}")
        return 1
    summary, failures = account(sent)
    failures += cli_failures
    say("")
    say(summary)
    for line in failures:
        say(f"make demo: {line}")
    return 1 if failures else 0


def _report_page(stack: Stack, feed: Feed) -> Path:
    """The bridge's page as one file: what each message became, once every outcome is logged."""
    feed.refresh()
    feed.stop()
    return bridge_page.write_report(
        stack.state_dir / REPORT_PAGE, snapshot=feed.snapshot(), console_url=stack.console_url
    )


def _wait(check: Callable[[], bool], *, timeout_s: float, what: str) -> None:
    """Wait for ``check``; at the deadline carry on on purpose: the report then names every
    message that fell short (lost, never logged, no rejection), which is the demo's answer."""
    with contextlib.suppress(TimedOut):
        poll_until(check, timeout_s=timeout_s, what=what, interval_s=0.1)


def _exercise(stack: Stack, sent: list[Sent], say: Callable[[str], None]) -> None:
    stack.worker.fail_first(RETRY_KEY)
    first = [s for s in sent if not s.after_run]
    later = [s for s in sent if s.after_run]

    def publish(items: list[Sent]) -> None:
        for item in items:
            item.message_id = stack.pubsub.publish(
                TOPIC, data=item.data, attributes=item.attributes
            )
            item.published_at = time.time()

    def logged() -> bool:
        by_id = {e.get("message_id"): e for e in stack.function_log()}
        for item in sent:
            item.log = by_id.get(item.message_id, {}) if item.message_id else {}
        return all(item.log for item in sent if item.message_id)

    publish(first)
    say(f"· published {len(first)} messages to {TOPIC}")
    _wait(logged, timeout_s=30, what="the function's log line of every message")
    by_task: dict[str, list[Received]] = {}

    def delivered() -> bool:
        by_task.clear()
        for record in stack.worker.records():
            by_task.setdefault(record.task_id, []).append(record)
        created = {s.task_id for s in sent if s.outcome == "created"}
        return all(any(r.ok for r in by_task.get(t, [])) for t in created)

    retry_wait_s = stack.queue_policy.backoff_s(1)
    say(f"· waiting for the worker (the retry comes {retry_wait_s:g} s after the first attempt)")
    _wait(delivered, timeout_s=DELAY_S + retry_wait_s + 30, what="every task at the worker")
    time.sleep(SETTLE_S)  # the worker's answers reach Cloud Tasks, which then drops the tasks
    publish(later)
    say(f"· every task ran; published {len(later)} more with an earlier message's key")
    _wait(logged, timeout_s=30, what="the function's log line of every message")
    time.sleep(SETTLE_S)  # a second delivery of any task would arrive in this window
    delivered()
    for item in sent:
        if item.outcome == "created":
            item.attempts = by_task.get(item.task_id, [])
    rejections: list[PulledMessage] = []

    def rejected() -> bool:
        rejections.extend(stack.pubsub.pull(REJECTED_SUBSCRIPTION))
        return bool(rejections)

    _wait(rejected, timeout_s=10, what="the rejection")
    for message in rejections:
        for item in sent:
            if message.attributes.get("bridge_message_id") == item.message_id:
                item.rejection = message


def account(sent: list[Sent]) -> tuple[str, list[str]]:
    """The summary line, and every way the run fell short of exactly-once."""
    failures: list[str] = []
    created = [s for s in sent if s.outcome == "created"]
    duplicates = [s for s in sent if s.outcome == "duplicate"]
    rejected = [s for s in sent if s.rejection is not None]
    once = [s for s in created if len(s.deliveries) == 1]
    for item in created:
        if len(item.deliveries) != 1:
            failures.append(f"{item.title}: delivered {len(item.deliveries)} times")
        for attempt in item.attempts:
            if attempt.status in (401, 403):
                failures.append(f"{item.title}: the worker refused a token ({attempt.reason})")
    tasks_created = {s.task_id for s in created}
    for item in duplicates:
        if item.task_id not in tasks_created:
            failures.append(f"{item.title}: refused as a duplicate of a task never created")
    for item in sent:
        if item.after_run and item.task_state != "reserved":
            failures.append(f"{item.title}: not a reserved duplicate ({item.outcome or 'no log'})")
    accounted = {id(s) for s in [*created, *duplicates, *rejected]}
    lost = [s for s in sent if id(s) not in accounted]
    failures += [f"{s.title}: lost (bridge: {s.outcome or 'no log line'})" for s in lost]
    if any(s.rejection is not None and s.outcome != "rejected" for s in sent):
        failures.append("a message both became a task and was rejected")
    summary = (
        f"{len(sent)} published, {len(once)} delivered exactly once, "
        f"{len(duplicates)} duplicates refused, {len(rejected)} rejected with reason, "
        f"{len(lost)} lost"
    )
    return summary, failures


def _short(text: str, width: int = 96) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _clock(epoch_s: float) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(epoch_s)) + f".{int(epoch_s * 1000) % 1000:03d}"


def _report(stack: Stack, sent: list[Sent], say: Callable[[str], None]) -> None:
    say("")
    say("=" * 100)
    say("What happened to each message: Pub/Sub -> enqueue (main.py) -> Cloud Tasks -> worker")
    say("=" * 100)
    for number, item in enumerate(sent, 1):
        say("")
        say(f"[{number}] {item.title}")
        attributes = f"  attributes {item.attributes}" if item.attributes else ""
        say(f"    published   message {item.message_id}{attributes}")
        say(f"                data {_short(item.data.decode('utf-8', 'replace'))}")
        log = item.log
        outcome = item.outcome or "NO LOG LINE (the function never logged this message)"
        extra = f" ({log.get('reason')}: {log.get('error')})" if log.get("reason") else ""
        say(f"    bridge      {outcome}{extra} in {log.get('latency_ms', '?')} ms")
        if log.get("task"):
            say(f"    task        {log.get('queue')}/tasks/{item.task_id}")
        if item.outcome == "duplicate":
            _say_duplicate(item, say)
        for attempt in item.attempts:
            _say_attempt(item, attempt, say)
        if item.rejection is not None:
            attrs = item.rejection.attributes
            say(f"    rejected    to {REJECTED_TOPIC}, reason {attrs.get('bridge_reason')}")
            say(f"                bridge_error {_short(attrs.get('bridge_error', ''), 80)}")
            original = item.rejection.data.decode("utf-8", "replace")
            say(f"                original data {_short(original)}")
    say("")
    say("-" * 100)
    pair = [s for s in sent if s.title.startswith("a duplicate")]
    deliveries = sum(len(s.deliveries) for s in pair)
    say(
        f"The duplicate: both messages named task {pair[0].task_id[:16]}…; Cloud Tasks "
        f"refused the second and the worker got {deliveries} request."
    )
    for item in (s for s in sent if s.after_run):
        original = next((s for s in sent if s.task_id == item.task_id and s is not item), None)
        runs = len(original.deliveries) if original else 0
        say(
            f"The re-publish: task_state {item.task_state or '?'}, logged "
            f"{item.log.get('severity')}; the name's earlier task ran {runs} time(s), "
            "this one will not run."
        )
    say("-" * 100)


def _operator_view(stack: Stack, sent: list[Sent], say: Callable[[str], None]) -> list[str]:
    """Run ``bridge status`` (for the re-published key) and ``bridge queues`` as an operator
    would, with the function's variables; their output, and a failure for any that failed."""
    republished = json.loads(next(s for s in sent if s.after_run).data)
    commands = [
        ["status", "--service", republished["service"], "--key", republished["idempotency_key"]],
        ["queues"],
    ]
    say("")
    say("Where is my request? The operator's commands, on this stack:")
    failures: list[str] = []
    for args in commands:
        say(f"$ bridge {' '.join(args)}")
        done = stack.bridge_command(*args)
        for line in (done.stdout or done.stderr).splitlines():
            say(f"    {line}")
        if done.returncode != 0:
            failures.append(f"bridge {args[0]} exited {done.returncode}: {done.stderr.strip()}")
    return failures


def _say_duplicate(item: Sent, say: Callable[[str], None]) -> None:
    state = item.task_state or "?"
    if item.task_state == "reserved":
        say(f"    task_state  {state}: will not run (logged {item.log.get('severity')})")
        say(
            "                Cloud Tasks answered ALREADY_EXISTS and GetTask NOT_FOUND: the task "
            "already ran and its name stays reserved; acked, nothing sent"
        )
        return
    say(f"    task_state  {state}")
    say(
        "                Cloud Tasks answered ALREADY_EXISTS: this name is taken, "
        "the request is already queued; acked, nothing sent"
    )


def _say_attempt(item: Sent, attempt: Received, say: Callable[[str], None]) -> None:
    lag = attempt.received_at - item.published_at
    say(
        f"    worker got  {attempt.method} {attempt.path}  {lag:.1f} s after publishing "
        f"at {_clock(attempt.received_at)}, answered {attempt.status}"
        + (f" ({attempt.reason})" if attempt.reason else "")
    )
    authorization = attempt.header("Authorization") or ""
    if attempt.claims and attempt.status != 401:
        say(
            f"                Authorization: {authorization[:22]}… verified: email "
            f"{attempt.claims.get('email')}, audience {attempt.claims.get('aud')}"
        )
    elif authorization:
        say(f"                Authorization: {authorization[:22]}… NOT accepted")
    else:
        say("                (no Authorization header)")
    for header in SHOWN_HEADERS:
        value = attempt.header(header)
        if value is None:
            continue
        shown = value if value else '""'
        if header == "X-CloudTasks-TaskETA":
            try:
                eta_s = float(value)
            except ValueError:
                pass
            else:
                late = eta_s - item.published_at
                shown += f" ({_clock(eta_s)} UTC, publish {late:+.1f} s)"
        say(f"                {header}: {_short(shown, 80)}")
    if attempt.ok:
        say(f"                body {_short(attempt.body.decode('utf-8', 'replace'))}")
