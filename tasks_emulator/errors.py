"""The one error the API raises, and how it reads on each wire.

Every RPC failure is an ``ApiError`` carrying the gRPC status code production answers and a
sentence naming the field or the state at fault. The gRPC adapter aborts with ``code``; the REST
adapter answers ``http_status`` with Google's error body, ``{"error": {code, message, status}}``.
"""

from __future__ import annotations

import grpc

# The HTTP status Google's REST APIs answer for each gRPC code (google.rpc.Code's comments).
_HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}


class ApiError(Exception):
    """Raised by the service when a request must fail with ``code`` (and never otherwise)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self) -> int:
        return _HTTP_STATUS[self.code]

    def rest_body(self) -> dict[str, object]:
        """Google's JSON error body, as the REST transport of google-api-core parses it."""
        return {
            "error": {
                "code": self.http_status,
                "message": self.message,
                "status": self.code.name,
            }
        }
