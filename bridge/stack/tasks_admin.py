"""Reading and steering the Cloud Tasks emulator's queues, over an insecure gRPC channel."""

from __future__ import annotations

from typing import Any

import grpc
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport


class TasksAdmin:
    """ListTasks / PauseQueue / ResumeQueue / PurgeQueue against ``host`` (``127.0.0.1:PORT``)."""

    def __init__(self, host: str, *, timeout_s: float = 5.0) -> None:
        self._channel = grpc.insecure_channel(host)
        self._client: Any = tasks_v2.CloudTasksClient(
            transport=CloudTasksGrpcTransport(channel=self._channel)
        )
        self._timeout_s = timeout_s

    def list_tasks(self, queue_path: str) -> list[Any]:
        """Every task the emulator holds for the queue (pending ones: dispatched ones are gone)."""
        request = tasks_v2.ListTasksRequest(
            parent=queue_path, response_view=tasks_v2.Task.View.FULL
        )
        return list(self._client.list_tasks(request=request, timeout=self._timeout_s))

    def list_queues(self, location_path: str) -> list[str]:
        queues = self._client.list_queues(parent=location_path, timeout=self._timeout_s)
        return [queue.name for queue in queues]

    def pause(self, queue_path: str) -> None:
        self._client.pause_queue(name=queue_path, timeout=self._timeout_s)

    def resume(self, queue_path: str) -> None:
        self._client.resume_queue(name=queue_path, timeout=self._timeout_s)

    def purge(self, queue_path: str) -> None:
        self._client.purge_queue(name=queue_path, timeout=self._timeout_s)

    def close(self) -> None:
        self._channel.close()
