"""``make demo``: the whole product, locally, on real emulators; a readable report; then stop.

Publishes real messages through the Pub/Sub emulator (one per service including the old
enqueuer's ``regresos`` example, one in attribute mode, one with a delay, one duplicate, one
malformed), keeps the queues paused long enough to read each task back from the Cloud Tasks
emulator, resumes them, waits for the recording worker, and prints what happened to each message.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bridge.stack.procs import MissingPrerequisite, StackError
from bridge.stack.runner import (
    REJECTED_SUBSCRIPTION,
    SERVICES,
    TOPIC,
    Stack,
    pull_until,
)
from bridge.stack.worker import Received

DELAY_S = 5
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
    "Authorization",
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
    tasks: list[Any] = field(default_factory=list)
    deliveries: list[Received] = field(default_factory=list)
    rejection: Any = None


def messages() -> list[Sent]:
    def envelope(title: str, value: Mapping[str, Any]) -> Sent:
        return Sent(title, json.dumps(value, ensure_ascii=False).encode("utf-8"), {})

    duplicate = {
        "service": "transcripciones",
        "payload": {"audio_uri": "gs://casos/CASE-7/entrevista.m4a", "idioma": "es"},
        "idempotency_key": "CASE-7-transcripcion",
    }
    return [
        envelope(
            "envelope mode: brain",
            {
                "service": "brain",
                "payload": {"case_id": "CASE-001", "nota": "Declaración de la señora Núñez"},
            },
        ),
        envelope(
            "envelope mode: testimonios, with an idempotency key",
            {
                "service": "testimonios",
                "payload": {"case_id": "CASE-002", "testigo": "José Peña"},
                "idempotency_key": "CASE-002-testimonio",
            },
        ),
        envelope(
            "envelope mode: transcripciones",
            {k: v for k, v in duplicate.items() if k != "idempotency_key"},
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
        envelope("a duplicate, 1st: same idempotency key twice", duplicate),
        envelope("a duplicate, 2nd: same idempotency key twice", duplicate),
        Sent(
            "a malformed message (truncated JSON)",
            b'{"service": "brain", "payload": {"case_id": "CASE-005"',
            {},
        ),
    ]


def run(out: Any = sys.stdout) -> int:
    def say(line: str = "") -> None:
        print(line, file=out, flush=True)

    sent = messages()
    try:
        with Stack(echo=lambda line: say(f"· {line}")) as stack:
            say(f"· the stack is up; logs in {stack.state_dir}")
            _exercise(stack, sent, say)
            _report(stack, sent, say)
        say("· stopped every process the demo started")
    except KeyboardInterrupt:
        say("· interrupted: stopped every process the demo started")
        return 130
    except MissingPrerequisite as err:
        say(f"make demo: {err}")
        return 2
    except StackError as err:
        say(f"make demo: the stack failed: {err}")
        return 1
    # every message either reached the worker or was rejected, never both, never neither
    lost = [s for s in sent if bool(s.rejection) == bool(s.deliveries)]
    if lost:
        say(f"make demo: {len(lost)} message(s) did not end as expected: see above")
    return 1 if lost else 0


def _exercise(stack: Stack, sent: list[Sent], say: Any) -> None:
    tasks = stack.require_tasks()
    for service in SERVICES:  # paused queues keep their tasks listable: we read them back
        tasks.pause(service.queue_path)
    for item in sent:
        item.message_id = stack.pubsub.publish(TOPIC, data=item.data, attributes=item.attributes)
        item.published_at = time.time()
    say(f"· published {len(sent)} messages to {TOPIC}")

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        by_id = {e.get("message_id"): e for e in stack.function_log()}
        if all(s.message_id in by_id for s in sent):
            break
        time.sleep(0.1)
    by_id = {e.get("message_id"): e for e in stack.function_log()}
    for item in sent:
        item.log = by_id.get(item.message_id, {})

    listed = {service.queue_id: tasks.list_tasks(service.queue_path) for service in SERVICES}
    for item in sent:
        name = item.log.get("task")
        queue = item.log.get("queue")
        if name and queue in listed:
            item.tasks = [t for t in listed[queue] if t.name == name]
    for service in SERVICES:
        tasks.resume(service.queue_path)

    expected = {s.message_id: 1 for s in sent if s.log.get("outcome") == "created"}
    deadline = time.monotonic() + DELAY_S + 20
    while time.monotonic() < deadline:
        got = stack.worker.records()
        counts = {mid: 0 for mid in expected}
        for record in got:
            mid = record.header("X-Pubsub-Message-Id") or ""
            if mid in counts:
                counts[mid] += 1
        if all(counts[mid] >= 1 for mid in expected):
            break
        time.sleep(0.1)
    for item in sent:
        item.deliveries = [
            r for r in stack.worker.records() if r.header("X-Pubsub-Message-Id") == item.message_id
        ]
    rejected = pull_until(stack, REJECTED_SUBSCRIPTION, count=1, timeout_s=10)
    for message in rejected:
        for item in sent:
            if message.attributes.get("bridge_message_id") == item.message_id:
                item.rejection = message


def _short(text: str, width: int = 96) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _when(value: Any) -> str:
    if isinstance(value, datetime) and value.timestamp() > 0:
        return value.strftime("%H:%M:%S.%f")[:-3] + " UTC"
    return "not set (dispatch as soon as possible)"


def _report(stack: Stack, sent: list[Sent], say: Any) -> None:
    say()
    say("=" * 100)
    say("What happened to each message: Pub/Sub -> enqueue (main.py) -> Cloud Tasks -> worker")
    say("=" * 100)
    for number, item in enumerate(sent, 1):
        say()
        say(f"[{number}] {item.title}")
        attributes = f"  attributes {item.attributes}" if item.attributes else ""
        say(f"    published   message {item.message_id}{attributes}")
        say(f"                data {_short(item.data.decode('utf-8', 'replace'))}")
        log = item.log
        outcome = log.get("outcome", "NO LOG LINE (the function never logged this message)")
        extra = f" ({log.get('reason')}: {log.get('error')})" if log.get("reason") else ""
        say(f"    bridge      {outcome}{extra} in {log.get('latency_ms', '?')} ms")
        for task in item.tasks[:1]:
            request = task.http_request
            say(f"    task        {task.name.rsplit('/tasks/', 1)[0].rsplit('/', 1)[-1]}")
            say(f"                tasks/{task.name.rsplit('/', 1)[-1]}")
            say(f"    schedule    {_when(task.schedule_time)}")
            deadline = task.dispatch_deadline
            say(f"    deadline    {int(deadline.total_seconds()) if deadline else '?'} s")
            say(
                f"    OIDC        {request.oidc_token.service_account_email} "
                f"-> audience {request.oidc_token.audience}"
            )
            say(f"    target      POST {request.url}")
        if len(item.tasks) > 1:
            say(f"    (the emulator holds {len(item.tasks)} tasks with this one name)")
        for delivery in item.deliveries:
            lag = delivery.received_at - item.published_at
            say(f"    worker got  {delivery.method} {delivery.path}  {lag:.1f} s after publishing")
            for header in SHOWN_HEADERS:
                value = delivery.header(header)
                if value is not None:
                    say(f"                {header}: {_short(value, 80)}")
            if delivery.header("Authorization") is None:
                say("                (no Authorization: the emulator sends no OIDC token)")
            say(f"                body {_short(delivery.body.decode('utf-8', 'replace'))}")
        if item.rejection is not None:
            attrs = item.rejection.attributes
            say(f"    rejected    to enqueue-rejected, reason {attrs.get('bridge_reason')}")
            say(f"                bridge_error {_short(attrs.get('bridge_error', ''), 80)}")
            original = item.rejection.data.decode("utf-8", "replace")
            say(f"                original data {_short(original)}")
        if not item.deliveries and item.rejection is None:
            say("    !! neither delivered to the worker nor rejected")
    _explain_duplicate(sent, say)


def _explain_duplicate(sent: list[Sent], say: Any) -> None:
    pair = [s for s in sent if s.title.startswith("a duplicate")]
    names = {s.log.get("task") for s in pair}
    deliveries = sum(len(s.deliveries) for s in pair)
    say()
    say("-" * 100)
    say("The duplicate: both messages became the same task name:")
    for name in sorted(str(n) for n in names):
        say(f"    {name}")
    say(
        f"gcloud-tasks-emulator accepted the name twice and the worker got {deliveries} requests. "
        "Real Cloud Tasks refuses\nthe second CreateTask with ALREADY_EXISTS (the bridge logs it "
        "as `duplicate` and acks): that path is\ncovered by the unit tests, not here."
    )
    say("-" * 100)
