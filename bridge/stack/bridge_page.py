"""The bridge's page: every message published to ``enqueue-requests`` with the bridge's outcome,
and the rejected ones with a replay button; served by the local stack beside tasks_emulator's
console, and written once as a static report by ``make demo``.

    GET  /                the page (static HTML, JS and CSS in ``page/``; no build step;
                          ``shared.js`` and ``shared.css``, the console's own files, are
                          the look, the polling and the "gone" banner both pages share)
    GET  /api/messages    the feed's snapshot (``outcomes.snapshot``)
    POST /api/replay      {"message_id": the original's id}: ``bridge replay --message-id`` on
                          the operator's rejected subscription, the command an operator runs

Loopback only, and the replay needs the page's own origin and token (``tasks_emulator``'s
console guard: one rule for both pages). Nothing here logs a payload; the page shows none.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bridge.message import ORIGIN_FORMAT
from bridge.stack.feed import Feed
from bridge.stack.runner import PROJECT_ID, REJECTED_SUBSCRIPTION, REJECTED_TOPIC, TOPIC, Stack
from tasks_emulator.console import guard, quiet

_JS, _CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
_OWN = resources.files("bridge.stack") / "page"
_CONSOLE = resources.files("tasks_emulator.console") / "static"  # one file serves both pages
# What /static/ serves: name -> (where it is, its type).
_STATIC = {
    "page.js": (_OWN, _JS),
    "page.css": (_OWN, _CSS),
    "shared.js": (_CONSOLE, _JS),
    "shared.css": (_CONSOLE, _CSS),
}
# The report inlines every /static/ file its HTML names.
_STATIC_TAG = re.compile(
    r'<link rel="stylesheet" href="/static/(?P<css>[\w.-]+)">'
    r'|<script src="/static/(?P<js>[\w.-]+)" defer></script>'
)
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'self'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"
    ),
}
_REPUBLISHED = re.compile(r"republished (\d+) to")


@dataclass(frozen=True, slots=True)
class ReplayAnswer:
    ok: bool
    said: str


Replayer = Callable[[str], ReplayAnswer]


class Source(Protocol):
    """What the page shows: a ``Feed`` (``stack_feed``), or a test's fixed snapshot."""

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def refresh(self) -> None: ...

    def snapshot(self) -> dict[str, Any]: ...


def replay_answer(*, returncode: int, stdout: str, stderr: str, message_id: str) -> ReplayAnswer:
    """What ``bridge replay --message-id`` said, as one sentence for the page."""
    lines = [line for line in stdout.splitlines() if "->" in line]
    count = _REPUBLISHED.search(stderr)
    ok = returncode == 0 and count is not None and int(count[1]) >= 1
    if ok:
        said = lines[0].split("->", 1)[1].strip() if lines else "republished"
        return ReplayAnswer(ok=True, said=f"{message_id}: {said}")
    detail = lines[0].split("->", 1)[1].strip() if lines else stderr.strip().splitlines()[-1:]
    if not lines and count is not None:
        detail = "no rejected message with that id is waiting in the operator subscription"
    return ReplayAnswer(ok=False, said=f"{message_id} not replayed: {detail}")


def _static(name: str) -> str:
    where = _STATIC[name][0] if name in _STATIC else _OWN
    return where.joinpath(name).read_text(encoding="utf-8")


def _inlined(tag: re.Match[str]) -> str:
    if tag["css"]:
        return f"<style>\n{_static(tag['css'])}</style>"
    return f"<script>\n{_static(tag['js'])}</script>"


def _json(body: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False), status=status, mimetype="application/json"
    )


class BridgePage:
    """The page's server on ``127.0.0.1`` (a free port); ``start`` and ``stop`` once each."""

    def __init__(self, *, feed: Source, replay: Replayer, console_url: str) -> None:
        self._feed = feed
        self._replay = replay
        self._console_url = console_url
        self._token = guard.new_token()
        quiet.quiet_reads("/api/messages", "/static/", "/ ")  # not a line a second in make up
        self._replay_lock = threading.Lock()  # one replay at a time
        self._server = make_server("127.0.0.1", 0, self._app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="bridge-page", daemon=True
        )

    def start(self) -> BridgePage:
        self._feed.start()
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()
        self._feed.stop()

    def _index(self) -> Response:
        html = page_html(token=self._token, console_url=self._console_url, snapshot=None)
        return Response(html, mimetype="text/html")

    def _respond(self, request: Request) -> Response:
        guard.check_reader(request)
        if request.method == "POST":
            guard.check_action(request, token=self._token)
            if request.path != "/api/replay":
                return _json({"error": f"no action {request.path}"}, 404)
            try:
                body = json.loads(request.get_data(cache=False) or b"{}")
            except ValueError:
                return _json({"error": "the body is a JSON object"}, 400)
            message_id = str(body.get("message_id", "")) if isinstance(body, dict) else ""
            if not ORIGIN_FORMAT.fullmatch(message_id):
                return _json({"error": "message_id is a Pub/Sub message id (digits)"}, 400)
            with self._replay_lock:
                answer = self._replay(message_id)
            self._feed.refresh()
            return _json({"ok": answer.ok, "message": answer.said}, 200 if answer.ok else 409)
        if request.path == "/":
            return self._index()
        if request.path == "/api/messages":
            self._feed.refresh()
            return _json(self._feed.snapshot())
        if request.path.startswith("/static/") and request.path[8:] in _STATIC:
            return Response(_static(request.path[8:]), content_type=_STATIC[request.path[8:]][1])
        return _json({"error": f"no page {request.path}"}, 404)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        try:
            response = self._respond(request)
        except guard.Refused as e:
            response = _json({"error": e.reason}, 403)
        except (OSError, RuntimeError) as e:  # the Pub/Sub emulator did not answer
            response = _json({"error": f"the stack did not answer: {e}"}, 503)
        for header, value in _HEADERS.items():
            response.headers.setdefault(header, value)
        return response(environ, start_response)


def page_html(*, token: str, console_url: str, snapshot: dict[str, Any] | None) -> str:
    """The page; with ``snapshot``, a report of one moment, its scripts and styles inlined."""
    config: dict[str, Any] = {"token": token, "console_url": console_url, "snapshot": snapshot}
    if snapshot is not None:
        config["written_at_s"] = time.time()
    html = _static("index.html")
    # "</" cannot end the script early: JSON may escape "/" as "\/".
    data = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
    html = html.replace("{{CONFIG}}", data)
    if snapshot is not None:
        html = _STATIC_TAG.sub(_inlined, html)
    return html


def write_report(path: Path, *, snapshot: dict[str, Any], console_url: str) -> Path:
    """The page as one file: what the demo's messages became, readable after the stack stopped."""
    path.write_text(page_html(token="", console_url=console_url, snapshot=snapshot), "utf-8")
    return path


# `bridge replay` stops reading after this long without a message: the operator subscription is
# read whole in well under it on the local stack.
REPLAY_WAIT_S = 1.0


def stack_feed(stack: Stack) -> Feed:
    """A feed of ``stack``'s topics and function log (``start`` it before publishing)."""
    return Feed(
        pubsub=stack.pubsub,
        log_path=stack.log_path("function"),
        topic_id=TOPIC,
        rejected_topic_id=REJECTED_TOPIC,
    )


def for_stack(stack: Stack) -> BridgePage:
    """The page of ``stack``; its replay is ``bridge replay`` run as an operator runs it."""

    def replay(message_id: str) -> ReplayAnswer:
        done = stack.bridge_command(
            "replay",
            "--subscription",
            REJECTED_SUBSCRIPTION,
            "--project",
            PROJECT_ID,
            "--message-id",
            message_id,
            "--wait-s",
            str(REPLAY_WAIT_S),
        )
        return replay_answer(
            returncode=done.returncode,
            stdout=done.stdout,
            stderr=done.stderr,
            message_id=message_id,
        )

    return BridgePage(feed=stack_feed(stack), replay=replay, console_url=stack.console_url)
