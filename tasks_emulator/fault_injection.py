"""Faults injected into the API: one decision per call, drawn from one seeded random sequence.

``FaultInjector`` holds the plan in force (``faults.FaultPlan``), the random sequence, counts of
what it injected and a bounded list of recent events; it is thread-safe and may be given a new
plan at any time (the admin endpoint). ``FaultyApi`` wraps the service both wire adapters call:
every RPC in ``api.RPCS`` (also one added there later) passes through ``FaultyApi.call`` once.

The same seed and the same sequence of calls give the same faults in the same order: each call
draws one number per matching fault rule and one per matching latency range, whatever happens.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict, cast

from google.protobuf.message import Message

from tasks_emulator.api import RPCS, CloudTasksApi
from tasks_emulator.errors import ApiError
from tasks_emulator.faults import FaultPlan, PlanJson, RpcFault

LOG = logging.getLogger("tasks_emulator.faults")
# Recent events kept for the admin endpoint (a soak's worth; the counts are never dropped).
MAX_EVENTS = 20_000

_WHAT = {
    "before": "answered {code} without doing anything",
    "after": "did the work and committed it, then answered {code} (the reply is lost)",
}


@dataclass(frozen=True, slots=True)
class DispatchDecision:
    """What one dispatch attempt gets: sent ``delay_s`` late, and/or dropped after the answer."""

    delay_s: float
    drop: bool


@dataclass(frozen=True, slots=True)
class Decision:
    """What one call gets: a fault (or None) and the least time it takes to answer."""

    fault: RpcFault | None
    latency_s: float


def _resource(request: Message) -> str:
    """The resource a request names, for the log: the task, else the name, else the parent."""
    task = getattr(request, "task", None)
    task_name = getattr(task, "name", "") if task is not None else ""
    return str(task_name or getattr(request, "name", "") or getattr(request, "parent", ""))


class FaultEvent(TypedDict):
    """One fault injected, as ``GET /_emulator/faults`` lists it."""

    seq: int
    time_s: float
    rpc: str
    kind: str
    resource: str
    what: str


class FaultReport(TypedDict):
    """``GET /_emulator/faults``: the plan, the counts of faults injected by kind, the events."""

    plan: PlanJson
    injected: dict[str, int]
    events: list[FaultEvent]


class FaultInjector:
    """Decides each call's fault from the plan in force; counts and logs what it injects."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._seed = random.SystemRandom().randrange(2**32)  # shown, so a run can be repeated
        self._random = random.Random(self._seed)  # noqa: S311 (repeatable by design)
        self._counts: Counter[str] = Counter()
        self._events: deque[FaultEvent] = deque(maxlen=MAX_EVENTS)
        self._sequence = 0
        if plan is not None:
            self.replace(plan)

    # --- the plan ----------------------------------------------------------------------------
    def replace(self, plan: FaultPlan) -> None:
        """Put ``plan`` in force; its seed, if it has one, restarts the random sequence."""
        with self._lock:
            if plan.seed is not None:
                self._seed = plan.seed
                self._random = random.Random(plan.seed)  # noqa: S311
            self._plan = dataclasses.replace(plan, seed=self._seed)
        LOG.warning("fault plan in force: %s", json.dumps(self._plan.to_json()))

    def add(self, plan: FaultPlan) -> None:
        """Add ``plan``'s faults to those in force (its seed, if any, restarts the sequence)."""
        with self._lock:
            current = self._plan
        self.replace(current.plus(plan))

    def clear(self) -> None:
        """No more faults (the counts and events stay)."""
        self.replace(FaultPlan())

    @property
    def plan(self) -> FaultPlan:
        with self._lock:
            return self._plan

    def report(self) -> FaultReport:
        """The plan in force, the counts of faults injected by kind, and the recent events."""
        with self._lock:
            return {
                "plan": self._plan.to_json(),
                "injected": dict(sorted(self._counts.items())),
                "events": list(self._events),
            }

    # --- one call ----------------------------------------------------------------------------
    def decide(self, rpc: str) -> Decision:
        with self._lock:
            chosen: RpcFault | None = None
            for fault in self._plan.rpc_faults:
                if fault.matches(rpc):
                    draw = self._random.random()
                    if chosen is None and draw < fault.probability:
                        chosen = fault
            latency_ms = 0.0
            for latency in self._plan.latencies:
                if latency.matches(rpc):
                    drawn_ms = self._random.uniform(latency.min_ms, latency.max_ms)
                    latency_ms = max(latency_ms, drawn_ms)
        return Decision(fault=chosen, latency_s=latency_ms / 1000.0)

    def decide_dispatch(self) -> DispatchDecision:
        with self._lock:
            delay_ms = 0.0
            drop = False
            for fault in self._plan.dispatch_faults:
                hit = self._random.random() < fault.probability
                if fault.kind == "drop":
                    drop = drop or hit
                else:
                    drawn_ms = self._random.uniform(fault.min_ms, fault.max_ms)
                    if hit:
                        delay_ms = max(delay_ms, drawn_ms)
        return DispatchDecision(delay_s=delay_ms / 1000.0, drop=drop)

    def record(self, *, rpc: str, kind: str, what: str, resource: str) -> None:
        """Count and log one injected fault of ``kind`` (e.g. ``CreateTask:after:UNAVAILABLE``)."""
        with self._lock:
            self._sequence += 1
            self._counts[kind] += 1
            self._events.append(
                FaultEvent(
                    seq=self._sequence,
                    time_s=round(time.time(), 6),
                    rpc=rpc,
                    kind=kind,
                    resource=resource,
                    what=what,
                )
            )
        LOG.warning("fault injected: %s %s: %s", kind, resource or "-", what)


def with_faults(service: CloudTasksApi, injector: FaultInjector) -> CloudTasksApi:
    """``service`` with ``injector``'s faults on every RPC (a ``FaultyApi``)."""
    # FaultyApi serves each method of CloudTasksApi through __getattr__, which the type checker
    # cannot follow: the cast says what __getattr__ does.
    return cast(CloudTasksApi, FaultyApi(service, injector))


class FaultyApi:
    """The service, with ``injector``'s faults on every RPC of ``api.RPCS``."""

    def __init__(
        self,
        service: object,
        injector: FaultInjector,
        *,
        sleep: Callable[[float], None] = time.sleep,
        monotonic_s: Callable[[], float] = time.monotonic,
    ) -> None:
        self._service = service
        self._injector = injector
        self._sleep = sleep
        self._monotonic_s = monotonic_s

    def __getattr__(self, method_name: str) -> Callable[[Message], Message]:
        method: Callable[[Message], Message] = getattr(self._service, method_name)
        rpc = next((rpc for rpc, (name, _, _) in RPCS.items() if name == method_name), None)
        if rpc is None:
            return method  # not an RPC (attach, say): passed through

        def call(request: Message) -> Message:
            return self.call(rpc, method, request)

        return call

    def call(self, rpc: str, method: Callable[[Message], Message], request: Message) -> Message:
        """``method(request)``, with the fault and the latency the plan gives this call."""
        arrived_s = self._monotonic_s()
        decision = self._injector.decide(rpc)
        resource = _resource(request)  # read now: the service may complete the request in place
        try:
            fault = decision.fault
            if fault is not None and fault.when == "before":
                self._inject(rpc, fault, resource)
            result = method(request)
            if fault is not None and fault.when == "after":
                self._inject(rpc, fault, resource)
            return result
        finally:
            if decision.latency_s > 0:
                remaining_s = arrived_s + decision.latency_s - self._monotonic_s()
                if remaining_s > 0:
                    self._sleep(remaining_s)
                self._injector.record(
                    rpc=rpc,
                    kind=f"{rpc}:latency",
                    what=f"answered no sooner than {decision.latency_s * 1000:.0f} ms",
                    resource=resource,
                )

    def _inject(self, rpc: str, fault: RpcFault, resource: str) -> None:
        kind = f"{rpc}:{fault.when}:{fault.code.name}"
        what = _WHAT[fault.when].format(code=fault.code.name)
        self._injector.record(rpc=rpc, kind=kind, what=what, resource=resource)
        raise ApiError(fault.code, f"Injected fault ({fault.spec}): {what}.")
