"""One task as its page shows it: the request as the worker gets it, its attempts, its token.

The request is built with the dispatcher's own pure code (``overrides.apply`` for the queue's
``http_target``, ``attempt.worker_headers`` for the headers), for the next attempt. Cloud Tasks
keeps a task's first and last attempt (task.proto), and so does the emulator: those are shown,
with the counts of dispatches and responses.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Literal, TypedDict

from tasks_emulator import api, overrides
from tasks_emulator.attempt import AttemptContext, http_method_name, worker_headers
from tasks_emulator.console.views import NotFoundError, short_id, state_of
from tasks_emulator.oidc import TokenIssuer
from tasks_emulator.store import Store
from tasks_emulator.validation import seconds

# Enough of a token to recognise it; the rest is left out of the page.
TOKEN_SHOWN_CHARS = 16


class BodyView(TypedDict, total=False):
    """The body as the page shows it: ``text`` for text and JSON, ``base64`` for bytes."""

    bytes: int
    kind: Literal["binary", "text", "json"]
    text: str
    base64: str


class TokenView(TypedDict, total=False):
    """The token the attempt carries: an OIDC token's claims, an OAuth token's scope."""

    kind: Literal["oidc", "oauth"]
    service_account_email: str
    audience: str
    claims: dict[str, object]
    scope: str


class AttemptView(TypedDict):
    schedule_time_s: float | None
    dispatch_time_s: float | None
    response_time_s: float | None
    status_code: int | None
    status_message: str | None


class RequestView(TypedDict):
    method: str
    url: str
    headers: list[tuple[str, str]]
    body: BodyView
    queue_overrides: bool


class TaskDetail(TypedDict):
    """A live task as its page shows it: what the worker will get, and the attempts so far."""

    now_s: float
    name: str
    id: str
    queue: str
    state: str
    create_time_s: float
    schedule_time_s: float
    dispatch_deadline_s: float
    dispatch_count: int
    response_count: int
    request: RequestView
    first_attempt: AttemptView | None
    last_attempt: AttemptView | None
    token: TokenView | None


_AttemptTime = Literal["schedule_time", "dispatch_time", "response_time"]


def _time_s(attempt: api.Attempt, field: _AttemptTime) -> float | None:
    return seconds(getattr(attempt, field)) if attempt.HasField(field) else None


def jwt_claims(token: str) -> dict[str, object]:
    """The claims of a JWT, unverified (our own issuer signed it a moment ago)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, binascii.Error) as e:
        raise ValueError("not a JWT") from e
    if not isinstance(claims, dict):
        raise ValueError("a JWT's claims are an object")
    return claims


def body_view(body: bytes) -> BodyView:
    """The body as text (JSON pretty-printed when it is JSON), or base64 when it is not text."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {"bytes": len(body), "kind": "binary", "base64": base64.b64encode(body).decode()}
    try:
        pretty = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return {"bytes": len(body), "kind": "text", "text": text}
    return {"bytes": len(body), "kind": "json", "text": pretty}


def _token(
    request: api.HttpRequest, *, issuer: TokenIssuer, now_s: float
) -> tuple[str | None, TokenView | None]:
    """(the Authorization header, what the page says of the token)."""
    if request.HasField("oidc_token"):
        oidc = request.oidc_token
        audience = oidc.audience or request.url
        jwt = issuer.id_token(audience=audience, email=oidc.service_account_email, now_s=now_s)
        return f"Bearer {jwt}", {
            "kind": "oidc",
            "service_account_email": oidc.service_account_email,
            "audience": audience,
            "claims": jwt_claims(jwt),
        }
    if request.HasField("oauth_token"):
        oauth = request.oauth_token
        access = issuer.access_token(
            email=oauth.service_account_email, scope=oauth.scope, now_s=now_s
        )
        return f"Bearer {access}", {
            "kind": "oauth",
            "service_account_email": oauth.service_account_email,
            "scope": oauth.scope,
        }
    return None, None


def _attempt(attempt: api.Attempt) -> AttemptView:
    status = attempt.response_status if attempt.HasField("response_status") else None
    return {
        "schedule_time_s": _time_s(attempt, "schedule_time"),
        "dispatch_time_s": _time_s(attempt, "dispatch_time"),
        "response_time_s": _time_s(attempt, "response_time"),
        "status_code": None if status is None else status.code,
        "status_message": None if status is None else status.message,
    }


def task_detail(name: str, *, store: Store, issuer: TokenIssuer, now_s: float) -> TaskDetail:
    """Raised if there is no such live task: ``NotFoundError``, saying whether it existed."""
    task = store.get_task(name)
    queue_name = name.split("/tasks/")[0]
    peek = next((p for p in store.peek_tasks(queue_name) if p.name == name), None)
    if task is None or peek is None:
        if store.recently_existed(name, now_s=now_s):
            raise NotFoundError(
                f"task {short_id(name)} no longer exists: it ran, gave up or was deleted "
                "(its name stays reserved)"
            )
        raise NotFoundError(f"task {name} does not exist")
    target = store.http_target_of(queue_name)
    request = task.http_request if target is None else overrides.apply(task.http_request, target)
    authorization, token = _token(request, issuer=issuer, now_s=now_s)
    context = AttemptContext(
        queue_id=short_id(queue_name),
        task_id=short_id(name),
        retry_count=task.dispatch_count,
        execution_count=peek.execution_count,
        eta_s=seconds(task.schedule_time),
        previous_response=peek.previous_response,
        retry_reason=None if peek.previous_response is None else "",
    )
    headers = worker_headers(request, context, authorization=authorization)
    if authorization is not None:
        headers["Authorization"] = authorization[: len("Bearer ") + TOKEN_SHOWN_CHARS] + "…"
    return {
        "now_s": now_s,
        "name": name,
        "id": short_id(name),
        "queue": queue_name,
        "state": state_of(peek),
        "create_time_s": seconds(task.create_time),
        "schedule_time_s": seconds(task.schedule_time),
        "dispatch_deadline_s": seconds(task.dispatch_deadline),
        "dispatch_count": task.dispatch_count,
        "response_count": task.response_count,
        "request": {
            "method": http_method_name(request),
            "url": request.url,
            "headers": sorted(headers.items(), key=lambda kv: kv[0].lower()),
            "body": body_view(request.body),
            "queue_overrides": target is not None,
        },
        "first_attempt": (_attempt(task.first_attempt) if task.HasField("first_attempt") else None),
        "last_attempt": _attempt(task.last_attempt) if task.HasField("last_attempt") else None,
        "token": token,
    }
