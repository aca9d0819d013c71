"""``bridge status`` against the real tasks_emulator and Pub/Sub emulator: a pending task, a
retrying one with its last response, a completed one, a key never seen, rejected and
dead-lettered messages found without being consumed."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.cli import main
from bridge.cli.status import look_in
from bridge.cli.subscription import Pulled
from bridge.config import Settings, load_settings
from bridge.envelope import Envelope
from bridge.errors import PermanentError, Reason
from bridge.gateway import CloudTasksGateway
from bridge.naming import KeyKind
from bridge.plan import DedupeKey, TaskSpec, plan_task
from bridge.rejections import rejection_for
from tests.conftest import old_enqueuer_env
from tests.publishers.conftest import PROJECT, Emulator, new_topic
from tests.tasks_emulator.conftest import Worker, grpc_client, wait_for


@dataclass
class Local:
    gateway: CloudTasksGateway
    settings: Settings
    worker: Worker
    tasks: Any  # the official client, on the emulator
    env: dict[str, str]


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    """tasks_emulator with every configured service's queue, and the worker they all target."""
    from tests.tasks_emulator.conftest import running_emulator

    base = {**old_enqueuer_env(), "PROJECT_ID": PROJECT}
    queues = [route.queue_path for route in load_settings(base).routes.values()]
    with (
        running_emulator(*(arg for q in queues for arg in ("--queue", q))) as emulator,
        Worker(certs_url=emulator.certs_url) as worker,
    ):
        env = {**base, "CLOUD_TASKS_EMULATOR_HOST": emulator.grpc_target}
        for suffix in ("BRAIN", "TESTI", "TRANS", "REGRESOS"):
            env[f"URL_{suffix}"] = f"{worker.url}/{suffix.lower()}"
            env[f"AUD_{suffix}"] = worker.url
        settings = load_settings(env)
        gateway = CloudTasksGateway(timeout_s=10, emulator_host=emulator.grpc_target)
        yield Local(gateway, settings, worker, grpc_client(emulator), env)


@pytest.fixture
def env(local: Local, monkeypatch: pytest.MonkeyPatch) -> Local:
    for key, value in local.env.items():
        monkeypatch.setenv(key, value)
    return local


def create(local: Local, service: str, key: str, *, delay_s: int = 0) -> TaskSpec:
    now = datetime.now(UTC)
    spec = plan_task(
        Envelope(service=service, payload={"case": key, "nota": "Núñez"}, delay_s=delay_s),
        settings=local.settings,
        dedupe=DedupeKey(KeyKind.IDEMPOTENCY_KEY, key),
        message_id=None,
        not_before=now,
        now=now,
    )
    assert not local.gateway.create(spec).duplicate
    return spec


def status(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["status", *args, "--json"])
    captured = capsys.readouterr()
    assert captured.out, captured.err
    report: dict[str, Any] = json.loads(captured.out)
    assert report["exit_code"] == code
    return code, report


def test_a_pending_task(env: Local, capsys: pytest.CaptureFixture[str]) -> None:
    spec = create(env, "brain", "CASE-PENDING", delay_s=3600)
    code, report = status(capsys, "--service", "brain", "--key", "CASE-PENDING")
    assert code == 0
    assert report["task"] == spec.task_name  # the bridge's own naming
    assert (report["found"], report["state"]) == (True, "scheduled")
    assert report["detail"].startswith("scheduled for ")
    assert report["queue"] == env.settings.routes["brain"].queue_path
    assert report["url"] == env.settings.routes["brain"].url
    assert report["audience"] == env.worker.url
    assert report["identity"] == env.settings.caller_sa
    assert report["deadline_s"] == 700
    assert "body" not in report  # personal data: only with --show-body
    _, shown = status(capsys, "--task", spec.task_name, "--show-body")
    assert json.loads(shown["body"]) == {"case": "CASE-PENDING", "nota": "Núñez"}


def test_the_table_names_each_field(env: Local, capsys: pytest.CaptureFixture[str]) -> None:
    create(env, "brain", "CASE-TABLE", delay_s=3600)
    assert main(["status", "--service", "brain", "--key", "CASE-TABLE"]) == 0
    out = capsys.readouterr().out
    for label in ("task", "queue", "state", "worker", "audience", "identity", "deadline"):
        assert any(line.startswith(label) for line in out.splitlines()), (label, out)
    assert "700 s" in out


def test_a_retrying_task_shows_its_attempt_and_last_response(
    env: Local, capsys: pytest.CaptureFixture[str]
) -> None:
    queue = env.settings.routes["testimonios"].queue_path
    env.tasks.update_queue(
        queue={"name": queue, "retry_config": {"min_backoff": "60s", "max_backoff": "60s"}},
        update_mask={"paths": ["retry_config.min_backoff", "retry_config.max_backoff"]},
    )
    spec = create(env, "testimonios", "CASE-RETRY")
    task_id = spec.task_name.rsplit("/", 1)[1]
    env.worker.plan(task_id, ["503"])
    env.worker.wait_for(task_id, 1, timeout_s=30)

    def retrying() -> dict[str, Any] | None:
        _, report = status(capsys, "--service", "testimonios", "--key", "CASE-RETRY")
        return report if report["state"] == "retrying" else None

    report = wait_for(retrying, timeout_s=30, what="the task to be retrying")
    assert report["dispatch_count"] == 1
    assert report["last_response"]["code"] == 14  # google.rpc.Code UNAVAILABLE: HTTP 503
    assert "attempt 2" in report["detail"]
    assert "last response UNAVAILABLE (14) '503 Service Unavailable'" in report["detail"]


def test_a_completed_task_existed_recently(env: Local, capsys: pytest.CaptureFixture[str]) -> None:
    spec = create(env, "brain", "CASE-DONE")
    env.worker.wait_for(spec.task_name.rsplit("/", 1)[1], 1, timeout_s=30)

    def done() -> dict[str, Any] | None:
        _, report = status(capsys, "--service", "brain", "--key", "CASE-DONE")
        return report if not report["found"] else None

    report = wait_for(done, timeout_s=30, what="the task to be done")
    assert report["not_found"] == "recently"
    assert report["exit_code"] == 0
    assert "will NOT run" in report["detail"]
    assert "new key" in report["detail"]


def test_a_key_never_seen(env: Local, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = status(capsys, "--service", "brain", "--key", "CASE-NEVER")
    assert code == 3
    assert (report["found"], report["not_found"]) == (False, "never")
    assert "creates it" in report["detail"]


def test_a_missing_queue_is_said(env: Local, capsys: pytest.CaptureFixture[str]) -> None:
    queue = env.settings.routes["brain"].queue_path.replace("queue-brain", "queue-gone")
    code, report = status(capsys, "--task", f"{queue}/tasks/T1")
    assert code == 3
    assert (report["found"], report["not_found"]) == (False, "no_queue")
    assert f"the queue {queue} does not exist" in report["detail"]
    assert "dead-letter" in report["detail"]


def test_an_unknown_service_is_a_usage_error(
    env: Local, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--service", "brian", "--key", "K"]) == 2
    err = capsys.readouterr().err
    assert "known services" in err
    assert "--look-in rejected" in err  # where its messages went


def test_an_unknown_service_with_nothing_rejected_is_not_found(
    env: Local, pubsub_env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = new_topic(pubsub_env.rest, "empty")
    args = ["--service", "brian", "--key", "K", "--look-in", "rejected"]
    code, report = status(capsys, *args, "--rejected-subscription", empty.subscription)
    assert code == 3
    assert (report["found"], report["not_found"]) == (False, "unconfigured")
    assert report["look_in"]["found"] == []
    assert main(["status", *args, "--rejected-subscription", empty.subscription]) == 3
    table = capsys.readouterr().out
    assert "not found (no such service)" in table
    assert "nothing in rejected" in table


def test_a_rejected_message_is_found_and_left_for_replay(
    env: Local, pubsub_env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    rejected = new_topic(pubsub_env.rest, "rejected")
    envelope = {"service": "nope", "payload": {}, "idempotency_key": "CASE-REJ"}
    data = json.dumps(envelope).encode()
    rejection = rejection_for(
        data=data,
        attributes={},
        message_id="4242",
        error=PermanentError(Reason.UNKNOWN_SERVICE, "service: unknown service 'nope'"),
    )
    other = rejection_for(
        data=json.dumps({**envelope, "idempotency_key": "OTHER"}).encode(),
        attributes={},
        message_id="4243",
        error=PermanentError(Reason.UNKNOWN_SERVICE, "service: unknown service 'nope'"),
    )
    for message in (rejection, other):
        pubsub_env.rest.publish(rejected.id, data=message.data, attributes=message.attributes)
    code, report = status(
        capsys,
        "--service",
        "nope",
        "--key",
        "CASE-REJ",
        "--look-in",
        "rejected",
        "--rejected-subscription",
        rejected.subscription,
    )
    assert code == 4
    assert (report["task"], report["not_found"]) == (None, "unconfigured")  # no route: no task
    assert "is not configured" in report["detail"]
    (found,) = report["look_in"]["found"]
    assert (found["in"], found["reason"]) == ("rejected", "unknown_service")
    assert "unknown service" in found["error"]
    # Not consumed: both are still there for `bridge replay`.
    still = rejected.pull_all(expect=2)
    assert sorted(m.attributes["bridge_message_id"] for m in still) == ["4242", "4243"]


def test_a_dead_lettered_message_is_found_by_key(
    env: Local, pubsub_env: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = new_topic(pubsub_env.rest, "dead")
    pubsub_env.rest.publish(
        dead.id,
        data=json.dumps({"service": "brain", "payload": {}, "idempotency_key": "CASE-DL"}).encode(),
        attributes={
            "CloudPubSubDeadLetterSourceDeliveryCount": "5",
            "CloudPubSubDeadLetterSourceSubscription": "enqueue-push",
        },
    )
    code, report = status(
        capsys,
        "--service",
        "brain",
        "--key",
        "CASE-DL",
        "--look-in",
        "rejected,dead-letter",
        "--rejected-subscription",
        new_topic(pubsub_env.rest, "empty").subscription,
        "--dead-letter-subscription",
        dead.subscription,
    )
    assert code == 4
    assert report["not_found"] == "never"
    (found,) = report["look_in"]["found"]
    assert (found["in"], found["reason"]) == ("dead-letter", "dead_lettered")
    assert "5 deliveries" in found["error"]
    assert len(dead.pull_all(expect=1)) == 1  # still there


class FakeSubscription:
    """Holds messages; records what was released and acknowledged (nothing should be)."""

    def __init__(self, messages: list[Pulled]) -> None:
        self.waiting = list(messages)
        self.released: list[str] = []
        self.acked: list[str] = []

    def pull(self, max_messages: int) -> list[Pulled]:
        taken, self.waiting = self.waiting[:max_messages], self.waiting[max_messages:]
        return taken

    def extend(self, ack_ids: Sequence[str], seconds: int) -> None:
        return None

    def ack(self, ack_ids: Sequence[str]) -> None:
        self.acked += ack_ids

    def release(self, ack_ids: Sequence[str]) -> None:
        self.released += ack_ids


def pulled(message_id: str, envelope: dict[str, Any], **attributes: str) -> Pulled:
    return Pulled(
        ack_id=f"ack-{message_id}",
        message_id=message_id,
        data=json.dumps(envelope).encode(),
        attributes=attributes,
        publish_time="2026-11-28T12:00:00Z",
    )


def test_look_in_releases_everything_it_pulled_and_acks_nothing() -> None:
    messages = [
        pulled("1", {"service": "brain", "idempotency_key": "K"}, bridge_reason="bad_json"),
        pulled("2", {"service": "regresos", "idempotency_key": "K"}, bridge_reason="bad_json"),
        pulled("3", {"service": "brain", "idempotency_key": "other"}, bridge_reason="bad_json"),
    ]
    subscription = FakeSubscription(messages)
    found, notes = look_in(
        {"rejected": subscription}, service="brain", key="K", ids=[], max_messages=2
    )
    assert [f.message_id for f in found] == ["1"]  # same key, other service: not this request
    assert sorted(subscription.released) == ["ack-1", "ack-2"]
    assert subscription.acked == []
    assert notes == ["rejected: stopped after 2 messages (--max-scan)"]


def test_look_in_by_message_id_matches_a_rejections_original_id() -> None:
    rejection = pulled("9", {"service": "brain"}, bridge_reason="bad_json", bridge_message_id="77")
    subscription = FakeSubscription([rejection])
    found, notes = look_in(
        {"rejected": subscription}, service="brain", key=None, ids=["77"], max_messages=10
    )
    assert [(f.message_id, f.reason) for f in found] == [("9", "bad_json")]
    assert (subscription.released, notes) == (["ack-9"], [])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--key", "K"], "--service is needed"),
        (["--service", "brain"], "give one of --key and --message-id"),
        (["--service", "brain", "--key", "K", "--message-id", "1"], "give one of"),
        (
            ["--task", "projects/p/locations/l/queues/q/tasks/t", "--look-in", "rejected"],
            "--look-in",
        ),
        (["--service", "brain", "--key", "K", "--max-scan", "0"], "--max-scan"),
    ],
)
def test_usage_errors_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", *args]) == 2
    assert message in capsys.readouterr().err
