"""The module plans the same resources as the snapshot in ``data/planned-example.json``.

The snapshot is every managed resource of the example deployment applied against the mocks
(``apply_contract``), recorded before the dashboard and the functions' settings were generated
from one definition each: a refactor of the HCL must leave it unchanged. Values the mock provider
makes up (random per run) were found by applying twice and are recorded as ``<mocked>``: any value
matches there. The dashboard's JSON is compared parsed, so a difference names its path.

A deliberate change of the deployment regenerates it (and the diff is reviewed like code):
``BRIDGE_UPDATE_PLAN_SNAPSHOT=1 .venv/bin/python -m pytest tests/terraform/test_plan_snapshot.py``
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.conftest import (
    EXAMPLE_TFVARS,
    TERRAFORM_DIR,
    Terraform,
    apply_contract,
    resources,
)

SNAPSHOT = Path(__file__).parent / "data" / "planned-example.json"
MOCKED = "<mocked>"
JSON_VALUES = {"dashboard_json"}  # strings holding JSON: compared as the structure they encode


MOVED = re.compile(r"moved\s*\{\s*from\s*=\s*(\S+)\s*to\s*=\s*(\S+)\s*\}")


def moves() -> dict[str, str]:
    """The module's ``moved`` blocks: an address of the snapshot -> where its state lives now."""
    source = "\n".join(p.read_text(encoding="utf-8") for p in sorted(TERRAFORM_DIR.glob("*.tf")))
    return dict(MOVED.findall(source))


def planned(state: dict[str, Any]) -> dict[str, Any]:
    """Managed resources by address: their type and values (JSON strings parsed)."""
    return {
        r["address"]: {
            "type": r["type"],
            "values": {
                k: json.loads(v) if k in JSON_VALUES and isinstance(v, str) else v
                for k, v in r["values"].items()
            },
        }
        for r in resources(state)
    }


def masked(first: Any, second: Any) -> Any:
    """``first``, with every leaf that differs in ``second`` (a made-up mock value) as MOCKED."""
    if isinstance(first, dict) and isinstance(second, dict) and first.keys() == second.keys():
        return {k: masked(first[k], second[k]) for k in first}
    if isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        return [masked(a, b) for a, b in zip(first, second, strict=True)]
    return first if first == second else MOCKED


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` is not ``expected`` (MOCKED matches anything), as readable paths."""
    if expected == MOCKED:
        return []
    if isinstance(expected, dict) and isinstance(actual, dict):
        found = [f"{path}/{k}: missing" for k in expected.keys() - actual.keys()]
        found += [f"{path}/{k}: not in the snapshot" for k in actual.keys() - expected.keys()]
        for key in sorted(expected.keys() & actual.keys()):
            found += differences(expected[key], actual[key], f"{path}/{key}")
        return found
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        return [
            d
            for i, (e, a) in enumerate(zip(expected, actual, strict=True))
            for d in differences(e, a, f"{path}[{i}]")
        ]
    return [] if expected == actual else [f"{path}: {expected!r} != {actual!r}"]


def test_every_move_names_a_resource_of_the_snapshot() -> None:
    recorded = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    assert moves(), "the functions' moved blocks are gone: the snapshot's addresses changed?"
    assert [old for old in moves() if old not in recorded] == []


def test_masked_marks_only_what_differs() -> None:
    first = {"name": "q", "id": "abc12345", "tiles": [{"x": 0, "uid": "k1"}]}
    second = {"name": "q", "id": "zzz99999", "tiles": [{"x": 0, "uid": "k2"}]}
    assert masked(first, second) == {"name": "q", "id": MOCKED, "tiles": [{"x": 0, "uid": MOCKED}]}


def test_differences_name_each_path_and_skip_mocked_values() -> None:
    expected = {"a": MOCKED, "b": [1, {"c": "x"}], "gone": 1}
    actual = {"a": "anything", "b": [1, {"c": "y"}], "new": 2}
    assert differences(expected, actual) == [
        "/gone: missing",
        "/new: not in the snapshot",
        "/b[1]/c: 'x' != 'y'",
    ]


def test_the_example_deployment_plans_as_the_snapshot(
    contract_state: Callable[[Path], dict[str, Any]],
    terraform: Terraform,
    initialised_module: Path,
) -> None:
    now = planned(contract_state(EXAMPLE_TFVARS))
    if os.environ.get("BRIDGE_UPDATE_PLAN_SNAPSHOT") == "1":
        again = planned(apply_contract(terraform, initialised_module, EXAMPLE_TFVARS))
        SNAPSHOT.write_text(json.dumps(masked(now, again), indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {SNAPSHOT.name}: review its diff")
    # The same resources: a moved one is compared where Terraform moves its state.
    snapshot = {
        moves().get(address, address): resource
        for address, resource in json.loads(SNAPSHOT.read_text(encoding="utf-8")).items()
    }
    assert sorted(now) == sorted(snapshot), "the planned resources are not the snapshot's"
    assert differences(snapshot, now) == []
