"""The stand-in's own Python (run in .venv-tf) is held to the repo's mypy --strict bar."""

from __future__ import annotations

import subprocess

from tests.terraform.conftest import REPO, TERRAFORM_DIR, TF_VENV, require_tools


def test_standin_code_is_strictly_typed() -> None:
    require_tools()
    done = subprocess.run(
        [
            str(TF_VENV / "bin" / "python"),
            "-m",
            "mypy",
            "--strict",
            "--ignore-missing-imports",
            "--no-incremental",
            "--cache-dir=/dev/null",
            str(TERRAFORM_DIR / "testing"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
