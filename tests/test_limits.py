"""Each limit is defined once, in ``bridge/limits.py``: no copy of its number anywhere else.

The check reads the Python of the bridge (with its command and the local stack) and ``main.py``,
and fails on any numeric constant, or constant arithmetic (``30 * 24 * 3600``), whose value is
one of the limits. Numbers under 256 (HTTP statuses, percentages, 100 attributes) are too common
to tell apart from a limit and are left out; a number that equals a limit by chance is listed in
``NOT_A_LIMIT`` with what it means.

The Apps Script publisher (``publishers/apps-script/*.gs``) cannot import Python: it keeps its
copies as ``ENQUEUE_*`` constants, each checked here against the limit it copies
(``APPS_SCRIPT_COPIES``) or, where it differs on purpose, explained beside it in Code.gs
(``APPS_SCRIPT_DIFFERENT``); any other number equal to a limit in the scripts is a copy too.
"""

from __future__ import annotations

import ast
import re
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
    ("bridge/stack/bridge_page.py", 400),  # HTTP 400 Bad Request
    ("bridge/heap.py", 10_000),  # allocations between young collections, not a queue count
    ("bridge/push.py", 400),  # HTTP 400 Bad Request
}
# (script, value, the text of its line that shows what it is): exact, so a real copy elsewhere on
# another line still fails.
JS_NOT_A_LIMIT = {
    ("Code.gs", 500, "var ENQUEUE_RETRIED_CODES"),  # HTTP 500
    ("Code.gs", 300, "code >= 200 && code < 300"),  # HTTP 2xx
    ("Code.gs", 300, "String(text).slice(0, 300)"),  # characters of an error body shown
    ("Code.gs", 1000, "Math.round(1000 * Math.pow"),  # milliseconds per second, in the backoff
    ("Sheet.gs", 256, "((b + 256) % 256)"),  # a signed byte as unsigned, for hex
}
APPS_SCRIPT = REPO / "publishers" / "apps-script"
APPS_SCRIPT_COPIES = {
    "ENQUEUE_MAX_REQUEST_MESSAGES": limits.MAX_REQUEST_MESSAGES,
    "ENQUEUE_MAX_PAYLOAD_BYTES": limits.DEFAULT_MAX_BODY_BYTES,
    "ENQUEUE_MAX_DELAY_S": limits.MAX_DELAY_S,
    "ENQUEUE_MIN_DEADLINE_S": limits.MIN_DEADLINE_S,
    "ENQUEUE_MAX_DEADLINE_S": limits.MAX_DEADLINE_S,
    "ENQUEUE_MAX_KEY_CHARS": limits.MAX_KEY_CHARS,
}
# name -> (the limit it stays under, the word its explanation in Code.gs must name)
APPS_SCRIPT_DIFFERENT = {
    "ENQUEUE_MAX_REQUEST_BYTES": (limits.MAX_REQUEST_BYTES, "MAX_REQUEST_BYTES")
}
JS_CONSTANT = re.compile(r"^var (ENQUEUE_[A-Z_]+) = ([0-9][0-9 *]*);", re.MULTILINE)


def limit_values() -> dict[float, list[str]]:
    values: dict[float, list[str]] = {}
    for name, value in vars(limits).items():
        if name.isupper() and isinstance(value, int | float) and value >= SMALLEST:
            values.setdefault(value, []).append(name)
    return values


def sources() -> list[Path]:
    found = [*sorted((REPO / "bridge").rglob("*.py")), REPO / "main.py"]
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


def js_constants(source: str) -> dict[str, int]:
    """``var ENQUEUE_X = 30 * 24 * 3600;`` -> {"ENQUEUE_X": 2592000} (numbers and ``*`` only)."""
    found = {}
    for name, expression in JS_CONSTANT.findall(source):
        value = 1
        for factor in expression.split("*"):
            value *= int(factor)
        found[name] = value
    return found


def js_numbers(source: str) -> Iterator[tuple[int, int]]:
    """Decimal numbers outside comments and strings, by line: the scripts' constants included."""
    source = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group().count("\n"), source, flags=re.S)
    for line_number, line in enumerate(source.splitlines(), start=1):
        line = re.sub(r"//.*", "", line)
        line = re.sub(r"'(?:[^'\\]|\\.)*'", "''", line)
        line = re.sub(r"/(?:[^/\\\n]|\\.)+/[gimsuy]*", "//", line)  # regular expressions
        for match in re.finditer(r"(?<![\w.])[0-9]+(?![\w.])", line):
            yield line_number, int(match.group())


def test_the_apps_script_copies_are_the_limits() -> None:
    constants = js_constants((APPS_SCRIPT / "Code.gs").read_text(encoding="utf-8"))
    assert {k: constants.get(k) for k in APPS_SCRIPT_COPIES} == APPS_SCRIPT_COPIES


def test_where_apps_script_differs_it_says_why_and_stays_under() -> None:
    source = (APPS_SCRIPT / "Code.gs").read_text(encoding="utf-8")
    constants = js_constants(source)
    for name, (limit, word) in APPS_SCRIPT_DIFFERENT.items():
        assert constants[name] < limit, name
        above = source[: source.index(f"var {name} =")].splitlines()
        comment: list[str] = []
        while above and above[-1].startswith("//"):
            comment.insert(0, above.pop())
        reason = " ".join(comment)
        assert word in reason, f"{name}: the limit it differs from is not named beside it"
        assert "on purpose" in reason, f"{name}: no reason given beside it"


def test_no_other_limit_is_written_in_the_apps_scripts() -> None:
    values = limit_values()
    declared = {*APPS_SCRIPT_COPIES, *APPS_SCRIPT_DIFFERENT}
    found = []
    for path in sorted(APPS_SCRIPT.glob("*.gs")):
        source = path.read_text(encoding="utf-8")
        for line_number, value in js_numbers(source):
            line = source.splitlines()[line_number - 1]
            if any(line.startswith(f"var {name} =") for name in declared):
                continue  # a declared copy, checked above
            if value in values and not any(
                (path.name, value) == (script, number) and text in line
                for script, number, text in JS_NOT_A_LIMIT
            ):
                found.append(f"{path.name}:{line_number}: {value} is {' / '.join(values[value])}")
    assert found == []


def test_the_apps_script_scan_finds_a_copy() -> None:
    source = "var x = 1; // 1800 in a comment\nif (d > 1800 && s === '1800') { f(/1800/); }\n"
    assert list(js_numbers(source)) == [(1, 1), (2, 1800)]
    assert js_constants("var ENQUEUE_A = 30 * 24 * 3600;\n") == {"ENQUEUE_A": 2592000}
