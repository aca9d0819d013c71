"""``bridge.logs``: one JSON line per outcome on stdout, never the payload."""

from __future__ import annotations

import hashlib
import json

import pytest

from bridge.logs import Outcome, fingerprint, log_outcome


def test_one_json_line_with_severity_and_fields(capsys: pytest.CaptureFixture[str]) -> None:
    log_outcome(Outcome.REJECTED, message="rejected 1", reason="bad_json", queue=None)
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {
        "severity": "WARNING",
        "message": "rejected 1",
        "outcome": "rejected",
        "reason": "bad_json",
    }


def test_a_given_severity_wins(capsys: pytest.CaptureFixture[str]) -> None:
    log_outcome(Outcome.REJECTED, message="m", severity="ERROR")
    assert json.loads(capsys.readouterr().out)["severity"] == "ERROR"


def test_a_lone_surrogate_is_escaped_not_a_crash(capsys: pytest.CaptureFixture[str]) -> None:
    log_outcome(Outcome.CREATED, message="m", message_id="\ud800")
    line = capsys.readouterr().out
    assert json.loads(line)["message_id"] == "\ud800"


def test_the_fingerprint_is_a_prefix_of_the_sha256() -> None:
    assert fingerprint(b"payload") == hashlib.sha256(b"payload").hexdigest()[:16]
