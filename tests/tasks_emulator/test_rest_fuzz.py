"""Arbitrary paths, methods, query strings and bodies at the REST app: never a 5xx of its own.

Every answer is either a JSON object (2xx) or Google's error body with the code it answered; a 5xx
happens only when the (fake) service raised that very code.
"""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote, urlencode

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from tasks_emulator.api import RPCS
from tasks_emulator.errors import ApiError
from tasks_emulator.oidc import TokenIssuer
from tasks_emulator.rest_api import make_rest_app
from tests.tasks_emulator.test_rest_api import FakeService, as_api

ISSUER = TokenIssuer.load_or_create(None)
SERVICE = FakeService()
CLIENT = Client(make_rest_app(as_api(SERVICE), ISSUER))
CODES = [code for code in grpc.StatusCode if code is not grpc.StatusCode.OK]
FIELD_NAMES = [
    "task", "queue", "name", "parent", "httpRequest", "http_request", "url", "httpMethod",
    "headers", "body", "oidcToken", "serviceAccountEmail", "audience", "oauthToken", "scope",
    "scheduleTime", "dispatchDeadline", "responseView", "response_view", "pageSize", "pageToken",
    "updateMask", "rateLimits", "maxDispatchesPerSecond", "retryConfig", "maxAttempts",
    "minBackoff", "state", "appEngineHttpRequest", "filter", "view", "@type",
]  # fmt: skip

_segment_chars = st.sampled_from(
    [*(string.ascii_letters + string.digits + "-_.~:%@!$&'()*+,;="), "%2F", "%00", "%E2%9C%93"]
)
_odd_segment = st.lists(_segment_chars, min_size=0, max_size=12).map("".join)
_id_segment = st.text(string.ascii_letters + string.digits + "-_", min_size=1, max_size=10)
# Mostly ids that route, so the bodies and queries reach the request parsing behind the routes.
_segment = st.one_of(*[_id_segment] * 9, _odd_segment)
_known_prefixes = st.sampled_from(
    [
        "/v2/projects/{}/locations/{}/queues",
        "/v2/projects/{}/locations/{}/queues/{}",
        "/v2/projects/{}/locations/{}/queues/{}:purge",
        "/v2/projects/{}/locations/{}/queues/{}:pause",
        "/v2/projects/{}/locations/{}/queues/{}:resume",
        "/v2/projects/{}/locations/{}/queues/{}/tasks",
        "/v2/projects/{}/locations/{}/queues/{}/tasks/{}",
        "/v2/projects/{}/locations/{}/queues/{}/tasks/{}:run",
        "/v2/projects/{}/locations/{}/queues/{}/tasks:batchCreate",
        "/v2/projects/{}/locations/{}/queues/{}/tasks:batchDelete",
        "/v2/projects/{}/locations/{}/queues/{}/tasks/{}:buffer",
        "/v2/projects/{}/locations/{}/queues/{}/tasks:buffer",
        "/v2/projects/{}/locations/{}/cmekConfig",
        "/v2/projects/{}/locations",
        "/v2/projects/{}/locations/{}",
        "/v2/projects/{}/locations/{}/operations",
        "/v2/projects/{}/locations/{}/operations/{}",
        "/v2/projects/{}/locations/{}/operations/{}:cancel",
        "/_emulator/reset",
        "/_emulator/wait",
        "/.well-known/openid-configuration",
        "/oauth2/v3/certs",
        "/{}/{}",
        "/{}",
    ]
)


@st.composite
def _paths(draw: st.DrawFn) -> str:
    template = draw(_known_prefixes)
    segments = draw(st.lists(_segment, min_size=4, max_size=4))
    path = template.format(*segments)
    suffix = st.sampled_from(["", "", "", "", "", "", "/", "//", ":run", "/tasks", ":x"])
    return path + draw(suffix)


_json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(["2026-01-01T00:00:00Z", "30s", "1e400s", "FULL", "POST", "aGk=", "-1"]),
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(
            st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=8)), children, max_size=5
        ),
    ),
    max_leaves=20,
)
_bodies = st.one_of(
    st.binary(max_size=64),
    _json_values.map(lambda value: json.dumps(value).encode()),
    st.dictionaries(st.sampled_from(FIELD_NAMES), _json_values, max_size=5).map(
        lambda value: json.dumps(value).encode()
    ),
)
_queries = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from([*FIELD_NAMES, "$alt", "task.name", "a.b.c"]), st.text(max_size=8)
        ),
        st.one_of(st.text(max_size=12), st.sampled_from(["1", "FULL", "json;enum-encoding=int"])),
    ),
    max_size=4,
)
_methods = st.one_of(
    st.sampled_from(["GET", "POST", "PATCH", "DELETE"]),
    st.sampled_from(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD", "OPTIONS", "BREW"]),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    method=_methods,
    path=_paths(),
    query=_queries,
    body=_bodies,
    raised=st.one_of(st.none(), st.sampled_from(CODES)),
)
def test_the_rest_app_never_fails_on_its_own(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    body: bytes,
    raised: grpc.StatusCode | None,
) -> None:
    _check(method=method, path=path, query=query, body=body, raised=raised)


_ROUTED = st.sampled_from(
    [
        ("POST", "/v2/projects/p/locations/l/queues"),
        ("GET", "/v2/projects/p/locations/l/queues"),
        ("GET", "/v2/projects/p/locations/l/queues/q"),
        ("PATCH", "/v2/projects/p/locations/l/queues/q"),
        ("DELETE", "/v2/projects/p/locations/l/queues/q"),
        ("POST", "/v2/projects/p/locations/l/queues/q:purge"),
        ("POST", "/v2/projects/p/locations/l/queues/q:pause"),
        ("POST", "/v2/projects/p/locations/l/queues/q:resume"),
        ("POST", "/v2/projects/p/locations/l/queues/q/tasks"),
        ("GET", "/v2/projects/p/locations/l/queues/q/tasks"),
        ("GET", "/v2/projects/p/locations/l/queues/q/tasks/t"),
        ("DELETE", "/v2/projects/p/locations/l/queues/q/tasks/t"),
        ("POST", "/v2/projects/p/locations/l/queues/q/tasks/t:run"),
        ("POST", "/v2/projects/p/locations/l/queues/q:getIamPolicy"),
        ("POST", "/v2/projects/p/locations/l/queues/q:setIamPolicy"),
        ("POST", "/v2/projects/p/locations/l/queues/q:testIamPermissions"),
        ("POST", "/v2/projects/p/locations/l/queues/q/tasks:batchCreate"),
        ("POST", "/v2/projects/p/locations/l/queues/q/tasks:batchDelete"),
        ("POST", "/v2/projects/p/locations/l/queues/q/tasks/t:buffer"),
        ("POST", "/v2/projects/p/locations/l/queues/q/tasks:buffer"),
        ("GET", "/v2/projects/p/locations/l/cmekConfig"),
        ("PATCH", "/v2/projects/p/locations/l/cmekConfig"),
        ("GET", "/v2/projects/p/locations"),
        ("GET", "/v2/projects/p/locations/l"),
        ("GET", "/v2/projects/p/locations/l/operations"),
        ("GET", "/v2/projects/p/locations/l/operations/o"),
        ("DELETE", "/v2/projects/p/locations/l/operations/o"),
        ("POST", "/v2/projects/p/locations/l/operations/o:cancel"),
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    route=_ROUTED,
    query=_queries,
    body=_bodies,
    raised=st.one_of(st.none(), st.sampled_from(CODES)),
)
def test_every_route_survives_arbitrary_queries_and_bodies(
    route: tuple[str, str],
    query: list[tuple[str, str]],
    body: bytes,
    raised: grpc.StatusCode | None,
) -> None:
    method, path = route
    _check(method=method, path=path, query=query, body=body, raised=raised)


def _check(
    *,
    method: str,
    path: str,
    query: list[tuple[str, str]],
    body: bytes,
    raised: grpc.StatusCode | None,
) -> None:
    SERVICE.reset()
    if raised is not None:
        SERVICE.errors.update(dict.fromkeys(RPCS, ApiError(raised, "the service said no")))
    query_string = urlencode(query, quote_via=quote)
    response = CLIENT.open(path=path, method=method, query_string=query_string, data=body)
    status = response.status_code
    payload: Any = json.loads(response.get_data()) if method != "HEAD" else None
    if status >= 500:
        assert raised is not None, (status, payload)
        assert SERVICE.calls, (status, payload)
        assert status == ApiError(raised, "").http_status
    if method == "HEAD":
        return
    assert isinstance(payload, dict)
    if status >= 400:
        assert set(payload) == {"error"}
        error_body = payload["error"]
        assert set(error_body) == {"code", "message", "status"}
        assert error_body["code"] == status
        assert isinstance(error_body["message"], str)
        assert error_body["message"]
        assert error_body["status"] in {code.name for code in grpc.StatusCode}
    else:
        assert 200 <= status < 300
