"""The REST API: the JSON mapping of the CloudTasks protos, as ``transport="rest"`` speaks it.

The routes are the ``google.api.http`` rules of ``google/cloud/tasks/v2/cloudtasks.proto``
(the same table as google-cloud-tasks' ``rest_base.py``): a path binds the resource name, the body
is the whole request (``*``) or one field of it (``queue``), and every other field comes from the
query string in its JSON name (``pageSize``, ``responseView``, ``updateMask``). The client also
sends ``$alt=json;enum-encoding=int``: enums go out as numbers then, as Google's frontend does.
The client's location and operations mixins have their rules too; BufferTask takes the raw body.
A body is at most 10 MB however it is framed, and broken framing is the client's fault (400).

Every error answers Google's body, ``{"error": {code, message, status}}``: the service's
``ApiError`` as it says, malformed JSON or a bad field 400 INVALID_ARGUMENT naming it, an unknown
path 404 NOT_FOUND, a known path with the wrong method 405. The same port serves the OIDC
discovery document and the issuer's keys (see ``oidc``), and the test helpers (``helpers``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from werkzeug.exceptions import (
    ClientDisconnected,
    HTTPException,
    MethodNotAllowed,
    NotFound,
    RequestEntityTooLarge,
)
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from tasks_emulator import api, helpers
from tasks_emulator.api import RPCS, CloudTasksApi
from tasks_emulator.errors import ApiError
from tasks_emulator.oidc import TokenIssuer

_log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # Google's frontends refuse larger JSON requests the same way
# The rest of a refused body is read and dropped up to this much, so the client, still sending,
# gets the answer rather than a reset connection; past it the connection is closed.
MAX_DRAINED_BYTES = 64 * 1024 * 1024
_TOO_LARGE = f"Request payload size exceeds the limit: {MAX_REQUEST_BYTES} bytes."
# Standard system parameters of Google's REST APIs: never fields of the request.
_SYSTEM_PARAMS = frozenset(
    {"alt", "key", "prettyPrint", "fields", "callback", "quotaUser", "access_token", "oauth_token"}
)
_JSON = "application/json; charset=UTF-8"
# A JSON object as parsed (json.loads, the query string): its values are whatever JSON holds,
# which json_format reads against the message's fields.
JsonObject = dict[str, object]
# The path's segments (werkzeug's URL values: strings, by the converters used).
_PathValues = Mapping[str, str]


class _IdConverter(BaseConverter):
    """One path segment up to a ``:verb`` suffix (``queues/q:purge`` binds ``q``)."""

    regex = "[^/:]+"


@dataclass(frozen=True, slots=True)
class _Route:
    rpc: str  # the RPC's name in api.RPCS
    resource_field: str  # the request field the path binds: "parent", "name", "queue.name"
    body_field: str | None  # "*" (the whole request), a field name, or None (no body)
    suffix: str = ""  # a literal the resource name ends with ("/cmekConfig")


_PROJECT = "/v2/projects/<project>"
_LOCATION = _PROJECT + "/locations/<id:location>"
_QUEUE = _LOCATION + "/queues/<id:queue>"
_TASK = _QUEUE + "/tasks/<id:task>"
_OPERATION = _LOCATION + "/operations/<id:operation>"

# (path, method, route): the http rules of cloudtasks.proto for the RPCs we serve.
_RULES: list[tuple[str, str, _Route]] = [
    (_LOCATION + "/queues", "POST", _Route("CreateQueue", "parent", "queue")),
    (_LOCATION + "/queues", "GET", _Route("ListQueues", "parent", None)),
    (_QUEUE, "GET", _Route("GetQueue", "name", None)),
    (_QUEUE, "PATCH", _Route("UpdateQueue", "queue.name", "queue")),
    (_QUEUE, "DELETE", _Route("DeleteQueue", "name", None)),
    (_QUEUE + ":purge", "POST", _Route("PurgeQueue", "name", "*")),
    (_QUEUE + ":pause", "POST", _Route("PauseQueue", "name", "*")),
    (_QUEUE + ":resume", "POST", _Route("ResumeQueue", "name", "*")),
    (_QUEUE + "/tasks", "POST", _Route("CreateTask", "parent", "*")),
    (_QUEUE + "/tasks", "GET", _Route("ListTasks", "parent", None)),
    (_TASK, "GET", _Route("GetTask", "name", None)),
    (_TASK, "DELETE", _Route("DeleteTask", "name", None)),
    (_TASK + ":run", "POST", _Route("RunTask", "name", "*")),
    (_QUEUE + ":getIamPolicy", "POST", _Route("GetIamPolicy", "resource", "*")),
    (_QUEUE + ":setIamPolicy", "POST", _Route("SetIamPolicy", "resource", "*")),
    (_QUEUE + ":testIamPermissions", "POST", _Route("TestIamPermissions", "resource", "*")),
    (_QUEUE + "/tasks:batchCreate", "POST", _Route("BatchCreateTasks", "parent", "*")),
    (_QUEUE + "/tasks:batchDelete", "POST", _Route("BatchDeleteTasks", "parent", "*")),
    (_LOCATION + "/cmekConfig", "GET", _Route("GetCmekConfig", "name", None, "/cmekConfig")),
    (
        _LOCATION + "/cmekConfig",
        "PATCH",
        _Route("UpdateCmekConfig", "cmek_config.name", "cmek_config", "/cmekConfig"),
    ),
    # The client's mixins: locations.proto and the operations client's http rules (path "v2").
    (_PROJECT + "/locations", "GET", _Route("ListLocations", "name", None)),
    (_LOCATION, "GET", _Route("GetLocation", "name", None)),
    (_LOCATION + "/operations", "GET", _Route("ListOperations", "name", None)),
    (_OPERATION, "GET", _Route("GetOperation", "name", None)),
    (_OPERATION, "DELETE", _Route("DeleteOperation", "name", None)),
    (_OPERATION + ":cancel", "POST", _Route("CancelOperation", "name", "*")),
]
# BufferTask (the REST reference: POST /v2/{queue}/tasks/{taskId}:buffer, the HTTP body is the
# task's body): its own handler, since its body is not JSON. Without a task id gcloud sends
# ".../tasks/:buffer" (an empty id), the reference ".../tasks:buffer".
_BUFFER_RULES = [_QUEUE + "/tasks:buffer", _QUEUE + "/tasks/:buffer", _TASK + ":buffer"]


def _resource_name(values: _PathValues, *, suffix: str = "") -> str:
    """The resource the path names, rebuilt from its segments."""
    name = f"projects/{values['project']}"
    if "location" in values:
        name += f"/locations/{values['location']}"
    if "queue" in values:
        name += f"/queues/{values['queue']}"
    if "task" in values:
        name += f"/tasks/{values['task']}"
    if "operation" in values:
        name += f"/operations/{values['operation']}"
    return name + suffix


def _error_response(status: int, code_name: str, message: str, **headers: str) -> Response:
    body = {"error": {"code": status, "message": message, "status": code_name}}
    response = Response(json.dumps(body), status=status, content_type=_JSON)
    for name, value in headers.items():
        response.headers[name] = value
    return response


def _api_error_response(error: ApiError) -> Response:
    return Response(json.dumps(error.rest_body()), status=error.http_status, content_type=_JSON)


def _invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _parse_error_sentence(error: Exception) -> str:
    # json_format's first line names the field; the rest lists every field of the message.
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return f"Invalid JSON payload received. {first_line}"


def _query_fields(args: Iterable[tuple[str, list[str]]]) -> JsonObject:
    """Query parameters as a JSON object: ``a.b=1`` becomes ``{"a": {"b": "1"}}``."""
    fields: JsonObject = {}
    for key, values in args:
        if not key or key.startswith("$") or key in _SYSTEM_PARAMS:
            continue
        *parents, leaf = key.split(".")
        node = fields
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise _invalid(f'Invalid query parameter "{key}": "{part}" is not a message.')
            node = child
        if isinstance(node.get(leaf), dict):
            raise _invalid(f'Invalid query parameter "{key}": it is a message, not a value.')
        node[leaf] = values[0] if len(values) == 1 else list(values)
    return fields


def _drain(request: Request) -> None:
    """Read and drop what is left of a refused body (at most MAX_DRAINED_BYTES)."""
    stream = request.environ["wsgi.input"]
    left = MAX_DRAINED_BYTES
    try:
        while left > 0 and (chunk := stream.read(min(left, 1 << 16))):
            left -= len(chunk)
    except (OSError, ValueError, ClientDisconnected):
        return


def read_body(request: Request) -> bytes:
    """The whole body, at most MAX_REQUEST_BYTES however it is framed (Content-Length or
    chunked); a larger one is refused whole, broken framing is the client's fault (400)."""
    if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
        raise _invalid(_TOO_LARGE)
    # The stream stops one byte past the limit (werkzeug truncates a chunked body at
    # max_content_length silently): a body that reaches it is too large.
    request.max_content_length = MAX_REQUEST_BYTES + 1
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge as e:
        raise _invalid(_TOO_LARGE) from e
    except ClientDisconnected as e:
        raise _invalid("The request body ended before its Content-Length or its last chunk.") from e
    except (OSError, ValueError) as e:  # the dev server's chunked decoding ("Invalid chunk")
        raise _invalid(f"The request body's chunked framing is broken: {e}.") from e
    if len(raw) > MAX_REQUEST_BYTES:
        _drain(request)
        raise _invalid(_TOO_LARGE)
    return raw


def _body_fields(request: Request) -> JsonObject:
    raw = read_body(request)
    if not raw.strip():
        return {}
    try:
        fields = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise _invalid(f"Invalid JSON payload received. {e}") from e
    if not isinstance(fields, dict):
        raise _invalid(
            f"Invalid JSON payload received. Expected an object, got {type(fields).__name__}."
        )
    return fields


def _parse_into(fields: JsonObject, message: Message, *, ignore_unknown: bool) -> None:
    try:
        json_format.ParseDict(fields, message, ignore_unknown_fields=ignore_unknown)
    except (json_format.ParseError, ValueError, TypeError, RecursionError) as e:
        raise _invalid(_parse_error_sentence(e)) from e


def _build_request(route: _Route, values: _PathValues, request: Request) -> Message:
    _, request_cls, _ = RPCS[route.rpc]
    message = request_cls()
    # Query first, then the body, then the path: each later one wins for a field both set.
    _parse_into(_query_fields(request.args.lists()), message, ignore_unknown=True)
    if route.body_field is not None:
        body = _body_fields(request)
        if route.body_field == "*":
            _parse_into(body, message, ignore_unknown=False)
        else:
            _parse_into(body, getattr(message, route.body_field), ignore_unknown=False)
    target: Message = message
    *parents, leaf = route.resource_field.split(".")
    for part in parents:  # a field path of the RPC's request, from the route table
        target = getattr(target, part)
    setattr(target, leaf, _resource_name(values, suffix=route.suffix))
    return message


def _buffer_request(values: _PathValues, request: Request) -> api.CreateTaskRequest:
    """BufferTask as the CreateTaskRequest the service takes: the queue, the task id if the
    path names one, the body and its Content-Type."""
    message = api.CreateTaskRequest()
    message.parent = _resource_name({k: v for k, v in values.items() if k != "task"})
    if "task" in values:
        message.task.name = _resource_name(values)
    body = read_body(request)
    if body:
        message.task.http_request.body = body
    if request.content_type:
        message.task.http_request.headers["Content-Type"] = request.content_type
    return message


def _to_json(message: Message, *, enums_as_ints: bool) -> str:
    return str(
        json_format.MessageToJson(message, use_integers_for_enums=enums_as_ints, indent=None)
    )


def make_rest_app(
    service: CloudTasksApi,
    issuer: TokenIssuer,
    *,
    test_helpers: helpers.TestHelpers | None = None,
) -> WSGIApplication:
    """The WSGI app serving ``service`` over REST, ``issuer``'s discovery document and keys, and
    (if given) ``test_helpers`` under ``/_emulator/`` (see ``helpers``)."""
    url_map = Map(
        [Rule(path, methods=[method], endpoint=route) for path, method, route in _RULES]
        + [Rule(path, methods=["POST"], endpoint="buffer") for path in _BUFFER_RULES]
        + [
            Rule(TokenIssuer.DISCOVERY_PATH, methods=["GET"], endpoint="discovery"),
            Rule(TokenIssuer.JWKS_PATH, methods=["GET"], endpoint="jwks"),
            Rule(TokenIssuer.CERTS_PATH, methods=["GET"], endpoint="certs"),
        ]
        + helpers.rules(),
        converters={"id": _IdConverter},
        strict_slashes=False,
        merge_slashes=False,
    )

    def call_rpc(route: _Route, values: _PathValues, request: Request) -> Response:
        api_request = _build_request(route, values, request)
        result = api.method_of(service, route.rpc)(api_request)
        enums_as_ints = "enum-encoding=int" in request.args.get("$alt", "")
        return Response(_to_json(result, enums_as_ints=enums_as_ints), content_type=_JSON)

    def buffer_task(values: _PathValues, request: Request) -> Response:
        task = service.buffer_task(_buffer_request(values, request))
        enums_as_ints = "enum-encoding=int" in request.args.get("$alt", "")
        # BufferTaskResponse {task}: the message is not in the client we pin, its JSON is this.
        body = json.dumps({"task": json.loads(_to_json(task, enums_as_ints=enums_as_ints))})
        return Response(body, content_type=_JSON)

    def respond(request: Request) -> Response:
        adapter = url_map.bind_to_environ(request.environ)
        try:
            endpoint, values = adapter.match()
        except MethodNotAllowed as e:
            allowed = ", ".join(sorted(e.valid_methods or []))
            return _error_response(
                405,
                "UNIMPLEMENTED",
                f"Method {request.method} is not allowed on {request.path}; allowed: {allowed}.",
                Allow=allowed,
            )
        except NotFound:
            return _error_response(
                404, "NOT_FOUND", f"The requested URL {request.path} was not found on this server."
            )
        except HTTPException as e:  # werkzeug's own (a redirect it would ask for, say)
            code = e.code or 400
            return _error_response(code, "INVALID_ARGUMENT", e.description or e.name)
        if endpoint == "discovery":
            document = issuer.discovery(base_url=request.host_url)
            return Response(json.dumps(document), content_type=_JSON)
        if endpoint == "jwks":
            return Response(json.dumps(issuer.jwks()), content_type=_JSON)
        if endpoint == "certs":
            return Response(json.dumps(issuer.pem_certs()), content_type=_JSON)
        try:
            if isinstance(endpoint, helpers.Helper):
                return helpers.respond(endpoint, test_helpers, request)
            if endpoint == "buffer":
                return buffer_task(values, request)
            return call_rpc(endpoint, values, request)
        except ApiError as e:
            return _api_error_response(e)

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        request.max_content_length = MAX_REQUEST_BYTES + 1  # see read_body
        try:
            response = respond(request)
        except Exception:  # the one place a bug becomes an answer, not a dropped connection
            _log.exception("REST request %s %s failed", request.method, request.path)
            response = _error_response(500, "INTERNAL", "Internal error.")
        result: Iterable[bytes] = response(environ, start_response)
        return result

    return app
