"""The API the emulator serves, as one interface both wire adapters call.

``CloudTasksApi`` has one method per RPC of ``google.cloud.tasks.v2.CloudTasks`` that an
HTTP-target user calls, and of the two mixins its client uses (``google.cloud.location.Locations``
and ``google.longrunning.Operations``: see ``GRPC_SERVICES``). Each takes the RPC's request and
returns its response as the *raw* protobuf messages that google-cloud-tasks ships
(``cloudtasks.CreateTaskRequest.pb()`` and so on), so the gRPC adapter (``grpc_api``) and the
REST adapter (``rest_api``) only translate the wire and the service (``service``) holds every rule.
A failure is raised as ``errors.ApiError``.
"""

from __future__ import annotations

from typing import Any, Protocol

from google.cloud.location import locations_pb2
from google.cloud.tasks_v2.types import cloudtasks, cmek_config, queue, task
from google.longrunning import operations_pb2  # type: ignore[import-untyped]
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
BatchCreateTasksRequest: Any = cloudtasks.BatchCreateTasksRequest.pb()
BatchCreateTasksResponse: Any = cloudtasks.BatchCreateTasksResponse.pb()
BatchCreateTasksMetadata: Any = cloudtasks.BatchCreateTasksMetadata.pb()
BatchDeleteTasksRequest: Any = cloudtasks.BatchDeleteTasksRequest.pb()
BatchDeleteTasksMetadata: Any = cloudtasks.BatchDeleteTasksMetadata.pb()
GetCmekConfigRequest: Any = cloudtasks.GetCmekConfigRequest.pb()
UpdateCmekConfigRequest: Any = cloudtasks.UpdateCmekConfigRequest.pb()
CmekConfig: Any = cmek_config.CmekConfig.pb()
Queue: Any = queue.Queue.pb()
Task: Any = task.Task.pb()
Empty = empty_pb2.Empty
Operation = operations_pb2.Operation
GetOperationRequest = operations_pb2.GetOperationRequest
ListOperationsRequest = operations_pb2.ListOperationsRequest
ListOperationsResponse = operations_pb2.ListOperationsResponse
DeleteOperationRequest = operations_pb2.DeleteOperationRequest
CancelOperationRequest = operations_pb2.CancelOperationRequest
Location = locations_pb2.Location
GetLocationRequest = locations_pb2.GetLocationRequest
ListLocationsRequest = locations_pb2.ListLocationsRequest
ListLocationsResponse = locations_pb2.ListLocationsResponse


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
    def batch_create_tasks(self, request: Message) -> Message: ...  # -> Operation
    def batch_delete_tasks(self, request: Message) -> Message: ...  # -> Operation
    def buffer_task(self, request: Message) -> Message: ...  # -> Task (REST only, see below)
    def get_cmek_config(self, request: Message) -> Message: ...  # -> CmekConfig
    def update_cmek_config(self, request: Message) -> Message: ...  # -> CmekConfig
    def list_locations(self, request: Message) -> Message: ...  # -> ListLocationsResponse
    def get_location(self, request: Message) -> Message: ...  # -> Location
    def get_operation(self, request: Message) -> Message: ...  # -> Operation
    def list_operations(self, request: Message) -> Message: ...  # -> ListOperationsResponse
    def delete_operation(self, request: Message) -> Message: ...  # -> Empty
    def cancel_operation(self, request: Message) -> Message: ...  # -> Empty


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
    "BatchCreateTasks": ("batch_create_tasks", BatchCreateTasksRequest, Operation),
    "BatchDeleteTasks": ("batch_delete_tasks", BatchDeleteTasksRequest, Operation),
    # BufferTask's own messages are not in the client we pin: the REST adapter turns the HTTP
    # request into a CreateTaskRequest (the queue, the task id, the body) and wraps the Task.
    "BufferTask": ("buffer_task", CreateTaskRequest, Task),
    "GetCmekConfig": ("get_cmek_config", GetCmekConfigRequest, CmekConfig),
    "UpdateCmekConfig": ("update_cmek_config", UpdateCmekConfigRequest, CmekConfig),
    "ListLocations": ("list_locations", ListLocationsRequest, ListLocationsResponse),
    "GetLocation": ("get_location", GetLocationRequest, Location),
    "GetOperation": ("get_operation", GetOperationRequest, Operation),
    "ListOperations": ("list_operations", ListOperationsRequest, ListOperationsResponse),
    "DeleteOperation": ("delete_operation", DeleteOperationRequest, Empty),
    "CancelOperation": ("cancel_operation", CancelOperationRequest, Empty),
}
SERVICE_NAME = "google.cloud.tasks.v2.CloudTasks"
_LOCATIONS = "google.cloud.location.Locations"
_OPERATIONS = "google.longrunning.Operations"
# The gRPC service each RPC is served under (None: REST only); CloudTasks unless named here.
GRPC_SERVICES: dict[str, str | None] = {
    **{rpc: SERVICE_NAME for rpc in RPCS},
    "BufferTask": None,
    "ListLocations": _LOCATIONS,
    "GetLocation": _LOCATIONS,
    "GetOperation": _OPERATIONS,
    "ListOperations": _OPERATIONS,
    "DeleteOperation": _OPERATIONS,
    "CancelOperation": _OPERATIONS,
}
