"""A queue's ``http_target`` applied to a task's request at dispatch.

queue.proto ``Queue.http_target``: "all tasks with HttpRequest are overridden according to the
target": ``uri_override`` replaces the parts of the URL it sets (ALWAYS, the default; or only
for a task without a URL, IF_NOT_EXISTS), ``http_method`` the method (a method without a body
drops the body), ``header_overrides`` the headers of those names, and a queue-level token the
task's. Pure: raw messages in, a new raw ``HttpRequest`` out.
"""

from __future__ import annotations

import urllib.parse

from tasks_emulator import api
from tasks_emulator.validation import METHODS_WITH_BODY, method_name

_IF_NOT_EXISTS = api.UriOverride.IF_NOT_EXISTS  # 0 (unspecified) and ALWAYS are ALWAYS
_SCHEME_HTTP = api.UriOverride.HTTP  # 0 (unspecified) and HTTPS are HTTPS


def apply(http_request: api.HttpRequest, http_target: api.HttpTarget) -> api.HttpRequest:
    """The request the worker gets: the task's ``http_request`` as ``http_target`` overrides it."""
    request = api.copy_of(http_request)
    if http_target.HasField("uri_override"):
        request.url = override_url(request.url, http_target.uri_override)
    if http_target.http_method:
        request.http_method = http_target.http_method
        if method_name(http_target.http_method) not in METHODS_WITH_BODY:
            request.ClearField("body")
    for override in http_target.header_overrides:
        key = override.header.key
        for existing in [name for name in request.headers if name.lower() == key.lower()]:
            del request.headers[existing]
        request.headers[key] = override.header.value
    if http_target.HasField("oidc_token"):
        request.oidc_token.CopyFrom(http_target.oidc_token)
    elif http_target.HasField("oauth_token"):
        request.oauth_token.CopyFrom(http_target.oauth_token)
    return request


def override_url(url: str, uri_override: api.UriOverride) -> str:
    """``url`` with the parts ``uri_override`` sets replaced."""
    if uri_override.uri_override_enforce_mode == _IF_NOT_EXISTS and url:
        return url
    parts = urllib.parse.urlsplit(url or "https://")
    scheme = parts.scheme or "https"
    if uri_override.HasField("scheme"):
        scheme = "http" if uri_override.scheme == _SCHEME_HTTP else "https"
    host = parts.hostname or ""
    port = parts.port
    if uri_override.HasField("host"):
        host = uri_override.host
    if uri_override.HasField("port"):
        port = uri_override.port or None  # 0 clears the port
    path = parts.path
    if uri_override.HasField("path_override"):
        path = uri_override.path_override.path
    query = parts.query
    if uri_override.HasField("query_override"):
        query = uri_override.query_override.query_params
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    return urllib.parse.urlunsplit((scheme, netloc, path, query, parts.fragment))
