"""The console's buttons, each one RPC of the service (the same code gRPC and REST call).

run     RunTask       a task, now, whatever its schedule (and in a paused queue)
delete  DeleteTask    a task; its name stays reserved
pause   PauseQueue    a queue holds its tasks
resume  ResumeQueue
purge   PurgeQueue    every task of a queue; needs ``confirm`` = the queue's id
"""

from __future__ import annotations

from collections.abc import Callable

from google.protobuf.message import Message

from tasks_emulator import api
from tasks_emulator.api import CloudTasksApi
from tasks_emulator.console.views import BadQueryError, short_id

_Call = Callable[[CloudTasksApi, str], Message]

_CALLS: dict[str, tuple[_Call, str]] = {
    "run": (lambda s, n: s.run_task(api.RunTaskRequest(name=n)), "task {id} runs now"),
    "delete": (lambda s, n: s.delete_task(api.DeleteTaskRequest(name=n)), "task {id} deleted"),
    "pause": (lambda s, n: s.pause_queue(api.PauseQueueRequest(name=n)), "queue {id} paused"),
    "resume": (lambda s, n: s.resume_queue(api.ResumeQueueRequest(name=n)), "queue {id} resumed"),
    "purge": (lambda s, n: s.purge_queue(api.PurgeQueueRequest(name=n)), "queue {id} purged"),
}
ACTIONS = tuple(_CALLS)


def perform(action: str, *, name: str, confirm: str, service: CloudTasksApi) -> str:
    """Do ``action`` on ``name``; what the page says it did.

    Raised if the action is unknown or a purge is not confirmed: ``BadQueryError``; if the
    service refuses: its ``ApiError``.
    """
    if action not in _CALLS:
        raise BadQueryError(f"no action {action!r}; there are: {', '.join(ACTIONS)}")
    if not name:
        raise BadQueryError("name the queue or task")
    if action == "purge" and confirm != short_id(name):
        raise BadQueryError(f"to purge, confirm with the queue's id ({short_id(name)})")
    call, said = _CALLS[action]
    call(service, name)
    return said.format(id=short_id(name))
