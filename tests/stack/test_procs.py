"""The stack's process handling, without the emulators: a process group is stopped whole."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bridge.stack import procs, runner


def test_stop_ends_the_process_and_its_children(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    # a parent that forks a child and ignores SIGTERM: stop() must escalate and reach the child
    script = (
        "import os, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    proc = procs.start("sleeper", [sys.executable, "-c", script], log_path=tmp_path / "log")
    procs.wait_until(pid_file.exists, what="the child to start", timeout_s=20, watch=[proc])
    child_pid = int(pid_file.read_text())
    assert child_pid in procs.group_members(proc.pid)

    procs.stop(proc, grace_s=1.0)

    assert not proc.alive()
    assert procs.group_members(proc.pid) == []  # zombies awaiting their reaper aside
    assert proc.popen.returncode == -9  # SIGTERM was ignored: escalated to SIGKILL


def test_wait_until_reports_a_process_that_died(tmp_path: Path) -> None:
    proc = procs.start(
        "crasher",
        [sys.executable, "-c", "print('no Java here'); raise SystemExit(3)"],
        log_path=tmp_path / "log",
    )
    with pytest.raises(procs.StackError, match=r"crasher exited with code 3(.|\n)*no Java here"):
        procs.wait_until(lambda: False, what="readiness", timeout_s=20, watch=[proc])


def test_wait_until_has_a_deadline() -> None:
    with pytest.raises(procs.StackError, match="timed out"):
        procs.wait_until(lambda: False, what="nothing", timeout_s=0.2)


def test_missing_program_is_a_missing_prerequisite(tmp_path: Path) -> None:
    with pytest.raises(procs.MissingPrerequisite):
        procs.start("ghost", ["/nonexistent/java"], log_path=tmp_path / "log")


def test_missing_java_and_gcloud_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    monkeypatch.delenv("PUBSUB_EMULATOR_BIN", raising=False)
    with pytest.raises(procs.MissingPrerequisite) as caught:
        runner.check_prerequisites(Path(runner.__file__))
    assert "Java is not on PATH" in str(caught.value)
    assert "gcloud is not on PATH" in str(caught.value)


def test_missing_tasks_emulator_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runner, "REPO_ROOT", tmp_path)
    with pytest.raises(procs.MissingPrerequisite, match="tasks_emulator is missing"):
        runner.check_prerequisites(Path(runner.__file__))
