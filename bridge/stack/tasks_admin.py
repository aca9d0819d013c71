"""Reading and steering the Cloud Tasks emulator's queues, over an insecure gRPC channel, with the
official client."""

from __future__ import annotations

from typing import Any

import grpc
from google.api_core import exceptions as api_exceptions
from google.cloud import tasks_v2
from google.cloud.tasks_v2.services.cloud_tasks.transports import CloudTasksGrpcTransport

from bridge.stack.queue_policy import QueuePolicy, update_mask


class TasksAdmin:
    """Queue and task calls against ``host`` (``127.0.0.1:PORT``)."""

    def __init__(self, host: str, *, timeout_s: float = 5.0) -> None:
        self._channel = grpc.insecure_channel(host)
        self._client: Any = tasks_v2.CloudTasksClient(
            transport=CloudTasksGrpcTransport(channel=self._channel)
        )
        self._timeout_s = timeout_s

    @property
    def client(self) -> Any:
        """The official ``CloudTasksClient`` on the emulator (for calls not wrapped here)."""
        return self._client

    def ensure_queue(self, queue_path: str, policy: QueuePolicy) -> Any:
        """Create the queue with ``policy``, or give an existing one ``policy`` (UpdateQueue)."""
        queue = policy.as_queue(queue_path)
        parent = queue_path.rsplit("/queues/", 1)[0]
        try:
            return self._client.create_queue(parent=parent, queue=queue, timeout=self._timeout_s)
        except api_exceptions.AlreadyExists:
            return self._client.update_queue(
                queue=queue, update_mask=update_mask(), timeout=self._timeout_s
            )

    def get_queue(self, queue_path: str) -> Any:
        return self._client.get_queue(name=queue_path, timeout=self._timeout_s)

    def get_task(self, task_name: str) -> Any:
        request = tasks_v2.GetTaskRequest(name=task_name, response_view=tasks_v2.Task.View.FULL)
        return self._client.get_task(request=request, timeout=self._timeout_s)

    def list_tasks(self, queue_path: str) -> list[Any]:
        """Every task the emulator holds for the queue (pending ones: dispatched ones are gone)."""
        request = tasks_v2.ListTasksRequest(
            parent=queue_path, response_view=tasks_v2.Task.View.FULL
        )
        return list(self._client.list_tasks(request=request, timeout=self._timeout_s))

    def pause(self, queue_path: str) -> None:
        self._client.pause_queue(name=queue_path, timeout=self._timeout_s)

    def resume(self, queue_path: str) -> None:
        self._client.resume_queue(name=queue_path, timeout=self._timeout_s)

    def purge(self, queue_path: str) -> None:
        self._client.purge_queue(name=queue_path, timeout=self._timeout_s)

    def close(self) -> None:
        self._channel.close()
