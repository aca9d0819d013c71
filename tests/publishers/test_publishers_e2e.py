"""Publishers end to end: what the CLI and the Apps Script publish travels through the real
local stack (``bridge.stack``: Pub/Sub emulator -> main.py -> Cloud Tasks emulator -> worker)
and reaches the worker as the intended task; a published trace (the publishers' own, a caller's,
Pub/Sub's OpenTelemetry attribute, a Sheet row's) reaches the worker's ``traceparent`` and the
bridge's log fields. Uses the run's one ``stack`` (tests/conftest.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from bridge import cli
from bridge.publishing.publisher import Publisher, build_envelope
from bridge.stack.runner import PROJECT_ID, SERVICE_BY_NAME, TOPIC, Stack
from bridge.stack.worker import Received
from bridge.trace import parse_traceparent
from tests.e2e.conftest import log_line
from tests.e2e.test_status import status
from tests.publishers.test_apps_script import (  # noqa: F401
    TEXTS,
    node,
    run_apps_script,
    sheet_with,
    status_cell,
)

TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

pytestmark = pytest.mark.e2e


def apps_script_on(stack: Stack, node_path: str, tmp_path: Path, **scenario: Any) -> dict[str, Any]:
    """Run the Apps Script publisher with its Script Properties pointing at the stack's topic."""
    properties = {"ENQUEUE_PROJECT_ID": PROJECT_ID, "ENQUEUE_TOPIC": TOPIC}
    return run_apps_script(
        node_path, tmp_path, host=stack.pubsub_host, properties=properties, **scenario
    )


def test_apps_script_rows_become_tasks(
    stack: Stack,
    node: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    unique = uuid.uuid4().hex[:10]
    payload = {"case_id": f"AS-{unique}", "nota": TEXTS[0], "más": TEXTS[2]}
    key = f"apps-script-{unique}"
    result = apps_script_on(
        stack,
        node,
        tmp_path,
        steps=[{"call": "enqueue", "args": ["testimonios", payload, {"idempotency_key": key}]}],
    )
    message_id = result["steps"][0]["ok"]
    [request] = stack.worker.wait_for(
        lambda r: r.header("X-Pubsub-Message-Id") == message_id, timeout_s=30
    )
    assert request.path == SERVICE_BY_NAME["testimonios"].path
    assert request.header("X-Idempotency-Key") == key
    assert request.json() == payload
    assert TEXTS[2].encode("utf-8") in request.body


def test_cli_rows_become_tasks(
    stack: Stack,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.pubsub_host)
    unique = uuid.uuid4().hex[:10]
    rows = [
        {
            "service": "brain",
            "payload": {"i": i, "nota": TEXTS[1]},
            "idempotency_key": f"{unique}-{i}",
        }
        for i in range(3)
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    code = cli.main(["publish", "--file", str(path), "--project", PROJECT_ID, "--quiet"])
    assert code == 0, capsys.readouterr().err
    received = stack.worker.wait_for(
        lambda r: (r.header("X-Idempotency-Key") or "").startswith(unique), count=3, timeout_s=30
    )
    assert sorted(r.json()["i"] for r in received) == [0, 1, 2]
    assert all(r.json()["nota"] == TEXTS[1] for r in received)


def assert_one_trace(stack: Stack, *, message_id: str, key: str, trace_id: str) -> Received:
    """The worker's request for ``key`` carries trace ``trace_id``, and the bridge's log line of
    ``message_id`` names the same trace and span; that request."""
    [request] = stack.worker.wait_for(lambda r: r.header("X-Idempotency-Key") == key, timeout_s=30)
    context = parse_traceparent(request.header("traceparent") or "")
    assert context is not None
    assert context.trace_id == trace_id
    entry = log_line(stack, message_id)
    assert entry["outcome"] == "created"
    assert entry["logging.googleapis.com/trace"] == f"projects/{PROJECT_ID}/traces/{trace_id}"
    assert entry["logging.googleapis.com/spanId"] == context.span_id
    assert entry["logging.googleapis.com/trace_sampled"] is True
    return request


@pytest.mark.parametrize("attribute", ["traceparent", "googclient_traceparent"])
def test_a_published_trace_reaches_the_worker_and_the_bridges_log(
    stack: Stack, attribute: str
) -> None:
    key = f"trace-{uuid.uuid4().hex[:10]}"
    envelope = {"service": "brain", "payload": {"n": key}, "idempotency_key": key}
    message_id = stack.pubsub.publish(
        TOPIC, data=json.dumps(envelope).encode(), attributes={attribute: TRACE}
    )
    request = assert_one_trace(stack, message_id=message_id, key=key, trace_id=TRACE.split("-")[1])
    assert request.header("traceparent") == TRACE  # forwarded unchanged


def test_the_python_publishers_new_trace_reaches_the_worker(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", stack.pubsub_host)
    key = f"py-trace-{uuid.uuid4().hex[:10]}"
    sent = Publisher(topic=TOPIC, project=PROJECT_ID).publish_traced(
        build_envelope("testimonios", {"n": key}, idempotency_key=key)
    )
    trace_id = sent.traceparent.split("-")[1]
    request = assert_one_trace(stack, message_id=sent.message_id, key=key, trace_id=trace_id)
    assert request.header("traceparent") == sent.traceparent


def test_a_sheet_row_is_traced_and_found_by_bridge_status(
    stack: Stack,
    node: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    case = f"S-{uuid.uuid4().hex[:10]}"
    result = apps_script_on(
        stack,
        node,
        tmp_path,
        sheet=sheet_with([["brain", "", case, TEXTS[0], ""]], active=(2, 1)),
        steps=[{"call": "enqueueSelectedRows"}],
    )
    assert result["alerts"] == ["Enqueued 1 row(s)."]
    message_id, key, trace_id = status_cell(result["grid"][1][1])
    request = assert_one_trace(stack, message_id=message_id, key=key, trace_id=trace_id)
    assert request.json()["case_id"] == case
    code, report = status(stack, "--service", "brain", "--key", key)
    assert code == 0  # found: pending, or done recently
    assert report["task"] == log_line(stack, message_id)["task"]
