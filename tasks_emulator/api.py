"""The API the emulator serves, as one interface both wire adapters call.

``CloudTasksApi`` has one method per RPC of ``google.cloud.tasks.v2.CloudTasks`` that an
HTTP-target user calls. Each takes the RPC's request and returns its response as the *raw*
protobuf messages that google-cloud-tasks ships (``cloudtasks.CreateTaskRequest.pb()`` and so on),
so the gRPC adapter (``grpc_api``) and the REST adapter (``rest_api``) only translate the wire and
the service (``service``) holds every rule. A failure is raised as ``errors.ApiError``.
"""

from __future__ import annotations

from typing import Any, Protocol

from google.cloud.tasks_v2.types import cloudtasks, queue, task
from google.protobuf import empty_pb2
from google.protobuf.message import Message

# The raw protobuf classes (proto-plus generates them at import; they have no _pb2 module).
CreateQueueRequest: Any = cloudtasks.CreateQueueRequest.pb()
GetQueueRequest: Any = cloudtasks.GetQueueRequest.pb()
ListQueuesRequest: Any = cloudtasks.ListQueuesRequest.pb()
ListQueuesResponse: Any = cloudtasks.ListQueuesResponse.pb()
UpdateQueueRequest: Any = cloudtasks.UpdateQueueRequest.pb()
DeleteQueueRequest: Any = cloudtasks.DeleteQueueRequest.pb()
PurgeQueueRequest: Any = cloudtasks.PurgeQueueRequest.pb()
PauseQueueRequest: Any = cloudtasks.PauseQueueRequest.pb()
ResumeQueueRequest: Any = cloudtasks.ResumeQueueRequest.pb()
CreateTaskRequest: Any = cloudtasks.CreateTaskRequest.pb()
GetTaskRequest: Any = cloudtasks.GetTaskRequest.pb()
ListTasksRequest: Any = cloudtasks.ListTasksRequest.pb()
ListTasksResponse: Any = cloudtasks.ListTasksResponse.pb()
DeleteTaskRequest: Any = cloudtasks.DeleteTaskRequest.pb()
RunTaskRequest: Any = cloudtasks.RunTaskRequest.pb()
Queue: Any = queue.Queue.pb()
Task: Any = task.Task.pb()
Empty = empty_pb2.Empty


class CloudTasksApi(Protocol):
    """One method per RPC; arguments and results are raw protobuf messages (see above)."""

    def create_queue(self, request: Message) -> Message: ...  # -> Queue
    def get_queue(self, request: Message) -> Message: ...  # -> Queue
    def list_queues(self, request: Message) -> Message: ...  # -> ListQueuesResponse
    def update_queue(self, request: Message) -> Message: ...  # -> Queue
    def delete_queue(self, request: Message) -> Message: ...  # -> Empty
    def purge_queue(self, request: Message) -> Message: ...  # -> Queue
    def pause_queue(self, request: Message) -> Message: ...  # -> Queue
    def resume_queue(self, request: Message) -> Message: ...  # -> Queue
    def create_task(self, request: Message) -> Message: ...  # -> Task
    def get_task(self, request: Message) -> Message: ...  # -> Task
    def list_tasks(self, request: Message) -> Message: ...  # -> ListTasksResponse
    def delete_task(self, request: Message) -> Message: ...  # -> Empty
    def run_task(self, request: Message) -> Message: ...  # -> Task


# RPC name on the wire -> (service method name, request class, response class).
RPCS: dict[str, tuple[str, Any, Any]] = {
    "CreateQueue": ("create_queue", CreateQueueRequest, Queue),
    "GetQueue": ("get_queue", GetQueueRequest, Queue),
    "ListQueues": ("list_queues", ListQueuesRequest, ListQueuesResponse),
    "UpdateQueue": ("update_queue", UpdateQueueRequest, Queue),
    "DeleteQueue": ("delete_queue", DeleteQueueRequest, Empty),
    "PurgeQueue": ("purge_queue", PurgeQueueRequest, Queue),
    "PauseQueue": ("pause_queue", PauseQueueRequest, Queue),
    "ResumeQueue": ("resume_queue", ResumeQueueRequest, Queue),
    "CreateTask": ("create_task", CreateTaskRequest, Task),
    "GetTask": ("get_task", GetTaskRequest, Task),
    "ListTasks": ("list_tasks", ListTasksRequest, ListTasksResponse),
    "DeleteTask": ("delete_task", DeleteTaskRequest, Empty),
    "RunTask": ("run_task", RunTaskRequest, Task),
}
SERVICE_NAME = "google.cloud.tasks.v2.CloudTasks"
