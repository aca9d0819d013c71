"""The gRPC adapter: every RPC of ``api.RPCS`` under its service in ``api.GRPC_SERVICES``.

No generated stubs: each handler deserializes with the raw request class, calls the service and
serializes the raw response; an ``ApiError`` aborts the call with its code and message. Bytes that
do not parse as the request are the caller's fault: INVALID_ARGUMENT (gRPC itself would answer
INTERNAL for a deserializer that raises).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from tasks_emulator import api
from tasks_emulator.errors import ApiError


@dataclass(frozen=True, slots=True)
class _Undecodable:
    """What the deserializer hands over for bytes that are not a request."""

    reason: str


def _deserializer(request_class: Any) -> Callable[[bytes], Any]:
    def deserialize(data: bytes) -> Any:
        try:
            return request_class.FromString(data)
        except (DecodeError, RecursionError, ValueError) as e:
            return _Undecodable(reason=str(e) or type(e).__name__)

    return deserialize


def _handler(method: Callable[[Any], Any], *, rpc: str) -> Callable[[Any, Any], Any]:
    def handle(request: Any, context: Any) -> Any:
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


def make_handlers(service: api.CloudTasksApi) -> tuple[Any, ...]:
    """The generic handlers to add to a ``grpc.Server``, one per gRPC service."""
    by_service: dict[str, dict[str, Any]] = {}
    for rpc, (method, request_class, response_class) in api.RPCS.items():
        service_name = api.GRPC_SERVICES[rpc]
        if service_name is None:
            continue
        by_service.setdefault(service_name, {})[rpc] = grpc.unary_unary_rpc_method_handler(
            _handler(getattr(service, method), rpc=rpc),
            request_deserializer=_deserializer(request_class),
            response_serializer=response_class.SerializeToString,
        )
    return tuple(
        grpc.method_handlers_generic_handler(name, handlers)
        for name, handlers in by_service.items()
    )
