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

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, TypeVar

from google.cloud.location import locations_pb2
from google.cloud.tasks_v2.types import cloudtasks, cmek_config, queue, target, task
from google.iam.v1 import iam_policy_pb2, policy_pb2  # type: ignore[import-untyped]
from google.longrunning import operations_pb2  # type: ignore[import-untyped]
from google.protobuf import empty_pb2
from google.protobuf.internal import enum_type_wrapper
from google.protobuf.message import Message
from google.rpc import status_pb2

# The raw protobuf classes: proto-plus generates google-cloud-tasks' at import (they have no _pb2
# module), and the mixins' ship untyped; the type checker reads each one's stub, generated from
# the same descriptors (``tasks_emulator/_stubs``).
if TYPE_CHECKING:
    from tasks_emulator._stubs.google.cloud.location import locations_pb2 as _locations
    from tasks_emulator._stubs.google.cloud.tasks_v2.types import cloudtasks_pb2 as _cloudtasks
    from tasks_emulator._stubs.google.cloud.tasks_v2.types import cmek_config_pb2 as _cmek_config
    from tasks_emulator._stubs.google.cloud.tasks_v2.types import queue_pb2 as _queue
    from tasks_emulator._stubs.google.cloud.tasks_v2.types import target_pb2 as _target
    from tasks_emulator._stubs.google.cloud.tasks_v2.types import task_pb2 as _task
    from tasks_emulator._stubs.google.iam.v1 import iam_policy_pb2 as _iam_policy
    from tasks_emulator._stubs.google.iam.v1 import policy_pb2 as _policy
    from tasks_emulator._stubs.google.longrunning import operations_pb2 as _operations
    from tasks_emulator._stubs.google.rpc import status_pb2 as _status

    CreateQueueRequest = _cloudtasks.CreateQueueRequest
    GetQueueRequest = _cloudtasks.GetQueueRequest
    ListQueuesRequest = _cloudtasks.ListQueuesRequest
    ListQueuesResponse = _cloudtasks.ListQueuesResponse
    UpdateQueueRequest = _cloudtasks.UpdateQueueRequest
    DeleteQueueRequest = _cloudtasks.DeleteQueueRequest
    PurgeQueueRequest = _cloudtasks.PurgeQueueRequest
    PauseQueueRequest = _cloudtasks.PauseQueueRequest
    ResumeQueueRequest = _cloudtasks.ResumeQueueRequest
    CreateTaskRequest = _cloudtasks.CreateTaskRequest
    GetTaskRequest = _cloudtasks.GetTaskRequest
    ListTasksRequest = _cloudtasks.ListTasksRequest
    ListTasksResponse = _cloudtasks.ListTasksResponse
    DeleteTaskRequest = _cloudtasks.DeleteTaskRequest
    RunTaskRequest = _cloudtasks.RunTaskRequest
    BatchCreateTasksRequest = _cloudtasks.BatchCreateTasksRequest
    BatchCreateTasksResponse = _cloudtasks.BatchCreateTasksResponse
    BatchCreateTasksMetadata = _cloudtasks.BatchCreateTasksMetadata
    BatchDeleteTasksRequest = _cloudtasks.BatchDeleteTasksRequest
    BatchDeleteTasksMetadata = _cloudtasks.BatchDeleteTasksMetadata
    GetCmekConfigRequest = _cloudtasks.GetCmekConfigRequest
    UpdateCmekConfigRequest = _cloudtasks.UpdateCmekConfigRequest
    CmekConfig = _cmek_config.CmekConfig
    Queue = _queue.Queue
    RateLimits = _queue.RateLimits
    RetryConfig = _queue.RetryConfig
    HttpRequest = _target.HttpRequest
    HttpMethod = _target.HttpMethod
    HttpTarget = _target.HttpTarget
    OAuthToken = _target.OAuthToken
    OidcToken = _target.OidcToken
    UriOverride = _target.UriOverride
    Task = _task.Task
    Attempt = _task.Attempt
    Empty = empty_pb2.Empty
    Status = _status.Status
    Operation = _operations.Operation
    GetOperationRequest = _operations.GetOperationRequest
    ListOperationsRequest = _operations.ListOperationsRequest
    ListOperationsResponse = _operations.ListOperationsResponse
    DeleteOperationRequest = _operations.DeleteOperationRequest
    CancelOperationRequest = _operations.CancelOperationRequest
    Location = _locations.Location
    GetLocationRequest = _locations.GetLocationRequest
    ListLocationsRequest = _locations.ListLocationsRequest
    ListLocationsResponse = _locations.ListLocationsResponse
    GetIamPolicyRequest = _iam_policy.GetIamPolicyRequest
    SetIamPolicyRequest = _iam_policy.SetIamPolicyRequest
    TestIamPermissionsRequest = _iam_policy.TestIamPermissionsRequest
    TestIamPermissionsResponse = _iam_policy.TestIamPermissionsResponse
    Policy = _policy.Policy
    Binding = _policy.Binding
else:
    CreateQueueRequest = cloudtasks.CreateQueueRequest.pb()
    GetQueueRequest = cloudtasks.GetQueueRequest.pb()
    ListQueuesRequest = cloudtasks.ListQueuesRequest.pb()
    ListQueuesResponse = cloudtasks.ListQueuesResponse.pb()
    UpdateQueueRequest = cloudtasks.UpdateQueueRequest.pb()
    DeleteQueueRequest = cloudtasks.DeleteQueueRequest.pb()
    PurgeQueueRequest = cloudtasks.PurgeQueueRequest.pb()
    PauseQueueRequest = cloudtasks.PauseQueueRequest.pb()
    ResumeQueueRequest = cloudtasks.ResumeQueueRequest.pb()
    CreateTaskRequest = cloudtasks.CreateTaskRequest.pb()
    GetTaskRequest = cloudtasks.GetTaskRequest.pb()
    ListTasksRequest = cloudtasks.ListTasksRequest.pb()
    ListTasksResponse = cloudtasks.ListTasksResponse.pb()
    DeleteTaskRequest = cloudtasks.DeleteTaskRequest.pb()
    RunTaskRequest = cloudtasks.RunTaskRequest.pb()
    BatchCreateTasksRequest = cloudtasks.BatchCreateTasksRequest.pb()
    BatchCreateTasksResponse = cloudtasks.BatchCreateTasksResponse.pb()
    BatchCreateTasksMetadata = cloudtasks.BatchCreateTasksMetadata.pb()
    BatchDeleteTasksRequest = cloudtasks.BatchDeleteTasksRequest.pb()
    BatchDeleteTasksMetadata = cloudtasks.BatchDeleteTasksMetadata.pb()
    GetCmekConfigRequest = cloudtasks.GetCmekConfigRequest.pb()
    UpdateCmekConfigRequest = cloudtasks.UpdateCmekConfigRequest.pb()
    CmekConfig = cmek_config.CmekConfig.pb()
    Queue = queue.Queue.pb()
    RateLimits = queue.RateLimits.pb()
    RetryConfig = queue.RetryConfig.pb()
    HttpRequest = target.HttpRequest.pb()
    # target.proto's file-level enum, as a generated _pb2 module would hold it.
    HttpMethod = enum_type_wrapper.EnumTypeWrapper(
        HttpRequest.DESCRIPTOR.fields_by_name["http_method"].enum_type
    )
    HttpTarget = target.HttpTarget.pb()
    OAuthToken = target.OAuthToken.pb()
    OidcToken = target.OidcToken.pb()
    UriOverride = target.UriOverride.pb()
    Task = task.Task.pb()
    Attempt = task.Attempt.pb()
    Empty = empty_pb2.Empty
    Status = status_pb2.Status
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
    GetIamPolicyRequest = iam_policy_pb2.GetIamPolicyRequest
    SetIamPolicyRequest = iam_policy_pb2.SetIamPolicyRequest
    TestIamPermissionsRequest = iam_policy_pb2.TestIamPermissionsRequest
    TestIamPermissionsResponse = iam_policy_pb2.TestIamPermissionsResponse
    Policy = policy_pb2.Policy
    Binding = policy_pb2.Binding


_M = TypeVar("_M", bound=Message)


def copy_of(message: _M) -> _M:
    """A copy of ``message`` of the caller's own (the store and the service keep theirs)."""
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


class CloudTasksApi(Protocol):
    """One method per RPC; arguments and results are raw protobuf messages (see above).

    The wire adapters call them by name (``RPCS``), with a message the request class parsed."""

    def create_queue(self, request: CreateQueueRequest) -> Queue: ...
    def get_queue(self, request: GetQueueRequest) -> Queue: ...
    def list_queues(self, request: ListQueuesRequest) -> ListQueuesResponse: ...
    def update_queue(self, request: UpdateQueueRequest) -> Queue: ...
    def delete_queue(self, request: DeleteQueueRequest) -> Empty: ...
    def purge_queue(self, request: PurgeQueueRequest) -> Queue: ...
    def pause_queue(self, request: PauseQueueRequest) -> Queue: ...
    def resume_queue(self, request: ResumeQueueRequest) -> Queue: ...
    def create_task(self, request: CreateTaskRequest) -> Task: ...
    def get_task(self, request: GetTaskRequest) -> Task: ...
    def list_tasks(self, request: ListTasksRequest) -> ListTasksResponse: ...
    def delete_task(self, request: DeleteTaskRequest) -> Empty: ...
    def run_task(self, request: RunTaskRequest) -> Task: ...
    def batch_create_tasks(self, request: BatchCreateTasksRequest) -> Operation: ...
    def batch_delete_tasks(self, request: BatchDeleteTasksRequest) -> Operation: ...
    def buffer_task(self, request: CreateTaskRequest) -> Task: ...  # REST only, see below
    def get_iam_policy(self, request: GetIamPolicyRequest) -> Policy: ...
    def set_iam_policy(self, request: SetIamPolicyRequest) -> Policy: ...
    def test_iam_permissions(
        self, request: TestIamPermissionsRequest
    ) -> TestIamPermissionsResponse: ...
    def get_cmek_config(self, request: GetCmekConfigRequest) -> CmekConfig: ...
    def update_cmek_config(self, request: UpdateCmekConfigRequest) -> CmekConfig: ...
    def list_locations(self, request: ListLocationsRequest) -> ListLocationsResponse: ...
    def get_location(self, request: GetLocationRequest) -> Location: ...
    def get_operation(self, request: GetOperationRequest) -> Operation: ...
    def list_operations(self, request: ListOperationsRequest) -> ListOperationsResponse: ...
    def delete_operation(self, request: DeleteOperationRequest) -> Empty: ...
    def cancel_operation(self, request: CancelOperationRequest) -> Empty: ...


# A method of CloudTasksApi as the wire adapters call it: a request of its RPC's class in.
RpcMethod = Callable[[Message], Message]


def method_of(service: CloudTasksApi, rpc: str) -> RpcMethod:
    """The method of ``service`` serving ``rpc``; call it with a message of the RPC's request
    class (``RPCS``), which the adapters parse, and it answers the RPC's response class."""
    name, _, _ = RPCS[rpc]
    method: RpcMethod = getattr(service, name)  # looked up by name: RPCS says which
    return method


# RPC name on the wire -> (service method name, request class, response class).
RPCS: dict[str, tuple[str, type[Message], type[Message]]] = {
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
    "GetIamPolicy": ("get_iam_policy", GetIamPolicyRequest, Policy),
    "SetIamPolicy": ("set_iam_policy", SetIamPolicyRequest, Policy),
    "TestIamPermissions": (
        "test_iam_permissions",
        TestIamPermissionsRequest,
        TestIamPermissionsResponse,
    ),
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
