"""The fault specs: what the command line and the admin endpoint accept, and what they refuse."""

from __future__ import annotations

import grpc
import pytest

from tasks_emulator import faults


def test_a_fault_reads_rpc_when_code_and_probability() -> None:
    fault = faults.parse_fault("CreateTask:after:DEADLINE_EXCEEDED:0.25")
    assert fault == faults.RpcFault(
        rpc="CreateTask", when="after", code=grpc.StatusCode.DEADLINE_EXCEEDED, probability=0.25
    )
    assert fault.spec == "CreateTask:after:DEADLINE_EXCEEDED:0.25"
    assert fault.matches("CreateTask")
    assert not fault.matches("GetTask")


def test_star_matches_every_rpc() -> None:
    fault = faults.parse_fault("*:before:UNAVAILABLE:1")
    assert fault.matches("CreateTask")
    assert fault.matches("ListQueues")


def test_a_latency_is_fixed_or_a_range() -> None:
    assert faults.parse_latency("GetTask:50") == faults.Latency("GetTask", 50.0, 50.0)
    latency = faults.parse_latency("*:10-200")
    assert latency == faults.Latency("*", 10.0, 200.0)
    assert latency.spec == "*:10-200"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("CreateTask:after:UNAVAILABLE", "a fault is RPC:WHEN:CODE:P"),
        ("CreateTask:after:UNAVAILABLE:0.1:x", "a fault is RPC:WHEN:CODE:P"),
        ("CreateTsk:after:UNAVAILABLE:0.1", "unknown RPC 'CreateTsk'"),
        ("CreateTask:during:UNAVAILABLE:0.1", "WHEN must be 'before' or 'after'"),
        ("CreateTask:after:UNAVAIL:0.1", "'UNAVAIL' is not a gRPC status name"),
        ("CreateTask:after:OK:0.1", "'OK' is not a gRPC status name"),
        ("CreateTask:after:unavailable:0.1", "is not a gRPC status name"),
        ("CreateTask:after:UNAVAILABLE:1.5", "probability '1.5' is not a number in [0, 1]"),
        ("CreateTask:after:UNAVAILABLE:-0.1", "probability '-0.1'"),
        ("CreateTask:after:UNAVAILABLE:nan", "probability 'nan'"),
        ("CreateTask:after:UNAVAILABLE:half", "probability 'half'"),
    ],
)
def test_bad_faults_are_refused_naming_the_part(spec: str, message: str) -> None:
    with pytest.raises(faults.FaultSpecError) as raised:
        faults.parse_fault(spec)
    assert message in str(raised.value)
    assert repr(spec) in str(raised.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("CreateTask", "a latency is RPC:MS or RPC:MIN-MAX"),
        ("CreateTask:", "a latency is RPC:MS or RPC:MIN-MAX"),
        ("Nope:10", "unknown RPC 'Nope'"),
        ("CreateTask:-5", "'-5' is not a number of milliseconds"),
        ("CreateTask:ten", "'ten' is not a number of milliseconds"),
        ("CreateTask:inf", "'inf' is not a number of milliseconds"),
        ("CreateTask:200-100", "MIN must not be greater than MAX"),
        ("CreateTask:10-", "'' is not a number of milliseconds"),
    ],
)
def test_bad_latencies_are_refused_naming_the_part(spec: str, message: str) -> None:
    with pytest.raises(faults.FaultSpecError) as raised:
        faults.parse_latency(spec)
    assert message in str(raised.value)


def test_a_plan_reads_from_json_and_back() -> None:
    document = {
        "faults": ["CreateTask:after:UNAVAILABLE:0.1", "*:before:RESOURCE_EXHAUSTED:0.01"],
        "latency": ["GetTask:5-10"],
        "dispatch": ["drop:0.05", "delay:0.2:100-900", "delay:1:50"],
        "seed": 7,
    }
    plan = faults.plan_from_json(document)
    assert plan.to_json() == document
    assert faults.plan_from_json({}).empty


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "the body must be a JSON object"),
        ({"fault": []}, "unknown key(s) ['fault']"),
        ({"faults": [1]}, "'faults' must be a list of strings"),
        ({"faults": "GetTask:before:UNAVAILABLE:2"}, "probability '2'"),
        ({"latency": {"GetTask": 5}}, "'latency' must be a list of strings"),
        ({"seed": "x"}, "seed 'x' is not an integer"),
        ({"seed": 1.5}, "seed 1.5 is not an integer"),
        ({"seed": True}, "seed True is not an integer"),
        ({"dispatch": ["drop"]}, "a dispatch fault is drop:P, delay:P:MS or delay:P:MIN-MAX"),
        ({"dispatch": ["drop:2"]}, "probability '2'"),
        ({"dispatch": ["delay:0.5"]}, "a dispatch fault is drop:P"),
        ({"dispatch": ["delay:0.5:9-1"]}, "MIN must not be greater than MAX"),
        ({"dispatch": ["lose:0.5"]}, "a dispatch fault is drop:P"),
    ],
)
def test_bad_plans_are_refused(document: object, message: str) -> None:
    with pytest.raises(faults.FaultSpecError) as raised:
        faults.plan_from_json(document)
    assert message in str(raised.value)


def test_plus_adds_faults_and_takes_a_new_seed() -> None:
    first = faults.plan_from_json({"faults": ["GetTask:before:UNAVAILABLE:1"], "seed": 1})
    second = faults.plan_from_json({"latency": ["*:1"]})
    both = first.plus(second)
    assert both.to_json() == {
        "faults": ["GetTask:before:UNAVAILABLE:1"],
        "latency": ["*:1"],
        "dispatch": [],
        "seed": 1,
    }
    assert both.plus(faults.FaultPlan(seed=2)).seed == 2


def test_dispatch_faults_read_drop_and_delay() -> None:
    assert faults.parse_dispatch_fault("drop:0.1") == faults.DispatchFault("drop", 0.1)
    assert faults.parse_dispatch_fault("delay:0.5:200-400") == faults.DispatchFault(
        "delay", 0.5, 200.0, 400.0
    )
    assert faults.parse_dispatch_fault("delay:1:50").spec == "delay:1:50"
