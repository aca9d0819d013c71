"""The soak's fault bookkeeping: it reads the emulator's own log lines, and names each retry."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from benchmarks import soak_faults
from tasks_emulator.fault_injection import LOG, FaultInjector

TASK = "projects/p/locations/l/queues/q/tasks/abc"


def test_the_emulators_fault_lines_are_read_back(tmp_path: Path) -> None:
    log_path = tmp_path / "tasks-emulator.log"
    handler = logging.FileHandler(log_path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("tasks_emulator: %(message)s"))  # as server.py
    LOG.addHandler(handler)
    try:
        injector = FaultInjector()
        injector.record(
            rpc="CreateTask", kind="CreateTask:after:UNAVAILABLE", what="did it", resource=TASK
        )
        injector.record(rpc="dispatch", kind="dispatch:drop", what="answered 200", resource=TASK)
    finally:
        LOG.removeHandler(handler)
        handler.close()
    found = soak_faults.injected_faults(log_path)
    assert [(f.kind, f.task_id) for f in found] == [
        ("CreateTask:after:UNAVAILABLE", "abc"),
        ("dispatch:drop", "abc"),
    ]
    assert found[1].what == "answered 200"


@pytest.mark.parametrize(
    ("entry", "had_latency", "cause"),
    [
        (
            {
                "reason": "DEADLINE_EXCEEDED",
                "error": "Injected fault (CreateTask:after:DEADLINE_EXCEEDED:0.01): x",
            },
            False,
            "reply lost after the commit (DEADLINE_EXCEEDED)",
        ),
        (
            {"reason": "UNAVAILABLE", "error": "Injected fault (*:before:UNAVAILABLE:1): x"},
            False,
            "UNAVAILABLE burst (*)",
        ),
        (
            {"reason": "DEADLINE_EXCEEDED", "error": "Deadline Exceeded"},
            True,
            "latency past the 5 s timeout",
        ),
        (
            {"reason": "DEADLINE_EXCEEDED", "error": "Deadline Exceeded"},
            False,
            "client timeout without injected latency (a loaded machine)",
        ),
        (
            {"reason": "UNAVAILABLE", "error": "failed to connect"},
            False,
            "Cloud Tasks emulator stopped or restarting",
        ),
        ({"reason": "NOT_FOUND", "service": "limbo"}, False, "limbo's queue missing (on purpose)"),
        ({"reason": "PERMISSION_DENIED", "error": "no"}, False, "other: PERMISSION_DENIED no"),
    ],
)
def test_each_retry_is_put_down_to_its_cause(
    entry: dict[str, str], had_latency: bool, cause: str
) -> None:
    assert soak_faults.retry_cause(entry, had_latency=had_latency) == cause


def test_the_emulator_flags_carry_the_base_plan_and_the_seed() -> None:
    from tasks_emulator.server import parse_args

    options = parse_args(soak_faults.emulator_args())
    assert options.fault_plan.seed == soak_faults.FAULT_SEED
    plan: dict[str, object] = dict(options.fault_plan.to_json())
    assert {key: plan[key] for key in soak_faults.BASE_PLAN} == soak_faults.BASE_PLAN
