"""Production's limits and defaults, on raw messages, with literal numbers."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks_emulator import api, validation
from tasks_emulator.errors import ApiError

NOW_S = 1_800_000_000.0


def _task(**http: Any) -> Any:
    task = api.Task()
    task.http_request.url = http.pop("url", "https://worker.example/run")
    for key, value in http.items():
        if key == "headers":
            task.http_request.headers.update(value)
        else:
            setattr(task.http_request, key, value)
    return task


def _fails(
    task: Any, message: str, code: grpc.StatusCode = grpc.StatusCode.INVALID_ARGUMENT
) -> None:
    with pytest.raises(ApiError, match=message) as caught:
        validation.check_new_task(task, now_s=NOW_S)
    assert caught.value.code == code


def test_defaults_of_a_task() -> None:
    task = _task()
    task.dispatch_count = 7  # output only: cleared
    validation.check_new_task(task, now_s=NOW_S)
    assert task.dispatch_deadline.seconds == 600
    assert task.http_request.http_method == 1  # POST
    assert validation.seconds(task.schedule_time) == NOW_S
    assert task.dispatch_count == 0


def test_schedule_time_30_days_ahead_is_fine_a_second_more_is_not() -> None:
    task = _task()
    validation.set_seconds(task.schedule_time, NOW_S + 30 * 24 * 3600)
    validation.check_new_task(task, now_s=NOW_S)
    validation.set_seconds(task.schedule_time, NOW_S + 30 * 24 * 3600 + 1)
    _fails(task, "task.schedule_time is more than 30 days")


def test_a_schedule_time_in_the_past_is_kept() -> None:
    task = _task()
    validation.set_seconds(task.schedule_time, NOW_S - 100)
    validation.check_new_task(task, now_s=NOW_S)
    assert validation.seconds(task.schedule_time) == NOW_S - 100


@pytest.mark.parametrize(
    ("deadline_s", "ok"), [(14, False), (15, True), (1800, True), (1801, False)]
)
def test_dispatch_deadline_between_15_s_and_30_min(deadline_s: int, ok: bool) -> None:
    task = _task()
    task.dispatch_deadline.seconds = deadline_s
    if ok:
        validation.check_new_task(task, now_s=NOW_S)
    else:
        _fails(task, "task.dispatch_deadline is .* between 15 seconds and 30 minutes")


def test_task_size_up_to_1_mb() -> None:
    validation.check_new_task(_task(body=b"x" * 999_000), now_s=NOW_S)
    _fails(_task(body=b"x" * 1_000_000), "larger than the maximum task size of 1000000 bytes")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "task.http_request.url is required"),
        ("ftp://example.com/", "must start with 'http://' or 'https://'"),
        ("worker/run", "must start with 'http://' or 'https://'"),
        ("http://e.com/" + "a" * 2071, "is 2084 characters long; the maximum is 2083"),
    ],
)
def test_bad_urls(url: str, message: str) -> None:
    _fails(_task(url=url), message)


def test_a_2083_character_url_is_fine() -> None:
    validation.check_new_task(_task(url="http://e.com/" + "a" * 2070), now_s=NOW_S)


@pytest.mark.parametrize("header", ["X-Google-Foo", "x-appengine-country", "X-CloudTasks-TaskName"])
def test_reserved_headers(header: str) -> None:
    _fails(_task(headers={header: "1"}), f"headers: '{header}' is reserved")


def test_headers_under_80_kb() -> None:
    validation.check_new_task(_task(headers={"A": "x" * 80_000}), now_s=NOW_S)
    _fails(_task(headers={"A": "x" * 81_920}), "must be under 81920")


def test_a_body_only_with_post_put_patch() -> None:
    _fails(_task(http_method=2, body=b"x"), "body is set but the method is GET")
    validation.check_new_task(_task(http_method=4, body=b"x"), now_s=NOW_S)


def test_tokens_need_a_service_account() -> None:
    task = _task()
    task.http_request.oidc_token.audience = "aud"
    _fails(task, "oidc_token.service_account_email is required")
    task = _task()
    task.http_request.oauth_token.service_account_email = "sa@p.iam.gserviceaccount.com"
    validation.check_new_task(task, now_s=NOW_S)
    assert task.http_request.oauth_token.scope == "https://www.googleapis.com/auth/cloud-platform"


def test_app_engine_is_unimplemented() -> None:
    task = api.Task()
    task.app_engine_http_request.relative_uri = "/x"
    _fails(task, "App Engine targets are out of scope", grpc.StatusCode.UNIMPLEMENTED)


def test_queue_defaults() -> None:
    queue = api.Queue(name="projects/p/locations/l/queues/q")
    validation.check_queue_config(queue)
    assert queue.state == 1
    assert queue.rate_limits.max_dispatches_per_second == 500
    assert queue.rate_limits.max_burst_size == 100
    assert queue.rate_limits.max_concurrent_dispatches == 1000
    assert queue.retry_config.max_attempts == 100
    assert validation.seconds(queue.retry_config.min_backoff) == 0.1
    assert validation.seconds(queue.retry_config.max_backoff) == 3600
    assert queue.retry_config.max_doublings == 16
    assert validation.seconds(queue.retry_config.max_retry_duration) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rate_limits.max_dispatches_per_second", 500.5, "maximum is 500"),
        ("rate_limits.max_dispatches_per_second", -1.0, "must be positive"),
        ("rate_limits.max_concurrent_dispatches", 5001, "maximum is 5000"),
        ("retry_config.max_attempts", -2, "max_attempts must be -1"),
        ("retry_config.max_doublings", -1, "max_doublings must not be negative"),
        ("retry_config.min_backoff.seconds", 7200, "min_backoff must not be greater"),
        ("retry_config.max_retry_duration.seconds", -1, "max_retry_duration must not be negative"),
    ],
)
def test_bad_queue_configs(field: str, value: Any, message: str) -> None:
    queue = api.Queue(name="projects/p/locations/l/queues/q")
    *path, last = field.split(".")
    target = queue
    for part in path:
        target = getattr(target, part)
    setattr(target, last, value)
    with pytest.raises(ApiError, match=message) as caught:
        validation.check_queue_config(queue)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"queue.{field.split('.seconds')[0]}" in caught.value.message or "min_backoff" in field


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda t: setattr(t.uri_override, "host", ""), "uri_override.host cannot be an empty"),
        (lambda t: setattr(t.uri_override, "port", 70000), "uri_override.port must be between"),
        (
            lambda t: setattr(t.oidc_token, "service_account_email", "sa@p.iam"),
            "oidc_token needs both service_account_email and audience",
        ),
        (
            lambda t: t.header_overrides.add(header={"key": "X-CloudTasks-A", "value": "1"}),
            "queue.http_target.header_overrides: 'X-CloudTasks-A' is reserved",
        ),
    ],
)
def test_bad_queue_level_http_targets(setup: Any, message: str) -> None:
    queue = api.Queue(name="projects/p/locations/l/queues/q")
    setup(queue.http_target)
    with pytest.raises(ApiError, match=message) as caught:
        validation.check_queue_config(queue)
    assert caught.value.code == grpc.StatusCode.INVALID_ARGUMENT


def test_a_queue_level_http_target_is_kept() -> None:
    queue = api.Queue(name="projects/p/locations/l/queues/q")
    queue.http_target.uri_override.host = "worker.example"
    queue.http_target.oidc_token.service_account_email = "sa@p.iam.gserviceaccount.com"
    queue.http_target.oidc_token.audience = "https://worker.example"
    validation.check_queue_config(queue)
    assert queue.http_target.uri_override.host == "worker.example"


@given(
    url=st.text(max_size=3000),
    headers=st.dictionaries(st.text(max_size=40), st.text(max_size=200), max_size=5),
    body=st.binary(max_size=100),
    method=st.integers(min_value=0, max_value=9),
)
def test_any_http_request_is_accepted_or_invalid_argument(
    url: str, headers: dict[str, str], body: bytes, method: int
) -> None:
    task = _task(url=url, body=body, headers=headers, http_method=method)
    try:
        validation.check_new_task(task, now_s=NOW_S)
    except ApiError as e:
        error = e
    else:
        assert task.http_request.url.startswith(("http://", "https://"))
        assert task.dispatch_deadline.seconds == 600
        return
    assert error.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "task" in error.message


def test_a_task_may_leave_its_url_to_a_queue_that_sets_the_host() -> None:
    validation.check_new_task(_task(url=""), now_s=NOW_S, queue_sets_host=True)
    _fails(_task(url=""), "task.http_request.url is required")
