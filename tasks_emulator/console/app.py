"""The console's WSGI app, under ``/console`` on the emulator's HTTP port.

    GET  /console/                       the page (static HTML, JS and CSS; no build step)
    GET  /console/static/<file>
    GET  /console/api/queues             every queue, with the Cloud Console's columns
    GET  /console/api/queue?name=&state=&offset=&limit=
                                         a queue's tasks in one state, paged
    GET  /console/api/task?name=         one task: request as the worker gets it, attempts, token
    POST /console/api/actions/<action>   {"name": ..., "confirm": ...}: run, delete, pause,
                                         resume, purge (see ``actions``)

Every answer is JSON (``{"error": ...}`` with 400, 403, 404 or the service's status) and is
never cached. Nothing here logs a request's body or a task's: only the WSGI server's request
line (method, path, status) is logged, and not for successful reads (``quiet``).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from werkzeug.wrappers import Request, Response

from tasks_emulator.api import CloudTasksApi
from tasks_emulator.console import actions, guard, quiet, task_detail, views
from tasks_emulator.errors import ApiError
from tasks_emulator.oidc import TokenIssuer
from tasks_emulator.store import Store

_log = logging.getLogger(__name__)
PREFIX = "/console"
MAX_ACTION_BYTES = 64 * 1024
_STATIC = {
    "console.js": "text/javascript; charset=utf-8",
    "shared.js": "text/javascript; charset=utf-8",  # shared with the bridge's local-stack page
    "console.css": "text/css; charset=utf-8",
    "shared.css": "text/css; charset=utf-8",  # shared with the bridge's local-stack page
}
_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # no clickjacking of the purge button
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'none'; base-uri 'none'"
    ),
}


def _static(name: str) -> bytes:
    return resources.files("tasks_emulator.console").joinpath("static", name).read_bytes()


def _json(body: Mapping[str, object], status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, content_type="application/json"
    )


def _error(status: int, message: str) -> Response:
    return _json({"error": message}, status)


class Console:
    """The console over one emulator's store, service and token issuer."""

    def __init__(
        self,
        *,
        store: Store,
        service: CloudTasksApi,
        issuer: TokenIssuer,
        now_s: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._service = service
        self._issuer = issuer
        self._now_s = now_s
        self._token = guard.new_token()  # one per process: a page from before a restart reloads

    def _index(self) -> Response:
        html = _static("index.html").decode("utf-8").replace("{{TOKEN}}", self._token)
        return Response(html, content_type="text/html; charset=utf-8")

    def _get(self, path: str, request: Request) -> Response:
        now_s = self._now_s()
        args = request.args
        if path == "/api/queues":
            return _json(views.queues(store=self._store, now_s=now_s))
        if path == "/api/queue":
            page = views.parse_page(
                state=args.get("state", "pending"),
                offset=args.get("offset", "0"),
                limit=args.get("limit", str(views.DEFAULT_PAGE_SIZE)),
            )
            name = args.get("name", "")
            return _json(views.queue_page(name, page, store=self._store, now_s=now_s))
        if path == "/api/task":
            detail = task_detail.task_detail(
                args.get("name", ""), store=self._store, issuer=self._issuer, now_s=now_s
            )
            return _json(detail)
        if path in ("", "/"):
            return self._index()
        if path.startswith("/static/") and path[len("/static/") :] in _STATIC:
            file = path[len("/static/") :]
            return Response(_static(file), content_type=_STATIC[file])
        return _error(404, f"no console page {PREFIX}{path}")

    def _post(self, path: str, request: Request) -> Response:
        guard.check_action(request, token=self._token)
        if not path.startswith("/api/actions/"):
            return _error(404, f"no console action {PREFIX}{path}")
        if request.content_length is not None and request.content_length > MAX_ACTION_BYTES:
            return _error(400, "an action's body is a small JSON object")
        try:
            body = json.loads(request.get_data(cache=False) or b"{}")
        except ValueError:
            return _error(400, "an action's body is a JSON object")
        if not isinstance(body, dict):
            return _error(400, "an action's body is a JSON object")
        said = actions.perform(
            path[len("/api/actions/") :],
            name=str(body.get("name", "")),
            confirm=str(body.get("confirm", "")),
            service=self._service,
        )
        return _json({"ok": True, "message": said})

    def respond(self, request: Request) -> Response:
        path = request.path[len(PREFIX) :]
        try:
            guard.check_reader(request)
            if path == "":
                return Response("", status=308, headers={"Location": f"{PREFIX}/"})
            if request.method == "POST":
                return self._post(path, request)
            if request.method in ("GET", "HEAD"):
                return self._get(path, request)
            return _error(405, "the console answers GET, and POST for actions")
        except guard.Refused as e:
            return _error(403, e.reason)
        except views.NotFoundError as e:
            return _error(404, str(e))
        except views.BadQueryError as e:
            return _error(400, str(e))
        except ApiError as e:
            return _error(e.http_status, e.message)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.respond(request)
        except Exception:  # a bug: an answer, and a log line naming the path (never a body)
            _log.exception("console request %s %s failed", request.method, request.path)
            response = _error(500, "the console failed; see the emulator's log")
        for header, value in _SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response(environ, start_response)


def mount(app: WSGIApplication, console: Console) -> WSGIApplication:
    """``app`` with ``console`` answering every path under ``/console``."""
    quiet.quiet_reads(f"{PREFIX}/")

    def routed(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == PREFIX or path.startswith(PREFIX + "/"):
            result: Iterable[bytes] = console(environ, start_response)
            return result
        return app(environ, start_response)

    return routed
