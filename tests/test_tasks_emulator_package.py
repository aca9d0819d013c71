"""tasks_emulator as a distribution of its own (tasks_emulator/pyproject.toml).

``make test-emulator-alone`` installs it in a fresh virtualenv and runs its suite there; these
checks keep that true between runs: it imports nothing of this repository, every third-party
module it imports comes from a distribution it pins, and its console script exists.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tasks_emulator"
SUITE = REPO / "tests" / "tasks_emulator"
# The type checker's stubs of the raw protobuf messages and their generator: development files,
# read by mypy in the repository, neither imported at run time nor shipped.
STUBS = PACKAGE / "_stubs"
# Which pinned distribution provides each top-level module it imports.
PROVIDED_BY = {
    "google": "google-cloud-tasks",  # google.cloud.tasks_v2, google.protobuf, google.auth, ...
    "grpc": "grpcio",
    "cryptography": "cryptography",
    "werkzeug": "Werkzeug",
    "urllib3": "urllib3",
    "pytest": "pytest",
    "hypothesis": "hypothesis",
    "requests": "requests",
}


def pinned(requirements: Path) -> set[str]:
    names = set()
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert re.fullmatch(r"[0-9][0-9.]*", version), f"not pinned exactly: {line}"
            names.add(name)
    return names


def top_level_imports(directory: Path) -> set[str]:
    found: set[str] = set()
    for path in directory.rglob("*.py"):
        if path.is_relative_to(STUBS):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return found


def third_party(modules: set[str]) -> set[str]:
    return {m for m in modules if m not in sys.stdlib_module_names and m != "__future__"}


def test_the_emulator_imports_only_what_it_pins() -> None:
    imported = third_party(top_level_imports(PACKAGE)) - {"tasks_emulator"}
    assert imported <= set(PROVIDED_BY), "a module no pin provides"
    assert {PROVIDED_BY[m] for m in imported} <= pinned(PACKAGE / "requirements.txt")


def test_its_suite_needs_only_the_emulator_and_its_test_pins() -> None:
    imported = third_party(top_level_imports(SUITE)) - {"tasks_emulator", "tests"}
    assert imported <= set(PROVIDED_BY)
    pins = pinned(PACKAGE / "requirements.txt") | pinned(PACKAGE / "requirements-test.txt")
    assert {PROVIDED_BY[m] for m in imported} <= pins
    # Its own helpers only: the rest of tests/ needs bridge, which is not installed there.
    local = [
        node.module or ""
        for path in SUITE.glob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests")
    ]
    assert all(m.startswith("tests.tasks_emulator") for m in local), local


def test_the_console_script_and_the_pins_are_declared() -> None:
    project = tomllib.loads((PACKAGE / "pyproject.toml").read_text(encoding="utf-8"))
    module, _, function = project["project"]["scripts"]["tasks-emulator"].partition(":")
    assert module == "tasks_emulator.server"
    assert function == "main"
    setuptools = project["tool"]["setuptools"]
    # every subpackage ships, and every file that is not Python in one (the console's page)
    subpackages = sorted(
        "tasks_emulator" + "".join(f".{part}" for part in init.parent.relative_to(PACKAGE).parts)
        for init in PACKAGE.rglob("__init__.py")
    )
    assert sorted(setuptools["packages"]) == subpackages
    data = {
        f"{package}/{pattern}"
        for package, patterns in setuptools.get("package-data", {}).items()
        for pattern in patterns
    }
    for path in PACKAGE.rglob("*"):
        relative = path.relative_to(PACKAGE)
        if path.is_dir() or path.suffix in {".py", ".pyc"} or len(relative.parts) < 2:
            continue
        if path.is_relative_to(STUBS):
            continue
        package = "tasks_emulator." + ".".join(relative.parts[:-2])
        shipped = {f"{package}/{relative.parts[-2]}/*", f"{package}/{relative.parts[-1]}"}
        assert shipped & data, f"{relative} is not in package-data"
    dynamic = setuptools["dynamic"]
    assert dynamic["dependencies"] == {"file": ["requirements.txt"]}
    # The repository's .venv runs the emulator with exactly these pins.
    dev = (REPO / "requirements-dev.txt").read_text(encoding="utf-8")
    assert "-r tasks_emulator/requirements.txt" in dev
    assert "-r tasks_emulator/requirements-test.txt" in dev
