"""The function's source archive is an allow-list: exactly ``tests/test_layout.DEPLOYED``.

The archive's ``source`` blocks are read from the applied (mocked) state of
``data.archive_file.source``: their file names must be exactly the list, and their contents the
files of the repository. A new module in ``bridge/`` ships only once it is added to the list.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.conftest import EXAMPLE_TFVARS, REPO
from tests.test_layout import DEPLOYED


@pytest.fixture(scope="module")
def sources(contract_state: Callable[[Path], dict[str, Any]]) -> list[dict[str, Any]]:
    state = contract_state(EXAMPLE_TFVARS)
    (archive,) = [
        r for r in state["root_module"]["resources"] if r["address"] == "data.archive_file.source"
    ]
    assert not archive["values"].get("source_dir"), "a directory would ship whatever is in it"
    assert not archive["values"].get("source_file")
    found: list[dict[str, Any]] = archive["values"]["source"]
    return found


def test_the_archive_holds_exactly_the_deployed_files(sources: list[dict[str, Any]]) -> None:
    assert sorted(s["filename"] for s in sources) == DEPLOYED


def test_each_file_is_shipped_as_it_is_in_the_repository(sources: list[dict[str, Any]]) -> None:
    different = [
        s["filename"]
        for s in sources
        if s["content"] != (REPO / s["filename"]).read_text(encoding="utf-8")
    ]
    assert different == []
