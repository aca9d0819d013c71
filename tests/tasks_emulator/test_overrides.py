"""A queue's http_target over a task's request, as queue.proto's HttpTarget describes it."""

from __future__ import annotations

from typing import Any

import pytest

from tasks_emulator import api, overrides

URL = "http://task.example:8080/run?a=1"


def _request(**fields: Any) -> Any:
    request = api.Task().http_request
    request.url = fields.pop("url", URL)
    request.http_method = fields.pop("http_method", 1)
    request.body = fields.pop("body", b"payload")
    request.headers.update(fields.pop("headers", {}))
    return request


def _target(**uri: Any) -> Any:
    target = api.Queue().http_target
    for key, value in uri.items():
        if key == "path":
            target.uri_override.path_override.path = value
        elif key == "query":
            target.uri_override.query_override.query_params = value
        else:
            setattr(target.uri_override, key, value)
    return target


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        ({"host": "other.example"}, "http://other.example:8080/run?a=1"),
        ({"scheme": 2}, "https://task.example:8080/run?a=1"),
        ({"port": 9000}, "http://task.example:9000/run?a=1"),
        ({"port": 0}, "http://task.example/run?a=1"),
        ({"path": "/elsewhere"}, "http://task.example:8080/elsewhere?a=1"),
        ({"path": ""}, "http://task.example:8080?a=1"),
        ({"query": "b=2"}, "http://task.example:8080/run?b=2"),
        ({"host": "::1", "scheme": 1}, "http://[::1]:8080/run?a=1"),
    ],
)
def test_uri_override_replaces_the_parts_it_sets(uri: dict[str, Any], url: str) -> None:
    assert overrides.apply(_request(), _target(**uri)).url == url


def test_if_not_exists_leaves_a_task_url_alone() -> None:
    target = _target(host="other.example", uri_override_enforce_mode=1)
    assert overrides.apply(_request(), target).url == URL
    assert overrides.apply(_request(url=""), target).url == "https://other.example"


def test_the_method_override_drops_the_body_of_a_get() -> None:
    target = _target()
    target.ClearField("uri_override")
    target.http_method = 2  # GET
    request = overrides.apply(_request(), target)
    assert (request.http_method, request.body, request.url) == (2, b"", URL)
    target.http_method = 4  # PUT keeps it
    assert overrides.apply(_request(), target).body == b"payload"


def test_header_overrides_replace_headers_of_that_name() -> None:
    target = api.Queue().http_target
    override = target.header_overrides.add()
    override.header.key = "content-type"
    override.header.value = "application/json"
    request = overrides.apply(_request(headers={"Content-Type": "text/plain", "X-A": "1"}), target)
    assert dict(request.headers) == {"content-type": "application/json", "X-A": "1"}


def test_a_queue_token_replaces_the_tasks() -> None:
    task = _request()
    task.oauth_token.service_account_email = "task@p.iam.gserviceaccount.com"
    target = api.Queue().http_target
    target.oidc_token.service_account_email = "queue@p.iam.gserviceaccount.com"
    target.oidc_token.audience = "https://aud.example"
    request = overrides.apply(task, target)
    assert not request.HasField("oauth_token")
    assert request.oidc_token.audience == "https://aud.example"
    assert task.HasField("oauth_token")  # the task itself is left as it was
