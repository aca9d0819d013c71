"""tasks_emulator's protobuf stubs (``tasks_emulator/_stubs``, written by ``make typecheck``) are
generated from the pinned packages' descriptors: they type the fields the emulator reads, under
the package the emulator's ``api`` imports them from.
"""

from __future__ import annotations

from tasks_emulator._stubs.generate import stubs


def test_the_stubs_type_the_fields_the_emulator_reads() -> None:
    task = stubs()["google/cloud/tasks_v2/types/task_pb2.pyi"]
    assert "class Task(_message.Message):" in task
    assert "dispatch_count: _builtins.int" in task
    assert "from tasks_emulator._stubs.google.cloud.tasks_v2.types import target_pb2" in task
