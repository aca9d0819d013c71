"""SECURITY.md's "Faults" table names tests that exist: each ``path::test_name`` is there."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _faults_section() -> str:
    text = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    return text.split("## Faults: what the bridge does", 1)[1].split("\n## ", 1)[0]


def test_every_test_the_faults_table_names_exists() -> None:
    references = REFERENCE.findall(_faults_section())
    assert len(references) >= 8
    for path, name in references:
        source = (ROOT / path).read_text(encoding="utf-8")
        assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path}::{name} is missing"
