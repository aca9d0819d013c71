"""The function's source archive: main.py, bridge/ (less bridge/stack/) and requirements.txt.

The excludes are read from the applied state (``data.archive_file.source``), and matched the way
the archive provider does (glob with ``**``), against every file the repository tracks and every
top-level entry of the work tree: a new top-level directory must be either shipped or excluded.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.conftest import EXAMPLE_TFVARS, REPO

SHIPPED = {"main.py", "bridge", "requirements.txt"}
DEV_ONLY = ("bridge/stack/",)  # the local stack: inside the package, never deployed


def _expected_excluded(path: str) -> bool:
    return path.split("/")[0] not in SHIPPED or path.startswith(DEV_ONLY)


def _regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


@pytest.fixture(scope="module")
def excluded(contract_state: Callable[[Path], dict[str, Any]]) -> Callable[[str], bool]:
    state = contract_state(EXAMPLE_TFVARS)
    (archive,) = [
        r for r in state["root_module"]["resources"] if r["address"] == "data.archive_file.source"
    ]
    patterns = [_regex(p) for p in archive["values"]["excludes"]]
    return lambda path: any(p.match(path) for p in patterns)


def _tracked() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip("not a git work tree")
    return done.stdout.splitlines()


def test_tracked_files_outside_the_function_are_excluded(excluded: Callable[[str], bool]) -> None:
    wrong = [path for path in _tracked() if excluded(path) != _expected_excluded(path)]
    assert wrong == [], "shipped but should not be, or the reverse"


def test_every_top_level_entry_is_shipped_or_excluded(excluded: Callable[[str], bool]) -> None:
    stray = [
        name
        for name in sorted(os.listdir(REPO))
        if name not in SHIPPED and not (excluded(name) or excluded(f"{name}/x"))
    ]
    assert stray == []


def test_caches_inside_bridge_are_excluded(excluded: Callable[[str], bool]) -> None:
    assert excluded("bridge/__pycache__/config.cpython-311.pyc")
    assert excluded("bridge/stack/runner.py")
    assert not excluded("bridge/config.py")
    assert not excluded("main.py")
