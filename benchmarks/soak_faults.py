"""The soak's faults beyond restarts, and how it explains what they caused.

- The Cloud Tasks emulator's own faults (``tasks_emulator --fault ...``, on every restart, and
  bursts set over ``/_emulator/faults``): CreateTask replies lost after the commit
  (DEADLINE_EXCEEDED, UNAVAILABLE), UNAVAILABLE and RESOURCE_EXHAUSTED bursts, CreateTask latency
  past the bridge's timeout, attempts dropped after the worker answered (at-least-once dispatch)
  and requests sent late. Every fault is read back from the emulator's log, across restarts.
- Publishes whose reply is lost (``LostReplyClient``): Pub/Sub takes the request, the publisher
  sees DEADLINE_EXCEEDED and retries: two messages, one key (the publisher's, generated once).
- The same message pushed twice at the same moment (``push_twice_at_once``), as Pub/Sub may.
- ``retry_cause``: which fault a retry logged by the bridge came from.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.api_core import exceptions as api_exceptions

from bridge.stack.pubsub_rest import PulledMessage

TASKS_TIMEOUT_S = 5  # the bridge's CreateTask timeout in the soak (TASKS_TIMEOUT_S)
FAULT_SEED = 18
# Always on, from the first start and after every restart (flags).
BASE_PLAN: dict[str, list[str]] = {
    "faults": [
        "CreateTask:after:DEADLINE_EXCEEDED:0.01",
        "CreateTask:after:UNAVAILABLE:0.01",
    ],
    "latency": [],
    "dispatch": ["drop:0.005", "delay:0.02:50-500"],
}
LATENCY_PAST_TIMEOUT = f"CreateTask:{TASKS_TIMEOUT_S * 1000 + 500}-{TASKS_TIMEOUT_S * 1000 + 2000}"


@dataclass(frozen=True, slots=True)
class Burst:
    """A window from ``at_s`` in which ``extra`` joins the base plan, until the emulator has
    injected ``min_count`` faults of a kind ending in ``kind`` (a time window alone can miss:
    a loaded stack may make no call in it), or ``max_s`` passed."""

    at_s: float
    label: str
    extra: Mapping[str, Sequence[str]]
    kind: str
    min_count: int
    max_s: float


# Steps run one after the other, so a burst never meets a stopped emulator.
BURSTS = (
    Burst(
        17.0,
        "UNAVAILABLE burst on every RPC",
        {"faults": ["*:before:UNAVAILABLE:1"]},
        kind=":before:UNAVAILABLE",
        min_count=50,
        max_s=10.0,
    ),
    Burst(
        28.0,
        f"CreateTask latency past the bridge's {TASKS_TIMEOUT_S} s timeout",
        {"latency": [LATENCY_PAST_TIMEOUT]},
        kind="CreateTask:latency",
        min_count=4,
        max_s=12.0,
    ),
    Burst(
        42.0,
        "RESOURCE_EXHAUSTED burst on CreateTask",
        {"faults": ["CreateTask:before:RESOURCE_EXHAUSTED:1"]},
        kind="CreateTask:before:RESOURCE_EXHAUSTED",
        min_count=50,
        max_s=10.0,
    ),
)
# Each must have been injected at least once for a PASS.
EXPECTED_KINDS = (
    "CreateTask:after:DEADLINE_EXCEEDED",
    "CreateTask:after:UNAVAILABLE",
    ":before:UNAVAILABLE",
    "CreateTask:before:RESOURCE_EXHAUSTED",
    "CreateTask:latency",
    "dispatch:drop",
    "dispatch:delay",
)


def emulator_args() -> list[str]:
    """The emulator's flags: the base plan and the seed, on every (re)start."""
    args = [f"--fault-seed={FAULT_SEED}"]
    args += [f"--fault={spec}" for spec in BASE_PLAN["faults"]]
    args += [f"--latency={spec}" for spec in BASE_PLAN["latency"]]
    args += [f"--dispatch-fault={spec}" for spec in BASE_PLAN["dispatch"]]
    return args


class FaultsAdmin:
    """``/_emulator/faults`` of the stack's emulator."""

    def __init__(self, http_port: int) -> None:
        self.url = f"http://127.0.0.1:{http_port}/_emulator/faults"

    def put(self, document: Mapping[str, Sequence[str]]) -> None:
        data = json.dumps(document).encode()
        request = urllib.request.Request(self.url, data=data, method="PUT")  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback
            answer.read()

    def injected(self, kind: str) -> int:
        """How many faults of a kind ending in ``kind`` this run of the emulator injected."""
        with urllib.request.urlopen(f"{self.url}?limit=0", timeout=10) as answer:  # noqa: S310
            counts: dict[str, int] = json.loads(answer.read())["injected"]
        return sum(count for name, count in counts.items() if name.endswith(kind))

    def burst(self, burst: Burst, *, stop: threading.Event) -> int:
        """Run ``burst``; the faults of its kind it injected."""
        before = self.injected(burst.kind)
        self.put({key: [*specs, *burst.extra.get(key, ())] for key, specs in BASE_PLAN.items()})
        end = time.monotonic() + burst.max_s
        try:
            while time.monotonic() < end and not stop.is_set():
                if self.injected(burst.kind) - before >= burst.min_count:
                    break
                stop.wait(0.25)
        finally:
            self.put(BASE_PLAN)
        return self.injected(burst.kind) - before


# -- what the emulator injected, from its log (every run of it) ---------------------------------

_FAULT_LINE = re.compile(r"fault injected: (?P<kind>\S+) (?P<resource>\S+): (?P<what>.*)$")


@dataclass(frozen=True, slots=True)
class Injected:
    kind: str  # "CreateTask:after:UNAVAILABLE", "CreateTask:latency", "dispatch:drop", ...
    resource: str  # the task's full name ("-" if none)
    what: str

    @property
    def task_id(self) -> str:
        return self.resource.rsplit("/", 1)[-1]


def injected_faults(log_path: Path) -> list[Injected]:
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return [
        Injected(match["kind"], match["resource"], match["what"])
        for match in map(_FAULT_LINE.search, text.splitlines())
        if match is not None
    ]


# -- publishes whose reply is lost ------------------------------------------------------------


class LostReplyClient:
    """A GAPIC publisher that loses the first reply of every request: the request reaches
    Pub/Sub, then the call fails DEADLINE_EXCEEDED, so the publisher's retry sends it again.
    Records every message id Pub/Sub gave each message's data."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.lost = 0
        self.ids_by_data: dict[bytes, list[str]] = {}
        self._lock = threading.Lock()

    def publish(self, *, request: Mapping[str, Any], timeout: float, retry: Any) -> Any:
        attempts = 0

        def attempt() -> Any:
            nonlocal attempts
            response = self.real.publish(request=request, timeout=timeout, retry=None)
            attempts += 1
            with self._lock:
                for message, message_id in zip(
                    request["messages"], response.message_ids, strict=True
                ):
                    self.ids_by_data.setdefault(message["data"], []).append(message_id)
                if attempts == 1:
                    self.lost += 1
                    lost = "soak: the publish reply was lost"
                    raise api_exceptions.DeadlineExceeded(lost)  # type: ignore[no-untyped-call]
            return response

        return retry(attempt)()

    def take_ids(self) -> dict[bytes, list[str]]:
        """Every message id per data since the last call (and forget them)."""
        with self._lock:
            taken, self.ids_by_data = self.ids_by_data, {}
        return taken


# -- the same message pushed twice at once ------------------------------------------------------


def push_body(message: PulledMessage, *, subscription: str) -> bytes:
    """The body Pub/Sub pushes for ``message``."""
    body = {
        "subscription": subscription,
        "message": {
            "data": base64.b64encode(message.data).decode("ascii"),
            "attributes": message.attributes,
            "messageId": message.message_id,
            "publishTime": message.publish_time,
        },
    }
    return json.dumps(body).encode()


@dataclass
class PushTally:
    pushes: int = 0  # POSTs sent
    accepted: int = 0  # 2xx answers (two per message, eventually)
    refused: Counter[int] | None = None


def push_twice_at_once(
    url: str, body: bytes, *, deadline: float, tally: PushTally, lock: threading.Lock
) -> list[threading.Thread]:
    """Two threads that POST ``body`` at the same moment (a barrier), each retrying as Pub/Sub
    would until a 2xx or ``deadline`` (monotonic)."""
    barrier = threading.Barrier(2)

    def push() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):  # the other one failed to start
            barrier.wait(timeout=30)
        while time.monotonic() < deadline:
            request = urllib.request.Request(  # noqa: S310 - loopback
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            status = 0
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                    status = answer.status
            except urllib.error.HTTPError as e:
                status = e.code
            except OSError:
                status = 0  # the function restarting: retried
            with lock:
                tally.pushes += 1
                if 200 <= status < 300:
                    tally.accepted += 1
                    return
                tally.refused = tally.refused or Counter()
                tally.refused[status] += 1
            time.sleep(0.5)

    threads = [threading.Thread(target=push, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    return threads


# -- which fault caused a retry -----------------------------------------------------------------

_INJECTED = re.compile(r"Injected fault \((?P<rpc>[^:]+):(?P<when>[^:]+):(?P<code>[^:]+):")


def retry_cause(entry: Mapping[str, Any], *, had_latency: bool) -> str:
    """The fault behind one ``retry`` line of the bridge's log."""
    error = str(entry.get("error", ""))
    reason = str(entry.get("reason", ""))
    injected = _INJECTED.search(error)
    if injected is not None:
        if injected["when"] == "after":
            return f"reply lost after the commit ({injected['code']})"
        return f"{injected['code']} burst ({injected['rpc']})"
    if entry.get("service") == "limbo" and reason == "NOT_FOUND":
        return "limbo's queue missing (on purpose)"
    if reason == "DEADLINE_EXCEEDED":
        if had_latency:
            return f"latency past the {TASKS_TIMEOUT_S} s timeout"
        return "client timeout without injected latency (a loaded machine)"
    if reason in ("UNAVAILABLE", "CANCELLED"):
        return "Cloud Tasks emulator stopped or restarting"
    return f"other: {reason} {error[:60]}"
