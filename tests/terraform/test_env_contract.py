"""One source of truth: the environment Terraform gives the function is what the bridge reads.

Terraform's side is not a list written here: it is the function's ``environment_variables`` in the
state of a real ``terraform test`` apply (mocked providers), for a real tfvars file. The bridge's
side is ``bridge.config.variables_read`` for the ``BRIDGE_SERVICES`` Terraform generated.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bridge.config import (
    GLOBAL_VARIABLES,
    load_settings,
    parse_services,
    require_rejection_sink,
    service_variables,
    variables_read,
)
from tests.terraform.conftest import EXAMPLE_TFVARS, REPO, resources

TFVARS = {
    "four-services example": EXAMPLE_TFVARS,
    "fifth service, derived suffix": REPO / "tests/terraform/data/more-services.tfvars",
}
# Always set by Terraform: the bridge refuses to start without them (REJECTED_TOPIC: the Pub/Sub
# entry point), or the deployment would silently differ from what Terraform manages.
ALWAYS_SET = {"PROJECT_ID", "TASKS_REGION", "CALLER_SA", "BRIDGE_SERVICES", "REJECTED_TOPIC"}
NEVER_SET = {"DROP_REJECTED"}  # an operator's opt-out, never a deployment default


@pytest.fixture(scope="module", params=sorted(TFVARS))
def applied(
    request: pytest.FixtureRequest, contract_state: Callable[[Path], dict[str, Any]]
) -> tuple[dict[str, str], dict[str, Any]]:
    state = contract_state(TFVARS[request.param])
    (function,) = resources(state, 'google_cloudfunctions2_function.bridge["enqueue"]')
    env: dict[str, str] = function["values"]["service_config"][0]["environment_variables"]
    return env, state


def test_terraform_sets_only_what_the_bridge_reads(
    applied: tuple[dict[str, str], dict[str, Any]],
) -> None:
    env, _ = applied
    read = variables_read(env["BRIDGE_SERVICES"])
    assert set(env) <= read, f"set by Terraform, never read by the bridge: {set(env) - read}"


def test_terraform_sets_what_the_bridge_requires(
    applied: tuple[dict[str, str], dict[str, Any]],
) -> None:
    env, _ = applied
    assert set(env) >= ALWAYS_SET
    assert not set(env) & NEVER_SET
    for _, suffix in parse_services(env["BRIDGE_SERVICES"]):
        queue, url, _aud, _deadline = service_variables(suffix)
        assert {queue, url} <= set(env), suffix
    optional = set(GLOBAL_VARIABLES) - ALWAYS_SET - NEVER_SET
    assert optional >= {"MAX_BODY_BYTES", "TASKS_TIMEOUT_S", "PUBLISH_TIMEOUT_S"}


def test_bridge_services_is_the_services_map(
    applied: tuple[dict[str, str], dict[str, Any]],
) -> None:
    env, state = applied
    queues = resources(state, "google_cloud_tasks_queue.service")
    from_terraform = {q["index"] for q in queues}
    assert {name for name, _ in parse_services(env["BRIDGE_SERVICES"])} == from_terraform
    assert {env[f"QUEUE_{suffix}"] for _, suffix in parse_services(env["BRIDGE_SERVICES"])} == {
        q["values"]["name"] for q in queues
    }


def test_the_bridge_accepts_the_generated_environment(
    applied: tuple[dict[str, str], dict[str, Any]],
) -> None:
    env, _ = applied
    settings = load_settings(env)
    require_rejection_sink(settings)
    assert settings.service_names == sorted(
        name for name, _ in parse_services(env["BRIDGE_SERVICES"])
    )
    assert settings.rejected_topic is not None
