"""Publishers end to end: what the CLI and the Apps Script publish travels through the real
local stack (``bridge.stack``: Pub/Sub emulator -> main.py -> Cloud Tasks emulator -> worker)
and reaches the worker as the intended task. Uses the run's one ``stack`` (tests/conftest.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from bridge import cli
from bridge.stack.runner import PROJECT_ID, SERVICE_BY_NAME, TOPIC, Stack
from tests.publishers.test_apps_script import TEXTS, node, run_apps_script  # noqa: F401

pytestmark = pytest.mark.e2e


def test_apps_script_rows_become_tasks(
    stack: Stack,
    node: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    unique = uuid.uuid4().hex[:10]
    payload = {"case_id": f"AS-{unique}", "nota": TEXTS[0], "más": TEXTS[2]}
    key = f"apps-script-{unique}"
    result = run_apps_script(
        node,
        tmp_path,
        host=stack.pubsub_host,
        properties={"ENQUEUE_PROJECT_ID": PROJECT_ID, "ENQUEUE_TOPIC": TOPIC},
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
