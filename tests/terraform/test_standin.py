"""The stand-in is not permissive: Terraform rejects against it what the real schema rejects."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.terraform.conftest import REAL_PROVIDERS, Terraform

GOOD_QUEUE = """
resource "google_cloud_tasks_queue" "q" {
  name     = "queue-brain"
  location = "us-central1"

  retry_config {
    max_attempts = 5
  }
}
"""

BROKEN = {
    "misspelt_argument": (
        """
resource "google_cloud_tasks_queue" "q" {
  nmae     = "queue-brain"
  location = "us-central1"
}
""",
        'An argument named "nmae" is not expected here',
    ),
    "missing_required_block": (
        """
resource "google_monitoring_alert_policy" "a" {
  display_name = "no conditions"
  combiner     = "OR"
}
""",
        'At least 1 "conditions" blocks are required',
    ),
    "argument_in_wrong_block": (
        """
resource "google_cloud_tasks_queue" "q" {
  name     = "queue-brain"
  location = "us-central1"

  retry_config {
    max_dispatches_per_second = 5
  }
}
""",
        'An argument named "max_dispatches_per_second" is not expected here',
    ),
    "missing_required_argument": (
        """
resource "google_pubsub_subscription" "s" {
  name = "no-topic"
}
""",
        'The argument "topic" is required',
    ),
    "wrong_type": (
        """
resource "google_pubsub_subscription" "s" {
  name                 = "s"
  topic                = "t"
  ack_deadline_seconds = "sixty"
}
""",
        "a number is required",
    ),
    "unknown_resource_type": (
        """
resource "google_cloud_task_queue" "q" {
  name = "typo in the type"
}
""",
        "does not support resource type",
    ),
}


def _write(directory: Path, body: str) -> Path:
    directory.mkdir(parents=True)
    (directory / "main.tf").write_text(body)
    return directory


def test_valid_configuration_passes(terraform: Terraform, tmp_path: Path) -> None:
    result = terraform.validate(_write(tmp_path / "good", GOOD_QUEUE))
    assert result.returncode == 0, result.output


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_invalid_configuration_fails(terraform: Terraform, tmp_path: Path, case: str) -> None:
    body, expected = BROKEN[case]
    result = terraform.validate(_write(tmp_path / case, body))
    assert result.returncode != 0, result.output
    assert expected in " ".join(result.output.split()), result.output


@pytest.mark.skipif(REAL_PROVIDERS, reason="a property of the stand-in only")
def test_plan_without_mock_is_refused(terraform: Terraform, tmp_path: Path) -> None:
    """The stand-in never pretends to create anything: plan needs mock_provider or the real one."""
    directory = _write(tmp_path / "plan", GOOD_QUEUE)
    terraform.init(directory)
    result = terraform.run(["plan", "-no-color", "-input=false"], directory)
    assert result.returncode != 0
    assert "serves the provider schema only" in " ".join(result.output.split())
