"""What runs in the function is exactly the modules directly in ``bridge/`` (issue 12).

The deploy archive (terraform/function.tf, checked in tests/terraform/test_source_archive.py)
ships exactly ``DEPLOYED``: a new module must be added here on purpose.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import old_enqueuer_env

REPO = Path(__file__).resolve().parents[1]
DEPLOYED = [
    "bridge/__init__.py",
    "bridge/clock.py",
    "bridge/config.py",
    "bridge/envelope.py",
    "bridge/errors.py",
    "bridge/event.py",
    "bridge/gateway.py",
    "bridge/http_entry.py",
    "bridge/limits.py",
    "bridge/logs.py",
    "bridge/message.py",
    "bridge/naming.py",
    "bridge/plan.py",
    "bridge/pubsub_entry.py",
    "bridge/rejections.py",
    "bridge/task.py",
    "bridge/trace.py",
    "main.py",
    "requirements.txt",
]
NOT_DEPLOYED = [
    "bridge/__main__.py"
]  # `python -m bridge`: the operator's command, not the function's


def bridge_modules_imported_by_main(function_target: str) -> list[str]:
    """The issue's check, as anyone can run it with the function's environment set."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO),
        "FUNCTION_TARGET": function_target,
        **old_enqueuer_env(),
    }
    probe = (
        "import main, sys, json; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('bridge'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modules


@pytest.mark.parametrize("function_target", ["enqueue", "enqueue_http"])
def test_main_imports_exactly_the_modules_directly_in_bridge(function_target: str) -> None:
    expected = sorted(
        "bridge" if path == "bridge/__init__.py" else "bridge." + Path(path).stem
        for path in DEPLOYED
        if path.startswith("bridge/")
    )
    assert bridge_modules_imported_by_main(function_target) == expected


def test_the_deployed_list_is_every_module_directly_in_bridge() -> None:
    on_disk = sorted(f"bridge/{p.name}" for p in (REPO / "bridge").glob("*.py"))
    assert on_disk == sorted([p for p in DEPLOYED if p.startswith("bridge/")] + NOT_DEPLOYED)


def test_no_deployed_module_imports_a_subpackage() -> None:
    # A lazy import inside a function would escape the probe above until it runs in production.
    offenders = [
        path
        for path in DEPLOYED
        if path.endswith(".py")
        and any(
            f"{word} bridge.{sub}" in (REPO / path).read_text(encoding="utf-8")
            for word in ("from", "import")
            for sub in ("cli", "stack")
        )
    ]
    # bridge/__init__.py loads bridge.cli.publisher only when `bridge.publish` is asked for.
    assert offenders == ["bridge/__init__.py"]


def test_the_readme_layout_names_every_deployed_module() -> None:
    """The README's layout table is where a reader learns what runs in the function."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Repository layout") :]
    missing = [
        path
        for path in DEPLOYED
        if path.startswith("bridge/") and path != "bridge/__init__.py" and f"`{path}`" not in layout
    ]
    assert missing == []
