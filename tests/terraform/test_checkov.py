"""Checkov is clean on the module, and each custom policy flags the fixture written for it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.conftest import TERRAFORM_DIR, TF_VENV, require_tools

POLICIES = TERRAFORM_DIR / "policies"
FIXTURES = POLICIES / "fixtures"
CUSTOM = {
    "public_v2_invoker": "CKV2_BRIDGE_1",
    "default_service_account": "CKV2_BRIDGE_2",
    "project_enqueuer": "CKV2_BRIDGE_3",
    "public_v2_invoker_binding": "CKV2_BRIDGE_4",
}


def _checkov(directory: Path, *extra: str) -> list[dict[str, Any]]:
    require_tools()
    done = subprocess.run(
        [
            str(TF_VENV / "bin" / "checkov"),
            "--directory",
            str(directory),
            "--framework",
            "terraform",
            "--external-checks-dir",
            str(POLICIES),
            "--output",
            "json",
            "--skip-download",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.stdout.strip(), done.stderr
    report = json.loads(done.stdout)
    reports: list[dict[str, Any]] = report if isinstance(report, list) else [report]
    return reports


def _checks(reports: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [c for r in reports for c in r.get("results", {}).get(kind, [])]


@pytest.fixture(scope="module")
def module_report() -> list[dict[str, Any]]:
    return _checkov(TERRAFORM_DIR, "--skip-path", "policies/fixtures")


def test_module_is_clean(module_report: list[dict[str, Any]]) -> None:
    failed = [(c["check_id"], c["resource"]) for c in _checks(module_report, "failed_checks")]
    assert failed == []
    assert _checks(module_report, "passed_checks"), "checkov evaluated nothing"


def test_every_skip_is_justified_in_place(module_report: list[dict[str, Any]]) -> None:
    skipped = _checks(module_report, "skipped_checks")
    assert skipped, "expected the documented skips"
    for check in skipped:
        reason = check.get("check_result", {}).get("suppress_comment", "")
        assert len(reason) > 40, (check["check_id"], check["resource"], reason)


@pytest.mark.parametrize("fixture", sorted(CUSTOM))
def test_custom_policy_flags_its_fixture(fixture: str) -> None:
    policy = CUSTOM[fixture]
    reports = _checkov(FIXTURES / fixture, "--check", policy)
    failed = {c["check_id"] for c in _checks(reports, "failed_checks")}
    assert failed == {policy}
