"""Fault plans: production's failures, as the command line and the admin endpoint spell them.

Pure: text in, frozen values out (and back to JSON for the admin endpoint); nothing here draws a
random number or sleeps (that is ``fault_injection``).

- ``RPC:WHEN:CODE:P`` (``--fault``): RPC is a method name (``CreateTask``) or ``*``; WHEN is
  ``before`` (answer CODE, do nothing) or ``after`` (do the work, commit it, then answer CODE: the
  reply lost); CODE is a gRPC status name; P a probability in [0, 1].
- ``RPC:MS`` or ``RPC:MIN-MAX`` (``--latency``): every matching call answers no sooner than that
  (a range: uniformly drawn per call).

- ``drop:P`` or ``delay:P:MS`` / ``delay:P:MIN-MAX`` (``--dispatch-fault``): with probability P,
  a dispatch attempt's connection is dropped after the worker answered (the attempt counts as
  failed; the worker did the work), or its request is sent that much later.

A malformed spec raises ``FaultSpecError`` with a sentence naming the part at fault.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Literal, TypedDict

import grpc

from tasks_emulator.api import RPCS

ANY_RPC = "*"
WHENS = ("before", "after")
When = Literal["before", "after"]
DispatchKind = Literal["drop", "delay"]
# OK is no fault; every other code production can answer is one.
CODES = {code.name: code for code in grpc.StatusCode if code is not grpc.StatusCode.OK}


class FaultSpecError(ValueError):
    """Raised if a fault or latency spec is malformed; the message names the part at fault."""


class PlanJson(TypedDict):
    """A plan as JSON (``--fault`` / ``--latency`` / ``--dispatch-fault`` specs, and its seed)."""

    faults: list[str]
    latency: list[str]
    dispatch: list[str]
    seed: int | None


@dataclass(frozen=True, slots=True)
class RpcFault:
    """With ``probability``, ``rpc`` answers ``code`` ``when`` (before or after the work)."""

    rpc: str
    when: When
    code: grpc.StatusCode
    probability: float

    @property
    def spec(self) -> str:
        return f"{self.rpc}:{self.when}:{self.code.name}:{self.probability:g}"

    def matches(self, rpc: str) -> bool:
        return self.rpc in (ANY_RPC, rpc)


@dataclass(frozen=True, slots=True)
class Latency:
    """Every call of ``rpc`` answers no sooner than ``min_ms``..``max_ms`` after it arrived."""

    rpc: str
    min_ms: float
    max_ms: float

    @property
    def spec(self) -> str:
        if self.min_ms == self.max_ms:
            return f"{self.rpc}:{self.min_ms:g}"
        return f"{self.rpc}:{self.min_ms:g}-{self.max_ms:g}"

    def matches(self, rpc: str) -> bool:
        return self.rpc in (ANY_RPC, rpc)


@dataclass(frozen=True, slots=True)
class DispatchFault:
    """With ``probability``, an attempt is dropped after the answer, or delayed by min..max ms."""

    kind: DispatchKind
    probability: float
    min_ms: float = 0.0
    max_ms: float = 0.0

    @property
    def spec(self) -> str:
        if self.kind == "drop":
            return f"drop:{self.probability:g}"
        span = f"{self.min_ms:g}"
        if self.max_ms != self.min_ms:
            span += f"-{self.max_ms:g}"
        return f"delay:{self.probability:g}:{span}"


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Every fault in force; ``seed`` None keeps the random sequence already running."""

    rpc_faults: tuple[RpcFault, ...] = ()
    latencies: tuple[Latency, ...] = ()
    dispatch_faults: tuple[DispatchFault, ...] = ()
    seed: int | None = None

    @property
    def empty(self) -> bool:
        return not self.rpc_faults and not self.latencies and not self.dispatch_faults

    def plus(self, other: FaultPlan) -> FaultPlan:
        """This plan with ``other``'s faults added (and its seed, if it has one)."""
        return replace(
            self,
            rpc_faults=self.rpc_faults + other.rpc_faults,
            latencies=self.latencies + other.latencies,
            dispatch_faults=self.dispatch_faults + other.dispatch_faults,
            seed=self.seed if other.seed is None else other.seed,
        )

    def to_json(self) -> PlanJson:
        return {
            "faults": [fault.spec for fault in self.rpc_faults],
            "latency": [latency.spec for latency in self.latencies],
            "dispatch": [fault.spec for fault in self.dispatch_faults],
            "seed": self.seed,
        }


def _rpc(text: str, *, spec: str, known: Collection[str]) -> str:
    if text == ANY_RPC or text in known:
        return text
    raise FaultSpecError(
        f"{spec!r}: unknown RPC {text!r}; use a method name ({', '.join(sorted(known))}) or '*'"
    )


def _probability(text: str, *, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also refuses nan
        raise FaultSpecError(f"{spec!r}: probability {text!r} is not a number in [0, 1]")
    return value


def _ms(text: str, *, spec: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value < math.inf:
        raise FaultSpecError(f"{spec!r}: {text!r} is not a number of milliseconds >= 0")
    return value


def parse_fault(spec: str, *, known_rpcs: Collection[str] = RPCS) -> RpcFault:
    """``RPC:WHEN:CODE:P`` as an ``RpcFault``."""
    parts = spec.split(":")
    if len(parts) != 4:
        raise FaultSpecError(
            f"{spec!r}: a fault is RPC:WHEN:CODE:P, e.g. CreateTask:after:UNAVAILABLE:0.1"
        )
    rpc, when, code, probability = parts
    if when not in WHENS:
        raise FaultSpecError(f"{spec!r}: WHEN must be 'before' or 'after', not {when!r}")
    if code not in CODES:
        raise FaultSpecError(
            f"{spec!r}: {code!r} is not a gRPC status name (UNAVAILABLE, DEADLINE_EXCEEDED, ...)"
        )
    return RpcFault(
        rpc=_rpc(rpc, spec=spec, known=known_rpcs),
        when="before" if when == "before" else "after",
        code=CODES[code],
        probability=_probability(probability, spec=spec),
    )


def parse_latency(spec: str, *, known_rpcs: Collection[str] = RPCS) -> Latency:
    """``RPC:MS`` or ``RPC:MIN-MAX`` as a ``Latency``."""
    rpc, sep, span = spec.partition(":")
    if not sep or not span:
        raise FaultSpecError(
            f"{spec!r}: a latency is RPC:MS or RPC:MIN-MAX, e.g. CreateTask:50-200"
        )
    min_ms, max_ms = _span_ms(span, spec=spec)
    return Latency(rpc=_rpc(rpc, spec=spec, known=known_rpcs), min_ms=min_ms, max_ms=max_ms)


def _span_ms(span: str, *, spec: str) -> tuple[float, float]:
    """``MS`` or ``MIN-MAX`` as (min, max) milliseconds."""
    low, dash, high = ("", "", span) if span.startswith("-") else span.partition("-")
    if not low:  # a negative number
        raise FaultSpecError(f"{spec!r}: {span!r} is not a number of milliseconds >= 0")
    min_ms = _ms(low, spec=spec)
    max_ms = _ms(high, spec=spec) if dash else min_ms
    if max_ms < min_ms:
        raise FaultSpecError(f"{spec!r}: MIN must not be greater than MAX")
    return min_ms, max_ms


def parse_dispatch_fault(spec: str) -> DispatchFault:
    """``drop:P``, ``delay:P:MS`` or ``delay:P:MIN-MAX`` as a ``DispatchFault``."""
    parts = spec.split(":")
    if parts[0] == "drop" and len(parts) == 2:
        return DispatchFault(kind="drop", probability=_probability(parts[1], spec=spec))
    if parts[0] == "delay" and len(parts) == 3:
        min_ms, max_ms = _span_ms(parts[2], spec=spec)
        return DispatchFault(
            kind="delay",
            probability=_probability(parts[1], spec=spec),
            min_ms=min_ms,
            max_ms=max_ms,
        )
    raise FaultSpecError(
        f"{spec!r}: a dispatch fault is drop:P, delay:P:MS or delay:P:MIN-MAX, e.g. drop:0.05"
    )


def parse_seed(value: object) -> int:
    """A seed: an integer (a JSON number or its decimal text)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise FaultSpecError(f"seed {value!r} is not an integer")
    try:
        return int(value)
    except ValueError as e:
        raise FaultSpecError(f"seed {value!r} is not an integer") from e


def _specs(document: Mapping[str, object], key: str) -> list[str]:
    value = document.get(key, [])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise FaultSpecError(f"{key!r} must be a list of strings (specs as on the command line)")
    return [str(item) for item in value]


PLAN_KEYS = frozenset({"faults", "latency", "dispatch", "seed"})


def plan_from_json(document: object, *, known_rpcs: Collection[str] = RPCS) -> FaultPlan:
    """``{"faults": [...], "latency": [...], "dispatch": [...], "seed": N}`` (keys optional)."""
    if not isinstance(document, dict):
        raise FaultSpecError(
            'the body must be a JSON object: {"faults": [...], "latency": [...], '
            '"dispatch": [...], "seed": N}'
        )
    unknown = sorted(set(document) - PLAN_KEYS)
    if unknown:
        raise FaultSpecError(f"unknown key(s) {unknown}; the keys are {sorted(PLAN_KEYS)}")
    seed = document.get("seed")
    return FaultPlan(
        rpc_faults=tuple(parse_fault(s, known_rpcs=known_rpcs) for s in _specs(document, "faults")),
        latencies=tuple(
            parse_latency(s, known_rpcs=known_rpcs) for s in _specs(document, "latency")
        ),
        dispatch_faults=tuple(parse_dispatch_fault(s) for s in _specs(document, "dispatch")),
        seed=None if seed is None else parse_seed(seed),
    )
