"""The gRPC adapter: every RPC is served, errors carry the code, bad bytes crash nothing."""

from __future__ import annotations

import grpc
import pytest

from tasks_emulator import api
from tests.tasks_emulator.conftest import Emulator


@pytest.mark.parametrize("rpc", sorted(api.RPCS))
def test_every_rpc_is_served_and_validates(emulator: Emulator, rpc: str) -> None:
    _, request_class, response_class = api.RPCS[rpc]
    with grpc.insecure_channel(emulator.grpc_target) as channel:
        call = channel.unary_unary(
            f"/{api.SERVICE_NAME}/{rpc}",
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        with pytest.raises(grpc.RpcError) as caught:
            call(request_class(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "must be of the form" in caught.value.details()


def test_undecodable_bytes_fail_the_call_not_the_server(emulator: Emulator) -> None:
    with grpc.insecure_channel(emulator.grpc_target) as channel:
        call = channel.unary_unary(f"/{api.SERVICE_NAME}/CreateTask")
        with pytest.raises(grpc.RpcError) as caught:
            call(b"\xff\xff\xff", timeout=10)
        assert caught.value.code() == grpc.StatusCode.INTERNAL
        listed = channel.unary_unary(
            f"/{api.SERVICE_NAME}/ListQueues",
            request_serializer=api.ListQueuesRequest.SerializeToString,
            response_deserializer=api.ListQueuesResponse.FromString,
        )(api.ListQueuesRequest(parent="projects/p/locations/l"), timeout=10)
    assert list(listed.queues) == []


def test_an_unknown_method_is_unimplemented(emulator: Emulator) -> None:
    with (
        grpc.insecure_channel(emulator.grpc_target) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        channel.unary_unary(f"/{api.SERVICE_NAME}/LeaseTasks")(b"", timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED
