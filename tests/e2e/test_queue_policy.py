"""The queues' settings come from terraform/variables.tf; the backoff formula is production's."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.stack.queue_policy import (
    UPDATE_MASK,
    VARIABLES_TF,
    PolicyNotFound,
    QueuePolicy,
    terraform_defaults,
    update_mask,
)


def test_reads_every_default_terraform_declares() -> None:
    policy = terraform_defaults()
    text = VARIABLES_TF.read_text(encoding="utf-8")
    # each value read is the one on its line in the services variable
    assert (
        f"max_dispatches_per_second = optional(number, {policy.max_dispatches_per_second:g})"
        in text
    )
    assert (
        f"max_concurrent_dispatches = optional(number, {policy.max_concurrent_dispatches})" in text
    )
    assert f"max_attempts       = optional(number, {policy.max_attempts})" in text
    assert f'min_backoff        = optional(string, "{policy.min_backoff_s:g}s")' in text
    assert f'max_backoff        = optional(string, "{policy.max_backoff_s:g}s")' in text
    assert f"max_doublings      = optional(number, {policy.max_doublings})" in text
    assert f'max_retry_duration = optional(string, "{policy.max_retry_duration_s:g}s")' in text


def test_a_missing_default_is_named(tmp_path: Path) -> None:
    text = VARIABLES_TF.read_text(encoding="utf-8")
    broken = tmp_path / "variables.tf"
    broken.write_text(text.replace("max_doublings", "doublings_max"), encoding="utf-8")
    with pytest.raises(PolicyNotFound, match="max_doublings"):
        terraform_defaults(broken)


def test_backoff_doubles_then_grows_linearly_to_the_cap() -> None:
    """The worked example of queue.proto: min 10 s, max 300 s, 3 doublings."""
    policy = QueuePolicy(
        max_dispatches_per_second=500,
        max_concurrent_dispatches=1000,
        max_attempts=-1,
        min_backoff_s=10,
        max_backoff_s=300,
        max_doublings=3,
        max_retry_duration_s=0,
    )
    assert [policy.backoff_s(n) for n in range(1, 10)] == [10, 20, 40, 80, 160, 240, 300, 300, 300]


def test_the_queue_message_carries_every_masked_field() -> None:
    policy = terraform_defaults().replace(min_backoff_s=0.25)
    queue = policy.as_queue("projects/p/locations/l/queues/q")
    assert queue.retry_config.min_backoff.total_seconds() == 0.25
    assert queue.retry_config.max_attempts == policy.max_attempts
    assert queue.rate_limits.max_concurrent_dispatches == policy.max_concurrent_dispatches
    assert list(update_mask().paths) == list(UPDATE_MASK)
