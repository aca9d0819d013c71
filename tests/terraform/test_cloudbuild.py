"""cloudbuild.yaml's structure (the build itself is not run here: see terraform/README.md)."""

from __future__ import annotations

import json
import re
import subprocess
from typing import Any

import pytest

from tests.terraform.conftest import REPO, TF_VENV, require_tools

STEPS = ["terraform-binary", "test", "tfvars", "init", "plan", "apply", "smoke"]


@pytest.fixture(scope="module")
def build() -> dict[str, Any]:
    require_tools()  # PyYAML comes with .venv-tf (checkov), not with .venv
    done = subprocess.run(
        [
            str(TF_VENV / "bin" / "python"),
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
            str(REPO / "cloudbuild.yaml"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


def _step(build: dict[str, Any], step_id: str) -> dict[str, Any]:
    step: dict[str, Any] = next(s for s in build["steps"] if s["id"] == step_id)
    return step


def _readme_test_command() -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    match = re.search(r"^(make test)\b", readme, re.MULTILINE)
    assert match, "README.md no longer shows the test command"
    return match.group(1)


def test_steps_in_order(build: dict[str, Any]) -> None:
    assert [s["id"] for s in build["steps"]] == STEPS


def test_test_step_runs_the_readme_command(build: dict[str, Any]) -> None:
    step = _step(build, "test")
    assert step["args"][-1] == _readme_test_command()
    assert "CI=true" in step["env"]
    (ci_run,) = [
        line for line in (REPO / ".ci/run").read_text().splitlines() if line.startswith("make")
    ]
    assert ci_run == step["args"][-1], "CI and Cloud Build must run the same command"


def test_images_are_pinned(build: dict[str, Any]) -> None:
    images = {k: v for k, v in build["substitutions"].items() if k.endswith("_IMAGE")}
    assert images
    for name, image in images.items():
        tag = image.rsplit(":", 1)[-1]
        assert ":" in image, (name, image)
        assert re.match(r"^\d+\.\d+\.\d+", tag), (name, image)
    terraform_image = build["substitutions"]["_TERRAFORM_IMAGE"]
    assert terraform_image.endswith(":1.11.4"), "same Terraform as the offline checks"


def test_state_bucket_is_a_substitution(build: dict[str, Any]) -> None:
    init = _step(build, "init")
    assert "-backend-config=bucket=${_TF_STATE_BUCKET}" in init["args"]
    assert "_TF_STATE_BUCKET" in build["substitutions"]
    assert _step(build, "plan")["args"][:1] == ["plan"]
    assert _step(build, "apply")["args"] == ["apply", "-input=false", "tfplan"]
    for step_id in ("init", "plan", "apply"):
        assert _step(build, step_id)["dir"] == "${_TF_DIR}"


def test_smoke_publishes_and_waits_for_created(build: dict[str, Any]) -> None:
    script = _step(build, "smoke")["args"][-1]
    assert "gcloud pubsub topics publish" in script
    assert '\\"created\\"' in script
    assert "gcloud logging read" in script


def test_every_substitution_used_is_declared(build: dict[str, Any]) -> None:
    text = (REPO / "cloudbuild.yaml").read_text()
    used = set(re.findall(r"\$\{(_[A-Z_]+)\}", text))
    assert used <= set(build["substitutions"]), used - set(build["substitutions"])
    shell_vars = re.findall(r"(?<!\$)\$([a-z][a-z_]*)", text)
    assert shell_vars == [], f"shell variables must be written $$name in Cloud Build: {shell_vars}"


def test_uses_cloud_logging_only(build: dict[str, Any]) -> None:
    # Required when the build runs as a user-specified service account.
    assert build["options"]["logging"] == "CLOUD_LOGGING_ONLY"
