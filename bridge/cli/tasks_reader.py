"""The CLI's Cloud Tasks boundary: the only code of ``bridge status`` and ``bridge queues`` that
calls Cloud Tasks (it only reads), and where Cloud Tasks' errors become the CLI's (``UserError``:
5 permission denied, 6 failed), raised ``from`` them. What a NOT_FOUND means is answered here,
with the function's own rule for "reserved?" (``bridge.gateway.is_reserved``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from google.api_core import exceptions as api

from bridge.cli.exits import EXIT_DENIED, EXIT_FAILED, UserError
from bridge.cli.tasks_view import NEVER, NO_QUEUE, RECENTLY
from bridge.config import Settings
from bridge.gateway import is_reserved, make_client, status_of
from bridge.limits import MAX_LIST_TASKS_PAGE

T = TypeVar("T")


def queue_of(task_name: str) -> str:
    return task_name.split("/tasks/")[0]


class TasksReader:
    """Reads tasks and queues; raised on any failure but NOT_FOUND: ``UserError``."""

    def __init__(self, client: Any, *, timeout_s: float) -> None:
        self._client = client
        self._timeout_s = timeout_s

    @classmethod
    def for_settings(cls, settings: Settings, *, timeout_s: float) -> TasksReader:
        """One client for the command, on ``CLOUD_TASKS_EMULATOR_HOST`` when set."""
        return cls(make_client(settings.tasks_emulator_host), timeout_s=timeout_s)

    def task(self, name: str, *, full: bool) -> tuple[Any, str | None]:
        """(the task, None), or (None, ``recently`` | ``never`` | ``no_queue``) when NOT_FOUND.
        ``full`` reads the body too (FULL view: payloads carry personal data)."""
        from google.cloud import tasks_v2

        view = tasks_v2.Task.View.FULL if full else tasks_v2.Task.View.BASIC
        request = {"name": name, "response_view": view}
        try:
            with self._translated(f"GetTask {name}"):
                return self._client.get_task(request=request, timeout=self._timeout_s), None
        except _NotFound as e:
            if is_reserved(e.error, name_taken=False):
                return None, RECENTLY
        if self.queue(queue_of(name)) is None:
            return None, NO_QUEUE  # GetQueue tells, whatever words GetTask's NOT_FOUND used
        return None, NEVER

    def queue(self, queue: str) -> Any | None:
        """The ``tasks_v2.Queue``, or None when it does not exist."""
        try:
            with self._translated(f"GetQueue {queue}"):
                return self._client.get_queue(name=queue, timeout=self._timeout_s)
        except _NotFound:
            return None

    def queue_state(self, queue: str) -> str | None:
        """The queue's state (RUNNING, PAUSED, ...); None when it cannot be read (then unsaid)."""
        try:
            found = self.queue(queue)
        except UserError:
            return None
        return str(found.state.name) if found is not None else None

    def count_tasks(self, queue: str, *, max_count: int) -> tuple[int, bool]:
        """(tasks counted, whether the scan stopped at ``max_count`` before the end).
        Raised if the queue does not exist too: ``UserError``."""
        counted, token = 0, ""
        while True:
            request = {
                "parent": queue,
                "page_size": min(MAX_LIST_TASKS_PAGE, max_count),
                "page_token": token,
            }
            page = self._call(f"ListTasks {queue}", self._client.list_tasks, request)
            counted += len(page.tasks)
            token = page.next_page_token
            if not token:
                return counted, False
            if counted >= max_count:
                return counted, True

    def _call(self, doing: str, method: Callable[..., T], request: Any) -> T:
        try:
            with self._translated(doing):
                return method(request=request, timeout=self._timeout_s)
        except _NotFound as e:
            raise tasks_failure(e.error, doing=doing) from e.error

    @contextmanager
    def _translated(self, doing: str) -> Iterator[None]:
        """Cloud Tasks' errors as the CLI's; NOT_FOUND as ``_NotFound``, for the caller to read."""
        try:
            yield
        except api.GoogleAPIError as e:
            if status_of(e) == "NOT_FOUND":
                raise _NotFound(e) from e
            raise tasks_failure(e, doing=doing) from e


class _NotFound(Exception):
    """Raised if Cloud Tasks answered NOT_FOUND (never leaves this module)."""

    def __init__(self, error: api.GoogleAPIError) -> None:
        super().__init__(str(error))
        self.error = error


def tasks_failure(error: api.GoogleAPIError, *, doing: str) -> UserError:
    """A Cloud Tasks error as the CLI's: 5 permission denied, else 6."""
    status = status_of(error)
    message = getattr(error, "message", None) or str(error)
    if status in {"PERMISSION_DENIED", "UNAUTHENTICATED"}:
        return UserError(
            f"{doing}: permission denied (GetTask needs cloudtasks.tasks.get, ListTasks "
            f"cloudtasks.tasks.list: roles/cloudtasks.viewer): {message}",
            EXIT_DENIED,
        )
    cause = status or type(error).__name__
    return UserError(f"{doing}: Cloud Tasks failed ({cause}): {message}", EXIT_FAILED)
