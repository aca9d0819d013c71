"""The gRPC adapter: ``google.cloud.tasks.v2.CloudTasks`` served from ``api.RPCS``.

No generated stubs: each handler deserializes with the raw request class, calls the service and
serializes the raw response; an ``ApiError`` aborts the call with its code and message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from tasks_emulator import api
from tasks_emulator.errors import ApiError


def _handler(method: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    def handle(request: Any, context: Any) -> Any:
        try:
            return method(request)
        except ApiError as e:
            context.abort(e.code, e.message)

    return handle


def make_handler(service: api.CloudTasksApi) -> Any:
    """The generic handler to add to a ``grpc.Server``."""
    handlers = {
        rpc: grpc.unary_unary_rpc_method_handler(
            _handler(getattr(service, method)),
            request_deserializer=request_class.FromString,
            response_serializer=response_class.SerializeToString,
        )
        for rpc, (method, request_class, response_class) in api.RPCS.items()
    }
    return grpc.method_handlers_generic_handler(api.SERVICE_NAME, handlers)
