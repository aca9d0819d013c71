"""Cold start: whole-process wall time and peak memory of `import main`, against the floor
(`import functions_framework, functions_framework.aio` + `from google.cloud import tasks_v2` +
`from pydantic import BaseModel`: the ASGI shape main.py is served in).

Run: .venv/bin/python -m benchmarks.cold_start [--runs N]
Runs alternate (floor, ours, floor, ours, ...) so drift on a shared machine hits both alike.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.stats import ratio_line

ROOT = Path(__file__).resolve().parent.parent
# The floor of the shape the bridge is served in: functions-framework's ASGI stack
# (functions_framework.aio, which brings Starlette), the Cloud Tasks client (tasks_v2 holds the
# async client too) and pydantic. `import pydantic` alone is lazy and loads none of the model
# machinery: the floor imports BaseModel, which any pydantic validation needs. The lazy variant
# is printed too, for honesty.
FLOOR = (
    "import functions_framework, functions_framework.aio; from google.cloud import tasks_v2; "
    "from pydantic import BaseModel"
)
FLOOR_LAZY = (
    "import functions_framework, functions_framework.aio; from google.cloud import tasks_v2; "
    "import pydantic"
)
OURS = "import main"
# What the function may not import at cold start: only some messages (or other tools) need them.
MUST_NOT_LOAD = (
    "google.cloud.pubsub_v1",
    "bridge.cli",
    "bridge.publishing",
    "bridge.cli.replay",
    "bridge.stack",
)


def bench_env() -> dict[str, str]:
    env = dict(os.environ, PROJECT_ID="demo-project", REJECTED_TOPIC="enqueue-requests-rejected")
    env["CALLER_SA"] = "caller@demo-project.iam.gserviceaccount.com"
    for suffix in ("BRAIN", "TESTI", "TRANS", "REGRESOS"):
        env[f"QUEUE_{suffix}"] = f"queue-{suffix.lower()}"
        env[f"URL_{suffix}"] = f"https://{suffix.lower()}-abc-uc.a.run.app/run"
    env["FUNCTION_TARGET"] = "enqueue"
    return env


def measure(code: str) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of a fresh interpreter running ``code``. The CPU
    time (user + system) is what a loaded shared machine disturbs least."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=bench_env())
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{code!r} failed with status {status}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    check = f"import sys, main; assert not [m for m in {MUST_NOT_LOAD!r} if m in sys.modules]"
    measure(check)  # also warms the page cache for both
    measure(FLOOR)
    walls: dict[str, list[float]] = {FLOOR: [], FLOOR_LAZY: [], OURS: []}
    cpus: dict[str, list[float]] = {FLOOR: [], FLOOR_LAZY: [], OURS: []}
    rsss: dict[str, list[float]] = {FLOOR: [], FLOOR_LAZY: [], OURS: []}
    for _ in range(runs):
        for code in (FLOOR, OURS, FLOOR_LAZY):
            wall, cpu, rss = measure(code)
            walls[code].append(wall)
            cpus[code].append(cpu)
            rsss[code].append(rss)
    load = os.getloadavg()
    print(f"cold start, {runs} alternating runs each, median [min-max]; load {load[0]:.2f}")
    for label, floor in (("floor", FLOOR), ("lazy floor", FLOOR_LAZY)):
        print(f"{label}: {floor}")
        print(ratio_line("import main: wall", walls[OURS], walls[floor], "s"))
        print(ratio_line("import main: CPU", cpus[OURS], cpus[floor], "s"))
        print(ratio_line("import main: peak RSS", rsss[OURS], rsss[floor], "MiB"))
    print(f"not loaded at cold start: {', '.join(MUST_NOT_LOAD)}")


if __name__ == "__main__":
    main()
