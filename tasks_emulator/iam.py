"""A queue's IAM policy (GetIamPolicy / SetIamPolicy / TestIamPermissions): stored, never enforced.

The rules of google/iam/v1 (iam_policy.proto, policy.proto) as Cloud Tasks answers them: a queue
without a policy has the empty one (etag ``ACAB``, Google's etag of an empty policy); SetIamPolicy
replaces what its mask names (default ``bindings, etag``), refuses a stale ``etag`` with ABORTED
and gives the new policy an etag of its own; a role is ``roles/...`` or a custom
``projects/P/roles/R``; members have one of IAM's prefixes. The emulator checks no caller (it has
no identities), so TestIamPermissions grants every ``cloudtasks.*`` permission asked about on a
queue that exists, and none on one that does not (iam_policy.proto: an empty set, not NOT_FOUND).
"""

from __future__ import annotations

import hashlib
import re
from typing import Literal, TypeGuard, get_args

import grpc

from tasks_emulator import api
from tasks_emulator.errors import ApiError

Policy = api.Policy
EMPTY_ETAG = b"\x00\x20\x01"  # "ACAB" in JSON
_PolicyField = Literal["bindings", "etag", "audit_configs", "version"]
_SETTABLE: frozenset[str] = frozenset(get_args(_PolicyField))
_DEFAULT_MASK = ("bindings", "etag")
_ROLE = re.compile(r"roles/[A-Za-z0-9_.]+|(projects|organizations)/[^/]+/roles/[A-Za-z0-9_.]+")
_MEMBER_PREFIXES = (
    "user:",
    "serviceAccount:",
    "group:",
    "domain:",
    "principal://",
    "principalSet://",
    "deleted:",
    "projectOwner:",
    "projectEditor:",
    "projectViewer:",
)
_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
_PERMISSION = re.compile(r"[a-z]+\.[A-Za-z]+\.[A-Za-z]+")


def _invalid(message: str) -> ApiError:
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message)


def empty_policy() -> api.Policy:
    return Policy(etag=EMPTY_ETAG)


def _etag(policy: api.Policy) -> bytes:
    copy = api.copy_of(policy)
    copy.ClearField("etag")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()[:8]


def _check(policy: api.Policy) -> None:
    conditional = False
    for index, binding in enumerate(policy.bindings):
        field = f"policy.bindings[{index}]"
        if not _ROLE.fullmatch(binding.role):
            raise _invalid(
                f"{field}.role {binding.role!r} is not a role (roles/NAME or "
                "projects/PROJECT/roles/NAME)."
            )
        if not binding.members:
            raise _invalid(f"{field}.members must name at least one member.")
        for member in binding.members:
            if member not in _MEMBERS and not member.startswith(_MEMBER_PREFIXES):
                raise _invalid(
                    f"{field}.members: {member!r} is not a member (user:, serviceAccount:, "
                    "group:, domain:, allUsers, allAuthenticatedUsers...)."
                )
        conditional = conditional or binding.HasField("condition")
    if policy.version not in (0, 1, 3):
        raise _invalid(f"policy.version {policy.version} is not 0, 1 or 3.")
    if conditional and policy.version != 3:
        raise _invalid("policy.version must be 3 for a policy with conditional role bindings.")


def updated(current: api.Policy, request: api.SetIamPolicyRequest) -> api.Policy:
    """The policy SetIamPolicy ``request`` makes of ``current``, with its new etag."""
    paths: list[_PolicyField] = []
    for path in list(request.update_mask.paths) or list(_DEFAULT_MASK):
        if not _settable(path):
            raise _invalid(f"update_mask: {path!r} is not a field of the policy.")
        paths.append(path)
    wanted = request.policy
    if "etag" in paths and wanted.etag and wanted.etag != current.etag:
        raise ApiError(
            grpc.StatusCode.ABORTED,
            "The policy's etag does not match the queue's current policy: read it again "
            "(GetIamPolicy), then change it.",
        )
    _check(wanted)
    policy = api.copy_of(current)
    for path in paths:
        if path == "etag":
            continue
        policy.ClearField(path)
        if path == "version":
            policy.version = wanted.version
        elif path == "bindings":
            policy.bindings.extend(wanted.bindings)
        else:
            policy.audit_configs.extend(wanted.audit_configs)
    if not policy.bindings and not policy.audit_configs:
        return empty_policy()
    if not policy.version:
        conditional = any(binding.HasField("condition") for binding in policy.bindings)
        policy.version = 3 if conditional else 1
    policy.etag = _etag(policy)
    return policy


def _settable(path: str) -> TypeGuard[_PolicyField]:
    return path in _SETTABLE


def granted(permissions: list[str], *, queue_exists: bool) -> list[str]:
    """The permissions TestIamPermissions answers as held."""
    for permission in permissions:
        if "*" in permission or not _PERMISSION.fullmatch(permission):
            raise _invalid(
                f"permissions: {permission!r} is not a permission (no wildcards; e.g. "
                "cloudtasks.tasks.create)."
            )
    if not queue_exists:
        return []
    return [permission for permission in permissions if permission.startswith("cloudtasks.")]
