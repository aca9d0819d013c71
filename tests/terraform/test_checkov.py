"""Checkov is clean on the module, and each custom policy flags the fixture written for it.

The fixtures are deliberately bad Terraform: they live in ``tests/terraform/fixtures/``, outside
the deployable module, so ``checkov -d terraform`` (with the project's policies, no skip flags)
scans exactly what deploys."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.terraform.conftest import (
    EXAMPLE_TFVARS,
    REPO,
    TERRAFORM_DIR,
    TF_VENV,
    require_tools,
    resources,
)

POLICIES = TERRAFORM_DIR / "policies"
FIXTURES = REPO / "tests" / "terraform" / "fixtures"
CUSTOM = {
    "public_v2_invoker": "CKV2_BRIDGE_1",
    "default_service_account": "CKV2_BRIDGE_2",
    "project_enqueuer": "CKV2_BRIDGE_3",
    "public_v2_invoker_binding": "CKV2_BRIDGE_4",
}


def _checkov(directory: Path, *extra: str) -> list[dict[str, Any]]:
    return _run_checkov("--directory", str(directory), *extra)


def _run_checkov(*args: str) -> list[dict[str, Any]]:
    require_tools()
    done = subprocess.run(
        [
            str(TF_VENV / "bin" / "checkov"),
            *args,
            "--external-checks-dir",
            str(POLICIES),
            "--output",
            "json",
            "--skip-download",
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
    """``checkov -d terraform`` as a newcomer runs it: every framework, no skip flags."""
    return _checkov(TERRAFORM_DIR)


def test_module_is_clean(module_report: list[dict[str, Any]]) -> None:
    failed = [(c["check_id"], c["resource"]) for c in _checks(module_report, "failed_checks")]
    assert failed == []
    passed = {c["check_id"] for c in _checks(module_report, "passed_checks")}
    # On HCL checkov resolves too little for most custom policies (the plan scan below runs all).
    assert passed & set(CUSTOM.values()), "the project's policies were not loaded"
    assert len(passed) > 5, "checkov evaluated nothing"


def test_no_deliberately_bad_terraform_is_inside_the_module() -> None:
    bad = [p for p in TERRAFORM_DIR.rglob("*.tf") if "Must be flagged" in p.read_text()]
    assert bad == []


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


# Checkov cannot resolve most values in the module's HCL (locals, resource attributes), so there
# its graph policies only see what they can. The applied deployment (mocked providers, the
# example's tfvars) has every value resolved: scanned as a plan, every custom policy is evaluated
# on every resource it targets.
MEMBER_TYPES = {
    "google_cloud_run_v2_service_iam_member",
    "google_pubsub_topic_iam_member",
    "google_pubsub_subscription_iam_member",
    "google_cloud_tasks_queue_iam_member",
    "google_service_account_iam_member",
}


def _as_plan(state: dict[str, Any]) -> dict[str, Any]:
    managed = resources(state)
    return {
        "format_version": "1.2",
        "terraform_version": "1.11.4",
        "planned_values": {"root_module": {"resources": managed}},
        "resource_changes": [
            {
                "address": r["address"],
                "mode": r["mode"],
                "type": r["type"],
                "name": r["name"],
                **({"index": r["index"]} if "index" in r else {}),
                "provider_name": r["provider_name"],
                "change": {"actions": ["create"], "before": None, "after": r["values"]},
            }
            for r in managed
        ],
    }


@pytest.fixture(scope="module")
def deployment(
    contract_state: Callable[[Path], dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    state = contract_state(EXAMPLE_TFVARS)
    plan = tmp_path_factory.mktemp("checkov-plan") / "plan.json"
    plan.write_text(json.dumps(_as_plan(state)))
    return state, _run_checkov("--file", str(plan), "--framework", "terraform_plan")


def test_deployment_passes_every_custom_policy(
    deployment: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    state, report = deployment
    failed = [(c["check_id"], c["resource"]) for c in _checks(report, "failed_checks")]
    assert [f for f in failed if f[0].startswith("CKV2_BRIDGE")] == []
    passed = {(c["check_id"], c["resource"]) for c in _checks(report, "passed_checks")}
    members = {r["address"] for r in resources(state) if r["type"] in MEMBER_TYPES}
    assert members
    assert members <= {res for check, res in passed if check == "CKV2_BRIDGE_1"}
    functions = {
        r["address"] for r in resources(state) if r["type"] == "google_cloudfunctions2_function"
    }
    assert len(functions) == 2
    assert functions <= {res for check, res in passed if check == "CKV2_BRIDGE_2"}
    project_roles = {
        r["address"] for r in resources(state) if r["type"] == "google_project_iam_member"
    }
    assert project_roles <= {res for check, res in passed if check == "CKV2_BRIDGE_3"}


def test_deployment_fails_only_checks_skipped_in_place(
    deployment: tuple[dict[str, Any], list[dict[str, Any]]],
) -> None:
    """In plan mode checkov cannot see the source's skip comments: what fails there must be
    exactly what the module skips, with its reason, in the HCL."""
    _, report = deployment
    failed = {(c["check_id"], c["resource"]) for c in _checks(report, "failed_checks")}
    source = "\n".join(p.read_text() for p in TERRAFORM_DIR.glob("*.tf"))
    for check, resource in sorted(failed):
        resource_type, name = resource.split("[")[0].split(".")[:2]
        header = f'resource "{resource_type}" "{name}" {{'
        assert header in source, resource
        block = source.split(header, 1)[1].split("\n}", 1)[0]
        assert f"#checkov:skip={check}:" in block, (check, resource)
