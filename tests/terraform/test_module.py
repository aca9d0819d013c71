"""The module as Terraform sees it: formatted, valid, and its own tests passing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.terraform.conftest import TERRAFORM_DIR, Terraform, json_lines, require_tools


def test_fmt_check_recursive() -> None:
    require_tools()
    terraform = shutil.which("terraform")
    assert terraform is not None
    done = subprocess.run(
        [
            *(terraform, "fmt", "-check", "-recursive", "-diff", "-no-color"),
            *(str(TERRAFORM_DIR), str(Path(__file__).parent / "fixtures")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_module_validates(terraform: Terraform, initialised_module: Path) -> None:
    result = terraform.run(["validate", "-no-color"], initialised_module)
    assert result.returncode == 0, result.output
    assert "The configuration is valid" in result.stdout


def test_example_validates(terraform: Terraform, module_copy: Path) -> None:
    result = terraform.validate(module_copy / "examples" / "four-services")
    assert result.returncode == 0, result.output


def test_terraform_test_passes(terraform: Terraform, initialised_module: Path) -> None:
    result = terraform.run(["test", "-no-color", "-json"], initialised_module)
    messages = json_lines(result.stdout)
    summary = next(m["test_summary"] for m in messages if m.get("type") == "test_summary")
    runs = [m["test_run"] for m in messages if m.get("type") == "test_run"]
    failed = [r for r in runs if r.get("progress") == "complete" and r.get("status") != "pass"]
    assert result.returncode == 0, result.output
    assert not failed, result.output
    assert summary["status"] == "pass", summary
    files = {r["path"] for r in runs}
    assert {"tests/deployment.tftest.hcl", "tests/variants.tftest.hcl"} <= files
