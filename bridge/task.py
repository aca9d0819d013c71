"""TaskSpec -> the CreateTaskRequest protobuf, built with the raw ``_pb2`` classes.

The proto-plus wrappers cost about 2.5x the raw messages per build; the gateway wraps the result
without copying (``CreateTaskRequest.wrap``).
"""

from __future__ import annotations

from typing import Any

from google.cloud.tasks_v2.types import cloudtasks, target, task
from google.protobuf import duration_pb2, timestamp_pb2

from bridge.plan import TaskSpec

_CreateTaskRequest: Any = cloudtasks.CreateTaskRequest.pb()
_Task: Any = task.Task.pb()
_HttpRequest: Any = target.HttpRequest.pb()
_OidcToken: Any = target.OidcToken.pb()
_POST = int(target.HttpMethod.POST)


def build_request(spec: TaskSpec) -> Any:
    """The raw ``google.cloud.tasks.v2.CreateTaskRequest`` message for ``spec``."""
    http_request = _HttpRequest(
        url=spec.route.url,
        http_method=_POST,
        headers=spec.headers,
        body=spec.body,
        oidc_token=_OidcToken(service_account_email=spec.caller_sa, audience=spec.route.audience),
    )
    new_task = _Task(
        name=spec.task_name,
        http_request=http_request,
        dispatch_deadline=duration_pb2.Duration(seconds=spec.deadline_s),
    )
    if spec.schedule_time is not None:
        stamp = timestamp_pb2.Timestamp()
        stamp.FromDatetime(spec.schedule_time)
        new_task.schedule_time.CopyFrom(stamp)
    return _CreateTaskRequest(parent=spec.route.queue_path, task=new_task)
