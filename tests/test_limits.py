"""Each limit is defined once, in ``bridge/limits.py``: no copy of its number anywhere else.

The check reads the Python of the bridge (with its command and the local stack), ``main.py`` and
the publishers, and fails on any numeric constant, or constant arithmetic (``30 * 24 * 3600``),
whose value is one of the limits. Numbers under 256 (HTTP statuses, percentages, 100 attributes)
are too common to tell apart from a limit and are left out; a number that equals a limit by
chance is listed in ``NOT_A_LIMIT`` with what it means.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge import limits

REPO = Path(__file__).resolve().parents[1]
LIMITS_FILE = REPO / "bridge" / "limits.py"
SMALLEST = 256
# (file, value): a number that happens to equal a limit and means something else.
NOT_A_LIMIT = {
    ("bridge/http_entry.py", 1000),  # milliseconds per second, in latency_ms
    ("bridge/pubsub_entry.py", 1000),  # milliseconds per second, in latency_ms
    ("bridge/stack/demo.py", 1000),  # milliseconds per second, in the report's clock
    ("bridge/stack/runner.py", 1800),  # regresos' deadline in the old enqueuer's README
}


def limit_values() -> dict[float, list[str]]:
    values: dict[float, list[str]] = {}
    for name, value in vars(limits).items():
        if name.isupper() and isinstance(value, int | float) and value >= SMALLEST:
            values.setdefault(value, []).append(name)
    return values


def sources() -> list[Path]:
    found = [*sorted((REPO / "bridge").rglob("*.py")), REPO / "main.py"]
    found += sorted((REPO / "publishers").rglob("*.py"))
    return [path for path in found if path != LIMITS_FILE]


def constant_value(node: ast.expr) -> float | None:
    """The value of a number or of arithmetic on numbers only; None for anything else."""
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value
    if isinstance(node, ast.BinOp):
        left, right = constant_value(node.left), constant_value(node.right)
        if left is None or right is None:
            return None
        ops = {ast.Mult: left * right, ast.Add: left + right, ast.Sub: left - right}
        if isinstance(node.op, ast.Pow):
            return float(left**right) if right < 64 else None
        return ops.get(type(node.op))
    return None


def numbers_in(tree: ast.AST) -> Iterator[tuple[int, float]]:
    """Each outermost constant expression: ``30 * 24 * 3600`` once, not its parts."""
    seen: set[int] = set()
    for node in ast.walk(tree):
        if id(node) in seen or not isinstance(node, ast.expr):
            continue
        value = constant_value(node)
        if value is None:
            continue
        seen |= {id(child) for child in ast.walk(node)}
        yield node.lineno, value


def copies_of_limits() -> list[str]:
    values = limit_values()
    found = []
    for path in sources():
        relative = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
        for line, value in numbers_in(tree):
            if value in values and (relative, value) not in NOT_A_LIMIT:
                found.append(f"{relative}:{line}: {value!r} is {' / '.join(values[value])}")
    return found


def test_no_limit_is_written_twice() -> None:
    assert copies_of_limits() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("X = 10_000_000", [10_000_000]),
        ("X = 30 * 24 * 3600", [30 * 24 * 3600]),
        ("f(a, 1800)", [1800]),
        ("X = 10**7", [10.0**7]),
        ('X = "1800"', []),
    ],
)
def test_the_scan_finds_numbers_and_constant_arithmetic(source: str, expected: list[float]) -> None:
    assert [value for _, value in numbers_in(ast.parse(source))] == expected
