"""Production's checks and defaults for CreateTask, CreateQueue and UpdateQueue.

Pure functions on raw protobuf messages: they raise ``ApiError`` with a sentence naming the field,
or return the message with production's defaults filled in. Each limit is defined once, with its
source (googleapis' cloudtasks/queue/task/target.proto and Cloud Tasks' quotas page).
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from collections.abc import Mapping
from typing import Literal

import grpc
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tasks_emulator import api, ratelimit
from tasks_emulator.errors import ApiError

# --- Task limits -------------------------------------------------------------------------------
# cloudtasks.proto CreateTaskRequest: "schedule_time ... at most 30 days in the future".
MAX_SCHEDULE_AHEAD_S = 30 * 24 * 3600
# task.proto Task.dispatch_deadline: HTTP targets default 10 minutes, allowed [15 s, 30 min].
DEFAULT_DISPATCH_DEADLINE_S = 600
MIN_DISPATCH_DEADLINE_S = 15
MAX_DISPATCH_DEADLINE_S = 1800
# cloud.google.com/tasks/docs/quotas: maximum task size 1 MB (the proto comment says 100 KB).
MAX_TASK_BYTES = 1_000_000
# quotas page: headers < 80 KB; target.proto HttpRequest.url: at most 2083 characters.
MAX_HEADERS_BYTES = 80 * 1024
MAX_URL_CHARS = 2083
# target.proto HttpRequest.headers: these prefixes are Cloud Tasks' own and cannot be set.
RESERVED_HEADER_PREFIXES = ("x-google-", "x-appengine-", "x-cloudtasks-")
# target.proto HttpRequest.body: "A request body is allowed only if the HTTP method is POST, PUT,
# or PATCH."
METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})
# target.proto OAuthToken.scope: "If not specified, https://www.googleapis.com/auth/cloud-platform".
DEFAULT_OAUTH_SCOPE = "https://www.googleapis.com/auth/cloud-platform"

# --- Queue limits and defaults -------------------------------------------------------------------
# quotas page and queue.proto RateLimits: at most 500 dispatches/s and 5,000 concurrent per queue.
MAX_DISPATCHES_PER_S = 500.0
MAX_CONCURRENT_DISPATCHES = 5000
# The defaults gcloud shows for a new queue (gcp-facts.md, "Queue limits").
DEFAULT_DISPATCHES_PER_S = 500.0
DEFAULT_CONCURRENT_DISPATCHES = 1000
DEFAULT_MAX_ATTEMPTS = 100
DEFAULT_MIN_BACKOFF_S = 0.1
DEFAULT_MAX_BACKOFF_S = 3600.0
DEFAULT_MAX_DOUBLINGS = 16

# Everything but the body and the audience: URL, headers, the name (<= ~800 bytes), the
# times, the account, the scope, the tags.
_ROOM_BESIDES_BODY = MAX_URL_CHARS + MAX_HEADERS_BYTES + 8 * 1024
_STATE_RUNNING = api.Queue.RUNNING
_METHOD_NAMES = {1: "POST", 2: "GET", 3: "HEAD", 4: "PUT", 5: "DELETE", 6: "PATCH", 7: "OPTIONS"}
_METHOD_POST = api.HttpMethod.POST
# RFC 9110: a header name is a token; a value has no control character but the tab.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def _invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def _unimplemented(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.UNIMPLEMENTED, message)


def seconds(value: Duration | Timestamp) -> float:
    """A Duration or Timestamp message as seconds."""
    return float(value.seconds) + float(value.nanos) / 1e9


def set_seconds(field: Duration | Timestamp, value_s: float) -> None:
    whole = int(value_s // 1)
    field.seconds = whole
    field.nanos = min(999_999_999, round((value_s - whole) * 1e9))


def method_name(http_method: int) -> str:
    """The name of a target.proto ``HttpMethod`` number: POST when unspecified (0)."""
    return _METHOD_NAMES.get(http_method, "POST")


# --- Tasks -------------------------------------------------------------------------------------
def check_new_task(task: api.Task, *, now_s: float, queue_sets_host: bool = False) -> None:
    """Validate a CreateTask's ``task`` in place and fill production's defaults.

    The name is checked by the caller (``names.task_in_queue``); output-only fields are cleared.
    ``queue_sets_host``: the queue's ``http_target.uri_override`` names a host, so a task may
    leave its URL out (the override makes it at dispatch).
    """
    if task.HasField("app_engine_http_request"):
        raise _unimplemented(
            "task.app_engine_http_request: App Engine targets are out of scope of this emulator, "
            "which dispatches HTTP targets only; set task.http_request."
        )
    if not task.HasField("http_request"):
        raise _invalid("task.http_request is required: this emulator dispatches HTTP targets.")
    _check_http_request(task.http_request, url_optional=queue_sets_host)
    _check_schedule_time(task, now_s=now_s)
    _check_dispatch_deadline(task)
    for output_only in ("create_time", "first_attempt", "last_attempt", "view"):
        task.ClearField(output_only)
    task.dispatch_count = 0
    task.response_count = 0
    # Serialising a task to measure it is costly; a body this far under the limit, with the
    # URL's and headers' own limits, cannot make the task too large.
    request = task.http_request
    if len(request.body) + len(request.oidc_token.audience) > MAX_TASK_BYTES - _ROOM_BESIDES_BODY:
        size = task.ByteSize()
        if size > MAX_TASK_BYTES:
            raise _invalid(
                f"task: the task is {size} bytes, larger than the maximum task size of "
                f"{MAX_TASK_BYTES} bytes."
            )


def _check_http_request(request: api.HttpRequest, *, url_optional: bool) -> None:
    if request.url or not url_optional:
        _check_url(request.url)
    if request.http_method == 0:
        request.http_method = _METHOD_POST
    if request.http_method not in _METHOD_NAMES:
        raise _invalid(f"task.http_request.http_method {request.http_method} is not a method.")
    method = method_name(request.http_method)
    if request.body and method not in METHODS_WITH_BODY:
        raise _invalid(
            f"task.http_request.body is set but the method is {method}: a body is allowed only "
            "with POST, PUT or PATCH."
        )
    _check_headers(request.headers)
    if request.HasField("oidc_token") and not request.oidc_token.service_account_email:
        raise _invalid("task.http_request.oidc_token.service_account_email is required.")
    if request.HasField("oauth_token"):
        if not request.oauth_token.service_account_email:
            raise _invalid("task.http_request.oauth_token.service_account_email is required.")
        if not request.oauth_token.scope:
            request.oauth_token.scope = DEFAULT_OAUTH_SCOPE


@functools.lru_cache(maxsize=1024)  # tasks of one project go to a few URLs
def _check_url(url: str) -> None:
    if not url:
        raise _invalid("task.http_request.url is required.")
    if len(url) > MAX_URL_CHARS:
        raise _invalid(
            f"task.http_request.url is {len(url)} characters long; the maximum is {MAX_URL_CHARS}."
        )
    try:
        parsed = urllib.parse.urlsplit(url)
        hostname = parsed.hostname
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a port
    except ValueError as e:
        raise _invalid(f"task.http_request.url is not a valid URL: {e}.") from e
    if parsed.scheme not in ("http", "https") or not hostname:
        raise _invalid(
            "task.http_request.url must start with 'http://' or 'https://' and name a host: "
            f"{url!r}."
        )


def _check_headers(headers: Mapping[str, str], *, field: str = "task.http_request.headers") -> None:
    size = 0
    for key, value in headers.items():
        size += len(key.encode()) + len(value.encode())
        if not key or any(c in key for c in " \t\r\n:"):
            raise _invalid(f"{field}: {key!r} is not a valid header name.")
        if "\r" in value or "\n" in value:
            raise _invalid(f"{field}: the value of {key!r} contains a newline.")
        if _CONTROL.search(value):
            # RFC 9110 field values: visible characters, spaces and tabs; a NUL or another
            # control character would reach no worker intact (HTTP libraries refuse it).
            raise _invalid(f"{field}: the value of {key!r} contains a control character.")
        if not _TOKEN.fullmatch(key):
            raise _invalid(f"{field}: {key!r} is not a valid header name.")
        if key.lower().startswith(RESERVED_HEADER_PREFIXES):
            raise _invalid(
                f"{field}: {key!r} is reserved (X-Google-*, X-AppEngine-* and "
                "X-CloudTasks-* headers are set by Cloud Tasks)."
            )
    if size >= MAX_HEADERS_BYTES:
        raise _invalid(f"{field} total {size} bytes; they must be under {MAX_HEADERS_BYTES}.")


def _check_schedule_time(task: api.Task, *, now_s: float) -> None:
    if not task.HasField("schedule_time") or seconds(task.schedule_time) <= 0:
        set_seconds(task.schedule_time, now_s)
        return
    if seconds(task.schedule_time) > now_s + MAX_SCHEDULE_AHEAD_S:
        raise _invalid(
            "task.schedule_time is more than 30 days in the future; the maximum is 30 days ahead."
        )
    if not 0 <= task.schedule_time.nanos < 1_000_000_000:
        raise _invalid("task.schedule_time.nanos must be in [0, 999999999].")


def _check_dispatch_deadline(task: api.Task) -> None:
    if not task.HasField("dispatch_deadline"):
        task.dispatch_deadline.seconds = DEFAULT_DISPATCH_DEADLINE_S
        return
    deadline_s = seconds(task.dispatch_deadline)
    if not MIN_DISPATCH_DEADLINE_S <= deadline_s <= MAX_DISPATCH_DEADLINE_S:
        raise _invalid(
            f"task.dispatch_deadline is {deadline_s:g} s; for HTTP targets it must be between "
            f"{MIN_DISPATCH_DEADLINE_S} seconds and {MAX_DISPATCH_DEADLINE_S // 60} minutes."
        )


# --- Queues ------------------------------------------------------------------------------------
def check_queue_config(queue: api.Queue) -> None:
    """Validate a queue's settable fields (CreateQueue, UpdateQueue) and fill the defaults.

    Zero values mean "unspecified" in proto3, so they take production's defaults, as they do in
    production when a queue is created.
    """
    if queue.HasField("app_engine_routing_override"):
        raise _unimplemented(
            "queue.app_engine_routing_override: App Engine targets are out of scope of this "
            "emulator, which dispatches HTTP targets only."
        )
    if queue.HasField("http_target"):
        _check_http_target(queue.http_target)
    _check_rate_limits(queue.rate_limits)
    _check_retry_config(queue.retry_config)
    if queue.state == 0:
        queue.state = _STATE_RUNNING


def _check_http_target(target: api.HttpTarget) -> None:
    """queue.proto HttpTarget: the overrides must make sense on their own."""
    field = "queue.http_target"
    uri = target.uri_override
    if target.HasField("uri_override"):
        if uri.HasField("host") and not uri.host:
            raise _invalid(f"{field}.uri_override.host cannot be an empty string.")
        if uri.HasField("port") and not 0 <= uri.port <= 65535:
            raise _invalid(f"{field}.uri_override.port must be between 0 and 65535.")
        if uri.HasField("scheme") and uri.scheme not in (1, 2):
            raise _invalid(f"{field}.uri_override.scheme must be HTTP or HTTPS.")
    if target.http_method and target.http_method not in _METHOD_NAMES:
        raise _invalid(f"{field}.http_method {target.http_method} is not a method.")
    headers = {o.header.key: o.header.value for o in target.header_overrides}
    _check_headers(headers, field=f"{field}.header_overrides")
    # HttpTarget: both the account and the audience (or scope) MUST be set at the queue level.
    if target.HasField("oidc_token") and not (
        target.oidc_token.service_account_email and target.oidc_token.audience
    ):
        raise _invalid(
            f"{field}.oidc_token needs both service_account_email and audience at the queue level."
        )
    if target.HasField("oauth_token") and not (
        target.oauth_token.service_account_email and target.oauth_token.scope
    ):
        raise _invalid(
            f"{field}.oauth_token needs both service_account_email and scope at the queue level."
        )


def _check_rate_limits(rate_limits: api.RateLimits) -> None:
    rate = rate_limits.max_dispatches_per_second
    if rate < 0 or rate != rate:  # NaN compares unequal to itself
        raise _invalid("queue.rate_limits.max_dispatches_per_second must be positive.")
    if rate > MAX_DISPATCHES_PER_S:
        raise _invalid(
            f"queue.rate_limits.max_dispatches_per_second is {rate:g}; the maximum is "
            f"{MAX_DISPATCHES_PER_S:g}."
        )
    if rate == 0:
        rate_limits.max_dispatches_per_second = DEFAULT_DISPATCHES_PER_S
    concurrent = rate_limits.max_concurrent_dispatches
    if concurrent < 0:
        raise _invalid("queue.rate_limits.max_concurrent_dispatches must be positive.")
    if concurrent > MAX_CONCURRENT_DISPATCHES:
        raise _invalid(
            f"queue.rate_limits.max_concurrent_dispatches is {concurrent}; the maximum is "
            f"{MAX_CONCURRENT_DISPATCHES}."
        )
    if concurrent == 0:
        rate_limits.max_concurrent_dispatches = DEFAULT_CONCURRENT_DISPATCHES
    # queue.proto RateLimits.max_burst_size: output only, derived from the rate.
    rate_limits.max_burst_size = ratelimit.max_burst_for(rate_limits.max_dispatches_per_second)


def _check_retry_config(retry: api.RetryConfig) -> None:
    if retry.max_attempts < -1:
        raise _invalid("queue.retry_config.max_attempts must be -1 (unlimited) or positive.")
    if retry.max_attempts == 0:
        retry.max_attempts = DEFAULT_MAX_ATTEMPTS
    durations: tuple[Literal["max_retry_duration", "min_backoff", "max_backoff"], ...] = (
        "max_retry_duration",
        "min_backoff",
        "max_backoff",
    )
    for field in durations:
        duration: Duration = getattr(retry, field)
        if duration.seconds < 0 or duration.nanos < 0:
            raise _invalid(f"queue.retry_config.{field} must not be negative.")
    if seconds(retry.min_backoff) == 0:
        set_seconds(retry.min_backoff, DEFAULT_MIN_BACKOFF_S)
    if seconds(retry.max_backoff) == 0:
        set_seconds(retry.max_backoff, DEFAULT_MAX_BACKOFF_S)
    if seconds(retry.min_backoff) > seconds(retry.max_backoff):
        raise _invalid(
            "queue.retry_config.min_backoff must not be greater than "
            "queue.retry_config.max_backoff."
        )
    if retry.max_doublings < 0:
        raise _invalid("queue.retry_config.max_doublings must not be negative.")
    if retry.max_doublings == 0:
        retry.max_doublings = DEFAULT_MAX_DOUBLINGS
    # max_retry_duration 0 means no time limit: it stays 0.
