"""TaskSpec -> the CreateTaskRequest protobuf, built with the raw ``_pb2`` classes.

The proto-plus wrappers cost about 2.5x the raw messages per build; the gateway wraps the result
without copying (``CreateTaskRequest.wrap``). What a request shares with every other one of its
route (queue, URL, method, OIDC identity) is built once, and each request starts as a copy of
that: nested messages built from keyword arguments cost five times the copy.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from google.cloud.tasks_v2.types import cloudtasks, target, task

from bridge.config import Route
from bridge.plan import TaskSpec

_CreateTaskRequest: Any = cloudtasks.CreateTaskRequest.pb()
_Task: Any = task.Task.pb()
_HttpRequest: Any = target.HttpRequest.pb()
_OidcToken: Any = target.OidcToken.pb()
_POST = int(target.HttpMethod.POST)


def build_request(spec: TaskSpec) -> Any:
    """The raw ``google.cloud.tasks.v2.CreateTaskRequest`` message for ``spec``."""
    request = _CreateTaskRequest()
    request.CopyFrom(_route_request(spec.route, caller_sa=spec.caller_sa))
    new_task = request.task
    new_task.name = spec.task_name
    new_task.dispatch_deadline.seconds = spec.deadline_s
    if spec.schedule_time is not None:
        new_task.schedule_time.FromDatetime(spec.schedule_time)
    http_request = new_task.http_request
    http_request.body = spec.body
    headers = http_request.headers
    for name, value in spec.headers.items():
        headers[name] = value
    return request


@cache  # one per route (and caller): the settings hold a handful
def _route_request(route: Route, *, caller_sa: str) -> Any:
    """What every request of ``route`` has in common; copied, never sent or changed."""
    return _CreateTaskRequest(
        parent=route.queue_path,
        task=_Task(
            http_request=_HttpRequest(
                url=route.url,
                http_method=_POST,
                oidc_token=_OidcToken(service_account_email=caller_sa, audience=route.audience),
            )
        ),
    )
