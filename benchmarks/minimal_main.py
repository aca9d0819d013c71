"""The throughput baselines: functions that only create one fixed task per message.

Served by functions-framework exactly as ``main.py`` is (``Stack(source=..., target="minimal")``),
with the same environment and the same collector settings (``bridge.heap``). No decoding,
validation, naming or rejection: one CreateTask of a fixed HTTP task (queue-brain, fixed URL and
body, no name, so the emulator never sees a repeated name) through the same kind of client the
bridge uses, and one JSON log line, so that the benchmark counts its ``created`` outcomes exactly
as it counts the bridge's.

- ``minimal`` (Flask, a thread per request): the synchronous ``CloudTasksClient``.
- ``minimal_async`` (``functions_framework.aio``, one event loop): ``CloudTasksAsyncClient`` over
  grpc.aio. An HTTP function: functions-framework's ASGI CloudEvent wrapper refuses raw pushes, and
  the baseline must take every push the bridge takes.
- ``noop`` / ``noop_async``: the same log line, no task: the ceilings of Pub/Sub push +
  functions-framework (Flask / ASGI) on this machine, to tell the emulators' limits from the
  function's.
"""

from __future__ import annotations

import json
import os
import sys
from time import perf_counter
from typing import Any

import functions_framework
import functions_framework.aio
import grpc
from cloudevents.http import CloudEvent
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import (
    CloudTasksGrpcAsyncIOTransport,
    CloudTasksGrpcTransport,
)
from starlette.requests import Request

from bridge.heap import settle_after_cold_start

_QUEUE = (
    f"projects/{os.environ['PROJECT_ID']}/locations/{os.environ['TASKS_REGION']}"
    f"/queues/{os.environ['QUEUE_BRAIN']}"
)
_TASK = tasks_v2.Task(
    http_request=tasks_v2.HttpRequest(
        http_method=tasks_v2.HttpMethod.POST,
        url=os.environ["URL_BRAIN"],
        headers={"Content-Type": "application/json"},
        body=b'{"fixed": true}',
    )
)
# Built once, as a program creating one fixed task would: the call is all that is left per message.
_REQUEST = tasks_v2.CreateTaskRequest(parent=_QUEUE, task=_TASK)
_client = tasks_v2.CloudTasksClient(
    transport=CloudTasksGrpcTransport(
        channel=grpc.insecure_channel(os.environ["CLOUD_TASKS_EMULATOR_HOST"]),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
)
_async_client: Any = None  # created in the serving process's event loop, on the first call
settle_after_cold_start()  # the bridge's collector settings: a baseline must not lack them


@functions_framework.cloud_event
def minimal(event: CloudEvent) -> None:
    started = perf_counter()
    created = _client.create_task(request=_REQUEST, timeout=10.0)
    _log(event.get("id"), created.name, started)


@functions_framework.cloud_event
def noop(event: CloudEvent) -> None:
    _log(event.get("id"), "", perf_counter())


@functions_framework.aio.http
async def minimal_async(request: Request) -> str:
    global _async_client
    started = perf_counter()
    await request.body()
    if _async_client is None:
        _async_client = tasks_v2.CloudTasksAsyncClient(
            transport=CloudTasksGrpcAsyncIOTransport(
                channel=grpc.aio.insecure_channel(os.environ["CLOUD_TASKS_EMULATOR_HOST"]),
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
            )
        )
    created = await _async_client.create_task(request=_REQUEST, timeout=10.0)
    _log(request.headers.get("ce-id"), created.name, started)
    return "OK"


@functions_framework.aio.http
async def noop_async(request: Request) -> str:
    await request.body()
    _log(request.headers.get("ce-id"), "", perf_counter())
    return "OK"


def _log(message_id: str | None, task: str, started: float) -> None:
    line = {
        "outcome": "created",
        "message_id": message_id,
        "task": task,
        "latency_ms": round((perf_counter() - started) * 1000, 2),
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
