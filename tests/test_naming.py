from __future__ import annotations

import hashlib
import json
import re

import pytest

from bridge.naming import KeyKind, task_id_for, task_name_for

TASK_ID = re.compile(r"[A-Za-z0-9_-]{1,500}")


# Pinned once by hand (hashlib.sha256 of the JSON array ["v1", service, kind, value] in a shell),
# never computed with task_id_for: a change to naming.py that renames tasks fails here. A renamed
# task is a task created twice across a deploy, so any change needs a new _VERSION and a note.
GOLDEN = [
    ("brain", KeyKind.IDEMPOTENCY_KEY, "CASE-001",
     "0582e7648a2c0366b8d7c43963b1b5821eae92f948cbf00588bb6956975a0757"),
    ("brain", KeyKind.MESSAGE_ID, "1234567890",
     "5b6dd20b5eacccb315127cf326e20106d0d80379cc9f143ec799fed7eeda8c66"),
    # A replay is named by its original's id (bridge_origin_message_id), as a message id.
    ("regresos", KeyKind.MESSAGE_ID, "17000000000001",
     "666b7f2ba1c0871f4483dbae998e4253d18e5815e488b796b730de5d38263509"),
    # Non-ASCII: the envelope refuses such keys, but the formula is defined for any string.
    ("testimonios", KeyKind.IDEMPOTENCY_KEY, "declaraci\u00f3n-\u00f1and\u00fa-\u2713",
     "e2e058b3ea096484d2b8951d630b09f6744c17c95e412831a4d02639650f6354"),
    ("brain", KeyKind.IDEMPOTENCY_KEY, "a/b/c",
     "66e077d9aaf137ca646df7118c42564183ceaa49894152d7f972490787934277"),
    ("brain", KeyKind.IDEMPOTENCY_KEY, 'a"b',
     "61ec23af0839e6848db622229316c2b87862f34eaef5484450ea4a0a780d45ba"),
]  # fmt: skip


@pytest.mark.parametrize(("service", "kind", "value", "task_id"), GOLDEN)
def test_task_ids_are_the_pinned_sha256_values(
    service: str, kind: KeyKind, value: str, task_id: str
) -> None:
    assert task_id_for(service=service, kind=kind, value=value) == task_id


def test_every_id_is_one_cloud_tasks_accepts() -> None:
    keys = ["CASE 1", "ñandú", "a" * 500, "", "\x00", "../../etc"]
    ids = [task_id_for(service="brain", kind=KeyKind.IDEMPOTENCY_KEY, value=k) for k in keys]
    assert all(TASK_ID.fullmatch(i) for i in ids)


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


@pytest.mark.parametrize(
    "value", ["K-1", 'quote " and \\ back', "ñ\U0001f600", "\ud800", "\x00\n", ""]
)
def test_the_name_material_is_json_dumps_of_the_four_strings(value: str) -> None:
    material = json.dumps(["v1", "brain", "key", value], ensure_ascii=True)
    expected = hashlib.sha256(material.encode("ascii")).hexdigest()
    assert task_id_for(service="brain", kind=KeyKind.IDEMPOTENCY_KEY, value=value) == expected
