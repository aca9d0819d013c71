"""GetIamPolicy / SetIamPolicy / TestIamPermissions through the official client, over gRPC and
REST: a queue's policy is stored and returned as IAM shapes it; nothing is enforced."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core import exceptions
from google.iam.v1 import policy_pb2  # type: ignore[import-untyped]

from tasks_emulator.iam import EMPTY_ETAG
from tests.tasks_emulator.conftest import PARENT, new_queue_name

SA = "serviceAccount:invoker@emu-project.iam.gserviceaccount.com"
ENQUEUER = "roles/cloudtasks.enqueuer"


def _binding(role: str = ENQUEUER, *members: str) -> Any:
    return policy_pb2.Binding(role=role, members=list(members) or [SA])


def test_a_queue_without_a_policy_has_the_empty_one(client: Any, queue_name: str) -> None:
    policy = client.get_iam_policy(request={"resource": queue_name})
    assert list(policy.bindings) == []
    assert policy.etag == EMPTY_ETAG


def test_set_stores_the_bindings_with_a_new_etag_and_a_stale_etag_is_aborted(
    client: Any, queue_name: str
) -> None:
    empty = client.get_iam_policy(request={"resource": queue_name})
    policy = policy_pb2.Policy(bindings=[_binding()], etag=empty.etag)
    stored = client.set_iam_policy(request={"resource": queue_name, "policy": policy})
    assert [(b.role, list(b.members)) for b in stored.bindings] == [(ENQUEUER, [SA])]
    assert stored.version == 1
    assert stored.etag not in (b"", EMPTY_ETAG)
    assert client.get_iam_policy(request={"resource": queue_name}) == stored
    # A change made from the old read loses: ABORTED (409 over REST), nothing changes.
    stale = policy_pb2.Policy(bindings=[_binding("roles/cloudtasks.viewer")], etag=empty.etag)
    with pytest.raises(exceptions.Conflict):
        client.set_iam_policy(request={"resource": queue_name, "policy": stale})
    assert client.get_iam_policy(request={"resource": queue_name}) == stored
    # Without an etag the policy is replaced; with no bindings it is the empty one again.
    cleared = client.set_iam_policy(request={"resource": queue_name, "policy": policy_pb2.Policy()})
    assert cleared.etag == EMPTY_ETAG
    assert list(cleared.bindings) == []


@pytest.mark.parametrize(
    ("binding", "message"),
    [
        (_binding("cloudtasks.enqueuer"), "is not a role"),
        (_binding(ENQUEUER, "invoker@example.com"), "is not a member"),
        (policy_pb2.Binding(role=ENQUEUER), "at least one member"),
        (policy_pb2.Binding(role=ENQUEUER, members=[SA], condition={"expression": "true"}),
         "must be 3"),
    ],
    ids=["role", "member", "no-member", "condition-needs-version-3"],
)  # fmt: skip
def test_a_bad_policy_is_invalid_argument(
    client: Any, queue_name: str, binding: Any, message: str
) -> None:
    with pytest.raises(exceptions.BadRequest) as caught:
        client.set_iam_policy(
            request={"resource": queue_name, "policy": policy_pb2.Policy(bindings=[binding])}
        )
    assert message in caught.value.message
    assert list(client.get_iam_policy(request={"resource": queue_name}).bindings) == []


def test_a_missing_queue_has_no_policy_and_no_permissions(client: Any) -> None:
    missing = new_queue_name()
    with pytest.raises(exceptions.NotFound):
        client.get_iam_policy(request={"resource": missing})
    with pytest.raises(exceptions.NotFound):
        client.set_iam_policy(
            request={"resource": missing, "policy": policy_pb2.Policy(bindings=[_binding()])}
        )
    held = client.test_iam_permissions(
        request={"resource": missing, "permissions": ["cloudtasks.tasks.create"]}
    )
    assert list(held.permissions) == []


def test_test_iam_permissions_grants_the_cloud_tasks_ones(client: Any, queue_name: str) -> None:
    asked = ["cloudtasks.tasks.create", "cloudtasks.queues.get", "storage.objects.get"]
    held = client.test_iam_permissions(request={"resource": queue_name, "permissions": asked})
    assert list(held.permissions) == asked[:2]
    with pytest.raises(exceptions.BadRequest):
        client.test_iam_permissions(
            request={"resource": queue_name, "permissions": ["cloudtasks.*"]}
        )


def test_a_deleted_queue_takes_its_policy_along(client: Any) -> None:
    name = new_queue_name()
    client.create_queue(parent=PARENT, queue={"name": name})
    client.set_iam_policy(
        request={"resource": name, "policy": policy_pb2.Policy(bindings=[_binding()])}
    )
    client.delete_queue(name=name)
    with pytest.raises(exceptions.NotFound):
        client.get_iam_policy(request={"resource": name})
