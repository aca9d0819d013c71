"""The queues' rate and retry settings, read from where Terraform gets them.

One source of truth: the defaults of the ``services`` variable in ``terraform/variables.tf``
(``max_dispatches_per_second = optional(number, 10)``, ``retry = optional(object({min_backoff =
optional(string, "10s"), ...}))``). The stack parses those lines and gives every local queue the
same settings (UpdateQueue), so what the demo and the tests show is what a deployment does. Tests
and the soak may scale the timings down (``replace``), and say so.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.cloud import tasks_v2
from google.protobuf import duration_pb2, field_mask_pb2

VARIABLES_TF = Path(__file__).resolve().parents[2] / "terraform" / "variables.tf"

# The fields UpdateQueue sets (the rest of the queue stays as it is).
UPDATE_MASK = (
    "rate_limits.max_dispatches_per_second",
    "rate_limits.max_concurrent_dispatches",
    "retry_config.max_attempts",
    "retry_config.min_backoff",
    "retry_config.max_backoff",
    "retry_config.max_doublings",
    "retry_config.max_retry_duration",
)


class PolicyNotFound(ValueError):
    """Raised if ``terraform/variables.tf`` no longer declares a default the stack reads."""


@dataclass(frozen=True, slots=True)
class QueuePolicy:
    """A queue's ``rate_limits`` and ``retry_config``, in plain units."""

    max_dispatches_per_second: float
    max_concurrent_dispatches: int
    max_attempts: int  # -1: unlimited
    min_backoff_s: float
    max_backoff_s: float
    max_doublings: int
    max_retry_duration_s: float  # 0: no time limit

    def replace(self, **changes: Any) -> QueuePolicy:
        return dataclasses.replace(self, **changes)

    def backoff_s(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1 = the first retry), as Cloud Tasks computes
        it: doubling ``max_doublings`` times, then linear, capped at ``max_backoff``."""
        doublings = min(retry - 1, self.max_doublings)
        interval = self.min_backoff_s * 2**doublings
        linear = retry - 1 - doublings
        interval += linear * self.min_backoff_s * 2**self.max_doublings
        return float(min(interval, self.max_backoff_s))

    def as_queue(self, queue_path: str) -> Any:
        """The ``tasks_v2.Queue`` UpdateQueue sends (with ``update_mask()``)."""

        def duration(seconds: float) -> Any:
            whole = int(seconds)
            return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))

        queue = tasks_v2.Queue(
            name=queue_path,
            rate_limits=tasks_v2.RateLimits(
                max_dispatches_per_second=self.max_dispatches_per_second,
                max_concurrent_dispatches=self.max_concurrent_dispatches,
            ),
            retry_config=tasks_v2.RetryConfig(
                max_attempts=self.max_attempts,
                min_backoff=duration(self.min_backoff_s),
                max_backoff=duration(self.max_backoff_s),
                max_doublings=self.max_doublings,
                max_retry_duration=duration(self.max_retry_duration_s),
            ),
        )
        return queue


def update_mask() -> Any:
    return field_mask_pb2.FieldMask(paths=list(UPDATE_MASK))


def _default(block: str, name: str, kind: str) -> str:
    quoted = r'"([^"]*)"' if kind == "string" else r"(-?[0-9.]+)"
    found = re.search(rf"\b{name}\s*=\s*optional\(\s*{kind}\s*,\s*{quoted}\s*\)", block)
    if found is None:
        raise PolicyNotFound(
            f"terraform/variables.tf: no `{name} = optional({kind}, DEFAULT)` in variable "
            '"services": the local stack reads the queues\' settings from there'
        )
    return found.group(1)


def _seconds(text: str, name: str) -> float:
    found = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)s", text)
    if found is None:
        raise PolicyNotFound(f'terraform/variables.tf: {name} = "{text}" is not a duration "Ns"')
    return float(found.group(1))


def terraform_defaults(variables_tf: Path = VARIABLES_TF) -> QueuePolicy:
    """The settings Terraform gives a queue whose service sets none (every local service)."""
    text = variables_tf.read_text(encoding="utf-8")
    start = text.find('variable "services"')
    if start < 0:
        raise PolicyNotFound(f'{variables_tf}: no variable "services"')
    end = text.find("\nvariable ", start + 1)
    block = text[start : end if end > 0 else len(text)]
    return QueuePolicy(
        max_dispatches_per_second=float(_default(block, "max_dispatches_per_second", "number")),
        max_concurrent_dispatches=int(_default(block, "max_concurrent_dispatches", "number")),
        max_attempts=int(_default(block, "max_attempts", "number")),
        min_backoff_s=_seconds(_default(block, "min_backoff", "string"), "min_backoff"),
        max_backoff_s=_seconds(_default(block, "max_backoff", "string"), "max_backoff"),
        max_doublings=int(_default(block, "max_doublings", "number")),
        max_retry_duration_s=_seconds(
            _default(block, "max_retry_duration", "string"), "max_retry_duration"
        ),
    )
