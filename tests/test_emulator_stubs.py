"""tasks_emulator's checked-in protobuf stubs are what the pinned packages' descriptors generate.

The stubs (``tasks_emulator/_stubs``) type the raw messages the emulator handles; a pin that moves
(google-cloud-tasks, googleapis-common-protos, grpc-google-iam-v1, mypy-protobuf) changes them,
and then this test says to run ``python -m tasks_emulator._stubs.generate``.
"""

from __future__ import annotations

from tasks_emulator._stubs.generate import HERE, stubs

REGENERATE = "stale stubs: run .venv/bin/python -m tasks_emulator._stubs.generate"


def test_the_checked_in_stubs_are_the_generated_ones() -> None:
    generated = stubs()
    on_disk = {
        str(path.relative_to(HERE)): path.read_text() for path in (HERE / "google").rglob("*.pyi")
    }
    assert sorted(on_disk) == sorted(generated), REGENERATE
    stale = [path for path, text in generated.items() if on_disk[path] != text]
    assert stale == [], REGENERATE


def test_the_stubs_type_the_fields_the_emulator_reads() -> None:
    task = stubs()["google/cloud/tasks_v2/types/task_pb2.pyi"]
    assert "class Task(_message.Message):" in task
    assert "dispatch_count: _builtins.int" in task
    assert "from tasks_emulator._stubs.google.cloud.tasks_v2.types import target_pb2" in task
