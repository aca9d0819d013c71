"""``bridge queues`` against the real tasks_emulator: every configured service's queue, its
settings, and a task count that says when it stopped counting."""

from __future__ import annotations

import json

import pytest

from bridge.cli import main
from tests.publishers.test_status import Local, create, env, local

__all__ = ["env", "local"]  # the fixtures, shared with test_status


def test_queues_lists_every_service_with_its_settings_and_count(
    env: Local, capsys: pytest.CaptureFixture[str]
) -> None:
    create(env, "regresos", "Q-1", delay_s=3600)
    create(env, "regresos", "Q-2", delay_s=3600)
    assert main(["queues", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    assert set(reports) == set(env.settings.routes)
    regresos = reports["regresos"]
    assert regresos["queue"] == env.settings.routes["regresos"].queue_path
    assert regresos["state"] == "RUNNING"
    assert regresos["max_dispatches_per_second"] == 500
    assert regresos["max_attempts"] == 100
    assert (regresos["tasks"], regresos["counting_stopped"]) == (2, False)
    assert main(["queues", "--json", "--max-count", "1"]) == 0
    bounded = json.loads(capsys.readouterr().out)["regresos"]
    assert (bounded["tasks"], bounded["counting_stopped"]) == (1, True)
    assert main(["queues", "--max-count", "1"]) == 0
    assert "at least 1 (stopped counting" in capsys.readouterr().out


def test_a_missing_queue_is_listed_and_the_others_still_read(
    env: Local, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QUEUE_TRANS", "queue-not-created")
    assert main(["queues", "--json"]) == 3
    reports = json.loads(capsys.readouterr().out)
    assert reports["transcripciones"]["state"] == "MISSING"
    assert "does not exist" in reports["transcripciones"]["detail"]
    assert reports["brain"]["state"] == "RUNNING"
    assert main(["queues"]) == 3
    [line] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("transcripciones")]
    assert "queue-not-created  MISSING: the queue" in line
