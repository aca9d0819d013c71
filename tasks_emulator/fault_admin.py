"""``/_emulator/faults``: the fault plan, read and changed at run time over the HTTP port.

- ``GET``: the plan in force, the counts of faults injected by kind, the recent events
  (``?since=SEQ``: only those after event SEQ; ``?limit=N``: the last N of them, 0 for none);
- ``PUT``: replace the plan with the body's, ``{"faults": [...], "latency": [...], "seed": N}``
  (the same specs as the command line; each key optional);
- ``POST``: add the body's faults to those in force;
- ``DELETE``: no more faults (the counts stay).

Loopback clients only (``loopback.require_loopback``): 403 otherwise. A bad body answers 400 with
Google's error body naming what is wrong; the plan in force is then unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from tasks_emulator import faults
from tasks_emulator.fault_injection import MAX_EVENTS, FaultInjector
from tasks_emulator.loopback import NotLoopback, require_loopback

PREFIX = "/_emulator/faults"
MAX_BODY_BYTES = 1024 * 1024
_JSON = "application/json; charset=UTF-8"
_ALLOWED = "DELETE, GET, POST, PUT"


class _BadRequest(ValueError):
    """Raised if the request cannot be applied; the message says why."""


def _error(status: int, code_name: str, message: str) -> Response:
    body = {"error": {"code": status, "message": message, "status": code_name}}
    return Response(json.dumps(body), status=status, content_type=_JSON)


def _ok(document: Mapping[str, object]) -> Response:
    return Response(json.dumps(document), content_type=_JSON)


def _plan_of(request: Request) -> faults.FaultPlan:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise _BadRequest(f"the body is larger than {MAX_BODY_BYTES} bytes")
    raw = request.get_data(cache=False)
    try:
        document = json.loads(raw or b"null")
    except (ValueError, RecursionError) as e:
        raise _BadRequest(f"the body is not JSON: {e}") from e
    try:
        return faults.plan_from_json(document)
    except faults.FaultSpecError as e:
        raise _BadRequest(str(e)) from e


def _number(request: Request, name: str, *, default: int, what: str) -> int:
    text = request.args.get(name, str(default))
    try:
        value = int(text)
    except ValueError as e:
        raise _BadRequest(f"{name}={text!r} is not {what}") from e
    if value < 0 and name == "limit":
        raise _BadRequest(f"{name}={text!r} is not {what}")
    return value


def _respond(request: Request, injector: FaultInjector) -> Response:
    try:
        require_loopback(request.remote_addr)
    except NotLoopback as e:
        return _error(403, "PERMISSION_DENIED", str(e))
    if request.path.rstrip("/") not in ("", PREFIX):
        return _error(404, "NOT_FOUND", f"The requested URL {request.path} was not found.")
    try:
        if request.method == "GET":
            report = injector.report()
            since = _number(request, "since", default=0, what="an event number")
            limit = _number(request, "limit", default=MAX_EVENTS, what="a count of events >= 0")
            events = [event for event in report["events"] if event["seq"] > since]
            report["events"] = events[len(events) - limit :] if limit else []
            return _ok(report)
        if request.method == "PUT":
            injector.replace(_plan_of(request))
        elif request.method == "POST":
            injector.add(_plan_of(request))
        elif request.method == "DELETE":
            injector.clear()
        else:
            response = _error(
                405, "UNIMPLEMENTED", f"Method {request.method} is not allowed; use {_ALLOWED}."
            )
            response.headers["Allow"] = _ALLOWED
            return response
    except _BadRequest as e:
        return _error(400, "INVALID_ARGUMENT", str(e))
    return _ok({"plan": injector.plan.to_json()})


def make_admin_app(injector: FaultInjector) -> WSGIApplication:
    """The WSGI app of ``/_emulator/faults`` (mounted at ``PREFIX``) over ``injector``."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        result: Iterable[bytes] = _respond(request, injector)(environ, start_response)
        return result

    return app
