"""What runs in the function is exactly the modules directly in ``bridge/`` (issue 12).

The deploy archive (terraform/function.tf, checked in tests/terraform/test_source_archive.py)
ships exactly ``DEPLOYED``: a new module must be added here on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import probe_in_fresh_interpreter

REPO = Path(__file__).resolve().parents[1]
DEPLOYED = [
    "bridge/__init__.py",
    "bridge/clock.py",
    "bridge/config.py",
    "bridge/envelope.py",
    "bridge/errors.py",
    "bridge/event.py",
    "bridge/gateway.py",
    "bridge/heap.py",
    "bridge/http_entry.py",
    "bridge/limits.py",
    "bridge/logs.py",
    "bridge/message.py",
    "bridge/naming.py",
    "bridge/plan.py",
    "bridge/pubsub_entry.py",
    "bridge/push.py",
    "bridge/rejections.py",
    "bridge/task.py",
    "bridge/trace.py",
    "bridge/wrapped.py",
    "main.py",
    "requirements.txt",
]
NOT_DEPLOYED = [
    "bridge/__main__.py"
]  # `python -m bridge`: the operator's command, not the function's


def bridge_modules_imported_by_main(function_target: str) -> list[str]:
    """The issue's check, as anyone can run it with the function's environment set."""
    probe = (
        "import main, sys, json; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('bridge'))))"
    )
    modules: list[str] = probe_in_fresh_interpreter(probe, FUNCTION_TARGET=function_target)
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


FIRST_PARTY = ("bridge", "main", "tasks_emulator", "tests", "benchmarks", "publishers")


def module_of(path: str) -> str:
    """``bridge/config.py`` -> ``bridge.config``; ``bridge/cli/__init__.py`` -> ``bridge.cli``."""
    parts = list(Path(path).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    """Whether ``name`` (dotted) is a module or package of this repository."""
    base = REPO.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_names(source: str, *, importer: str) -> list[str]:
    """Every first-party module ``source`` (the module ``importer``) imports, in any spelling:
    ``import a.b``, ``from a import b`` (b a module), relative imports, imports inside functions,
    and ``importlib.import_module`` / ``__import__`` of a literal name."""
    package = importer if importer == "bridge" else importer.rpartition(".")[0]
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names if is_module(f"{base}.{a.name}")]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "__import__")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names.append(node.args[0].value)
    return [n for n in names if n.split(".")[0] in FIRST_PARTY]


def import_offenders(source: str, *, importer: str) -> list[str]:
    """The first-party modules ``source`` imports that are not deployed (nor inside one)."""
    deployed = {module_of(p) for p in DEPLOYED if p.endswith(".py")}
    return sorted(
        name
        for name in imported_names(source, importer=importer)
        if not any(name == d or (d != "bridge" and name.startswith(d + ".")) for d in deployed)
    )


def test_no_deployed_module_imports_what_is_not_deployed() -> None:
    # A lazy import inside a function would escape the probe above until it runs in production.
    offenders = {
        path: import_offenders((REPO / path).read_text(encoding="utf-8"), importer=module_of(path))
        for path in DEPLOYED
        if path.endswith(".py")
    }
    assert {path: found for path, found in offenders.items() if found} == {}


@pytest.mark.parametrize(
    ("source", "importer", "offender"),
    [
        ("import bridge.cli", "bridge.config", "bridge.cli"),
        ("import bridge.stack.poll as poll", "bridge.config", "bridge.stack.poll"),
        ("from bridge import cli", "bridge.config", "bridge.cli"),
        ("from bridge import config, stack", "bridge.config", "bridge.stack"),
        ("from bridge.cli.publish import main", "bridge.config", "bridge.cli.publish"),
        ("from bridge.publishing import publish", "bridge.config", "bridge.publishing"),
        ("from .cli import main", "bridge.config", "bridge.cli"),
        ("from . import stack", "bridge.config", "bridge.stack"),
        ("from . import cli", "bridge", "bridge.cli"),
        ("def f() -> None:\n    from bridge.cli import main", "bridge.config", "bridge.cli"),
        ("import importlib\nimportlib.import_module('bridge.cli')", "main", "bridge.cli"),
        ("__import__('bridge.stack')", "main", "bridge.stack"),
        ("import tasks_emulator", "main", "tasks_emulator"),
        ("from bridge import __main__", "main", "bridge.__main__"),
    ],
)
def test_the_import_rule_catches_every_spelling(source: str, importer: str, offender: str) -> None:
    assert offender in import_offenders(source, importer=importer)


@pytest.mark.parametrize(
    ("source", "importer"),
    [
        ("from bridge.config import Settings", "main"),
        ("from bridge import config, errors", "main"),
        ("from . import config", "bridge.message"),
        ("from .errors import PermanentError", "bridge.message"),
        ("import bridge.gateway", "main"),
        ("import json\nfrom google.cloud import tasks_v2", "bridge.gateway"),
    ],
)
def test_the_import_rule_lets_deployed_imports_pass(source: str, importer: str) -> None:
    assert import_offenders(source, importer=importer) == []


def test_the_layout_page_names_every_deployed_module() -> None:
    """docs/layout.md's table is where a reader learns what runs in the function."""
    readme = (REPO / "docs" / "layout.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Repository layout") :]
    missing = [
        path
        for path in DEPLOYED
        if path.startswith("bridge/") and path != "bridge/__init__.py" and f"`{path}`" not in layout
    ]
    assert missing == []
