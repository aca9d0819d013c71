"""The gRPC adapter: every RPC is served under its service, errors carry the code, bad bytes are
the caller's fault (INVALID_ARGUMENT) and crash nothing."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest

from tasks_emulator import api
from tests.tasks_emulator.conftest import Emulator


@pytest.mark.parametrize("rpc", sorted(rpc for rpc in api.RPCS if api.GRPC_SERVICES[rpc]))
def test_every_rpc_is_served_and_validates(emulator: Emulator, rpc: str) -> None:
    _, request_class, response_class = api.RPCS[rpc]
    with grpc.insecure_channel(emulator.grpc_target) as channel:
        call = channel.unary_unary(
            f"/{api.GRPC_SERVICES[rpc]}/{rpc}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(request_class(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "must be of the form" in (caught.value.details() or "")


@pytest.mark.parametrize(
    ("rpc", "data"),
    [
        ("CreateTask", b"\xff\xff\xff"),  # a truncated varint
        ("CreateTask", b"\x12\x05ab"),  # task: a length past the end
        ("GetQueue", b"\x0a\x02\xff\xfe"),  # name: not UTF-8
        ("BatchCreateTasks", b"\x12\xff\xff\xff\xff\x0f"),
        ("GetOperation", b"\x0f"),  # an invalid wire type
    ],
)
def test_undecodable_bytes_are_invalid_argument_not_a_crash(
    emulator: Emulator, rpc: str, data: bytes
) -> None:
    with grpc.insecure_channel(emulator.grpc_target) as channel:
        call: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{api.GRPC_SERVICES[rpc]}/{rpc}"
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(data, timeout=10)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert f"not a valid {rpc} request" in (caught.value.details() or "")
        listed = channel.unary_unary(
            f"/{api.SERVICE_NAME}/ListQueues",
            request_serializer=api.ListQueuesRequest.SerializeToString,
            response_deserializer=api.ListQueuesResponse.FromString,
        )(api.ListQueuesRequest(parent="projects/p/locations/l"), timeout=10)
    assert list(listed.queues) == []


def test_an_unknown_method_is_unimplemented(emulator: Emulator) -> None:
    with grpc.insecure_channel(emulator.grpc_target) as channel:
        lease: grpc.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(
            f"/{api.SERVICE_NAME}/LeaseTasks"
        )
        with pytest.raises(grpc.RpcError) as caught:
            lease(b"", timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_every_rpc_the_pinned_client_calls_is_served() -> None:
    """The client's own gRPC transport names each method it calls: none is left unserved."""
    from google.cloud.tasks_v2.services.cloud_tasks.transports import grpc as transport

    source = Path(transport.__file__).read_text(encoding="utf-8")
    called = set(re.findall(r'"/(google\.[\w.]+)/(\w+)"', source))
    assert len(called) >= 23
    served = {(service, rpc) for rpc, service in api.GRPC_SERVICES.items() if service}
    assert called <= served, sorted(called - served)
