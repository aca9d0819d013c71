"""The emulators' launchers, without the emulators: a start that never gets ready raises and
leaves nothing running (a stand-in launcher that answers nothing)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bridge.stack import emulator, procs
from bridge.stack.procs import StackError


def test_a_pubsub_emulator_that_never_answers_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator, "READY_TIMEOUT_S", 0.5)
    pid_file = tmp_path / "launcher.pid"
    launcher = tmp_path / "cloud-pubsub-emulator"
    launcher.write_text(f"#!/bin/sh\necho $$ > {pid_file}\nexec sleep 600\n")
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)

    with pytest.raises(StackError, match="the Pub/Sub emulator to answer"):
        emulator.start_pubsub_emulator(
            launcher, port=procs.free_port(), log_path=tmp_path / "log", cwd=tmp_path
        )

    pid = int(pid_file.read_text())
    assert procs.group_members(pid) == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
