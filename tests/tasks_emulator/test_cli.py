"""The command line: the names other tools rely on, the ready line, a clean stop."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from tests.tasks_emulator.conftest import PARENT, ROOT, Emulator, grpc_client


def test_port_0_prints_the_real_ports_on_loopback(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emulator = emulator_factory()
    host, port = emulator.grpc_target.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) > 0
    assert emulator.ready_line.startswith("tasks_emulator ready: grpc 127.0.0.1:")


def test_queues_on_the_command_line_exist_with_defaults(
    emulator_factory: Callable[..., Emulator],
) -> None:
    names = [f"{PARENT}/queues/cli-a", "projects/other/locations/eu/queues/cli-b"]
    emulator = emulator_factory("--queue", names[0], "--queue", names[1])
    client = grpc_client(emulator)
    for name in names:
        assert client.get_queue(name=name).rate_limits.max_dispatches_per_second == 500


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--queue", "queues/q"], "--queue must be of the form"),
        (["--name-reserve-s", "-1"], "--name-reserve-s must not be negative"),
        (["--port", "x"], "invalid int value"),
    ],
)
def test_bad_arguments_exit_2_naming_them(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tasks_emulator", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_it_cleanly(
    emulator_factory: Callable[..., Emulator], signum: signal.Signals
) -> None:
    emulator = emulator_factory()
    emulator.process.send_signal(signum)
    assert emulator.process.wait(timeout=30) == 0
