"""The gRPC adapter: every RPC of ``api.RPCS`` under its service in ``api.GRPC_SERVICES``.

No generated stubs: each handler deserializes with the raw request class, calls the service and
serializes the raw response; an ``ApiError`` aborts the call with its code and message. Bytes that
do not parse as the request are the caller's fault: INVALID_ARGUMENT (gRPC itself would answer
INTERNAL for a deserializer that raises).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import grpc
from google.protobuf.message import DecodeError, Message

from tasks_emulator import api
from tasks_emulator.errors import ApiError


@dataclass(frozen=True, slots=True)
class _Undecodable:
    """What the deserializer hands over for bytes that are not a request."""

    reason: str


def _deserializer(request_class: type[Message]) -> Callable[[bytes], Message | _Undecodable]:
    def deserialize(data: bytes) -> Message | _Undecodable:
        try:
            return request_class.FromString(data)
        except (DecodeError, RecursionError, ValueError) as e:
            return _Undecodable(reason=str(e) or type(e).__name__)

    return deserialize


def _handler(
    method: api.RpcMethod, *, rpc: str
) -> Callable[[Message | _Undecodable, grpc.ServicerContext], Message]:
    def handle(request: Message | _Undecodable, context: grpc.ServicerContext) -> Message:
        if isinstance(request, _Undecodable):
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"The request bytes are not a valid {rpc} request: {request.reason}",
            )
        try:
            return method(request)
        except ApiError as e:
            context.abort(e.code, e.message)

    return handle


def make_handlers(service: api.CloudTasksApi) -> tuple[grpc.GenericRpcHandler, ...]:
    """The generic handlers to add to a ``grpc.Server``, one per gRPC service."""
    by_service: dict[str, dict[str, grpc.RpcMethodHandler[Message | _Undecodable, Message]]] = {}
    for rpc, (_, request_class, response_class) in api.RPCS.items():
        service_name = api.GRPC_SERVICES[rpc]
        if service_name is None:
            continue
        by_service.setdefault(service_name, {})[rpc] = grpc.unary_unary_rpc_method_handler(
            _handler(api.method_of(service, rpc), rpc=rpc),
            request_deserializer=_deserializer(request_class),
            response_serializer=response_class.SerializeToString,
        )
    return tuple(
        grpc.method_handlers_generic_handler(name, handlers)
        for name, handlers in by_service.items()
    )
