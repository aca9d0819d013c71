from __future__ import annotations

import re

from bridge.naming import KeyKind, task_id_for, task_name_for

TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,500}")


def test_the_same_key_gives_the_same_id() -> None:
    first = task_id_for(service="regresos", kind=KeyKind.IDEMPOTENCY_KEY, value="TEST-REGRESOS-001")
    again = task_id_for(service="regresos", kind=KeyKind.IDEMPOTENCY_KEY, value="TEST-REGRESOS-001")
    assert first == again
    assert TASK_ID.fullmatch(first)
    assert len(first) == 64


def test_ids_differ_by_service_kind_and_key() -> None:
    ids = {
        task_id_for(service="brain", kind=KeyKind.IDEMPOTENCY_KEY, value="A"),
        task_id_for(service="regresos", kind=KeyKind.IDEMPOTENCY_KEY, value="A"),
        task_id_for(service="brain", kind=KeyKind.MESSAGE_ID, value="A"),
        task_id_for(service="brain", kind=KeyKind.IDEMPOTENCY_KEY, value="a"),
    }
    assert len(ids) == 4


def test_keys_that_differ_only_in_characters_an_id_cannot_hold_do_not_collide() -> None:
    # A naive sanitiser would map all of these to "CASE_1".
    keys = ["CASE 1", "CASE/1", "CASE.1", "CASE_1", "CASE:1"]
    ids = {task_id_for(service="brain", kind=KeyKind.IDEMPOTENCY_KEY, value=k) for k in keys}
    assert len(ids) == len(keys)


def test_the_encoding_is_unambiguous_across_the_service_key_boundary() -> None:
    one = task_id_for(service="a", kind=KeyKind.IDEMPOTENCY_KEY, value="b:c")
    two = task_id_for(service="a:b", kind=KeyKind.IDEMPOTENCY_KEY, value="c")
    assert one != two


def test_ids_share_no_sequential_prefix() -> None:
    ids = [
        task_id_for(service="brain", kind=KeyKind.IDEMPOTENCY_KEY, value=f"ROW-{n:04d}")
        for n in range(50)
    ]
    assert len({i[:4] for i in ids}) > 40


def test_task_name_is_the_full_path() -> None:
    name = task_name_for(queue_path="projects/p/locations/l/queues/q", task_id="abc")
    assert name == "projects/p/locations/l/queues/q/tasks/abc"
