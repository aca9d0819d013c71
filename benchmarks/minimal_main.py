"""The throughput baseline: a CloudEvent function that only creates one fixed task per message.

Served by functions-framework exactly as ``main.py`` is (``Stack(source=..., target="minimal")``),
with the same environment. No decoding, validation, naming or rejection: one CreateTask of a fixed
HTTP task (queue-brain, fixed URL and body, no name, so the emulator never sees a repeated name)
through the same kind of client the bridge uses, and one JSON log line, so that the benchmark
counts its ``created`` outcomes exactly as it counts the bridge's.

``noop`` creates nothing and logs the same line: the ceiling of Pub/Sub push + functions-framework
on this machine, to tell the emulators' limits from the function's.
"""

from __future__ import annotations

import json
import os
import sys
from time import perf_counter

import functions_framework
import grpc
from cloudevents.http import CloudEvent
from google.auth.credentials import AnonymousCredentials
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

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
_client = tasks_v2.CloudTasksClient(
    transport=CloudTasksGrpcTransport(
        channel=grpc.insecure_channel(os.environ["CLOUD_TASKS_EMULATOR_HOST"]),
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
    )
)


@functions_framework.cloud_event
def minimal(event: CloudEvent) -> None:
    started = perf_counter()
    created = _client.create_task(parent=_QUEUE, task=_TASK, timeout=10.0)
    _log(event, created.name, started)


@functions_framework.cloud_event
def noop(event: CloudEvent) -> None:
    _log(event, "", perf_counter())


def _log(event: CloudEvent, task: str, started: float) -> None:
    line = {
        "outcome": "created",
        "message_id": event.get("id"),
        "task": task,
        "latency_ms": round((perf_counter() - started) * 1000, 2),
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()
