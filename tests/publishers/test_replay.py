"""``bridge replay``: what a replay carries (pure), then the whole loop on the emulator: real
rejections and a real dead-lettered message, listed, chosen, republished, acknowledged."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

import pytest
from google.cloud import pubsub_v1  # type: ignore[attr-defined]

from bridge import cli
from bridge.cli import exits
from bridge.cli.replay import DEAD_LETTERED, LEASE_S, candidate_for, replay
from bridge.cli.subscription import Pulled
from bridge.config import Settings
from bridge.errors import PermanentError, Reason
from bridge.event import PubsubMessage
from bridge.limits import MAX_MESSAGE_BYTES
from bridge.message import ORIGIN_ATTRIBUTE, plan_message
from bridge.publishing.publisher import PublishFailed
from bridge.rejections import OutgoingMessage, message_size, rejection_for
from bridge.stack.poll import poll_until
from bridge.wrapped import unwrap
from tests.publishers.conftest import Emulator, Topic, as_bridge_sees_it, new_topic

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ENVELOPE = {"service": "brain", "payload": {"nota": "Señora Núñez 🧾"}}
DEAD_LETTER_ATTRIBUTES = {
    "CloudPubSubDeadLetterSourceSubscription": "enqueue-requests-push",
    "CloudPubSubDeadLetterSourceDeliveryCount": "5",
    "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-11-28T12:00:00.000Z",
    "CloudPubSubDeadLetterSourceSubscriptionProject": "p",
}


def rejected(
    data: bytes, attributes: dict[str, str], *, original_id: str, reason: Reason
) -> Pulled:
    """A message as the bridge publishes it to the rejected topic, pulled back."""
    error = PermanentError(reason, f"{reason.value}: test")
    out = rejection_for(data=data, attributes=attributes, message_id=original_id, error=error)
    return Pulled("ack-1", "900", out.data, dict(out.attributes), "2026-11-28T12:00:01Z")


def test_a_rejection_replays_as_its_original_named_by_the_original_id() -> None:
    data = json.dumps(ENVELOPE, ensure_ascii=False).encode()
    pulled = rejected(data, {"trace": "t1"}, original_id="101", reason=Reason.UNKNOWN_SERVICE)
    candidate = candidate_for(pulled)
    assert candidate.reason == "unknown_service"
    assert candidate.origin_message_id == "101"
    assert candidate.service == "brain"
    assert candidate.problem is None
    assert candidate.replay is not None
    assert candidate.replay.data == data
    assert dict(candidate.replay.attributes) == {"trace": "t1", ORIGIN_ATTRIBUTE: "101"}


def test_a_wrapped_rejection_is_unwrapped() -> None:
    data = b'{"case": "\xc3\xb1"}'
    attributes = {f"k{i}": "v" for i in range(98)} | {"service": "brain"}
    pulled = rejected(data, attributes, original_id="102", reason=Reason.TASK_REJECTED)
    assert pulled.attributes["bridge_wrapped"] == "true"  # the bridge had to wrap it
    candidate = candidate_for(pulled)
    assert candidate.replay is not None
    assert candidate.replay.data == data
    assert dict(candidate.replay.attributes) == attributes | {ORIGIN_ATTRIBUTE: "102"}
    assert candidate.problem is None  # 99 attributes and the origin: 100, Pub/Sub's maximum


def test_a_dead_lettered_message_loses_pubsubs_attributes_and_keeps_its_own_id() -> None:
    data = json.dumps(ENVELOPE).encode()
    pulled = Pulled("a", "777", data, {"x": "1", **DEAD_LETTER_ATTRIBUTES}, "")
    candidate = candidate_for(pulled)
    assert candidate.reason == DEAD_LETTERED
    assert "5 deliveries" in candidate.error
    assert candidate.replay is not None
    assert dict(candidate.replay.attributes) == {"x": "1", ORIGIN_ATTRIBUTE: "777"}


def test_a_replay_of_a_replay_keeps_the_first_origin() -> None:
    data = json.dumps(ENVELOPE).encode()
    pulled = rejected(
        data, {ORIGIN_ATTRIBUTE: "100"}, original_id="205", reason=Reason.UNKNOWN_SERVICE
    )
    candidate = candidate_for(pulled)
    assert candidate.origin_message_id == "100"
    assert candidate.replay is not None
    assert candidate.replay.attributes[ORIGIN_ATTRIBUTE] == "100"


def test_stale_bridge_attributes_are_dropped() -> None:
    data = json.dumps(ENVELOPE).encode()
    pulled = Pulled(
        "a", "5", data, {"bridge_reason": "bad_json", "bridge_error": "e", "bridge_x": "y"}, ""
    )
    candidate = candidate_for(pulled)
    assert candidate.replay is not None
    assert dict(candidate.replay.attributes) == {ORIGIN_ATTRIBUTE: "5"}


def test_what_the_bridge_would_reject_again_is_flagged() -> None:
    pulled = rejected(b"{not json", {}, original_id="1", reason=Reason.BAD_JSON)
    candidate = candidate_for(pulled)
    assert candidate.problem is not None
    assert candidate.problem.startswith("would be rejected again: bad_json")
    assert candidate.replay is not None  # --force may still send it


def test_a_rejection_with_100_attributes_replays_wrapped_as_its_original(
    settings: Settings,
) -> None:
    # 100 attributes: no room for bridge_origin_message_id, even with --force (it used to be 101).
    attributes = {f"k{i}": "v" for i in range(99)} | {"service": "brain"}
    data = b'{"case": 1}'
    pulled = rejected(data, attributes, original_id="4343", reason=Reason.UNKNOWN_SERVICE)
    candidate = candidate_for(pulled)
    assert candidate.problem is None
    assert candidate.replay is not None
    assert dict(candidate.replay.attributes) == {"bridge_wrapped": "true"}
    assert unwrap(candidate.replay.data) == (data, attributes | {ORIGIN_ATTRIBUTE: "4343"})
    # The bridge unwraps it on arrival: the task the original would have become.
    republished = PubsubMessage(
        message_id="9999",
        data=candidate.replay.data,
        attributes=candidate.replay.attributes,
        publish_time=NOW,
    )
    original = PubsubMessage(message_id="4343", data=data, attributes=attributes, publish_time=NOW)
    assert (
        plan_message(republished, settings=settings, now=NOW).task_name
        == plan_message(original, settings=settings, now=NOW).task_name
    )


def test_a_rejection_near_10_mb_replays_as_is() -> None:
    data = json.dumps({"service": "brain", "payload": {"x": "y" * 9_990_000}}).encode()
    pulled = rejected(data, {"a": "b"}, original_id="4444", reason=Reason.TOO_LARGE)
    assert pulled.data == data  # the rejection kept it whole
    candidate = candidate_for(pulled, max_body_bytes=10**7)  # MAX_BODY_BYTES raised: the fix
    assert candidate.problem is None, candidate.problem
    assert candidate.replay is not None
    assert candidate.replay.data == data
    assert message_size(candidate.replay) <= MAX_MESSAGE_BYTES


def test_a_rejection_whose_data_was_cut_cannot_be_republished() -> None:
    data = b"x" * 10_000_000  # the largest message Pub/Sub takes; no room for our attributes
    pulled = rejected(data, {}, original_id="4545", reason=Reason.BAD_JSON)
    assert pulled.attributes["bridge_data_bytes"] == "10000000"
    candidate = candidate_for(pulled)
    assert candidate.replay is None
    assert candidate.problem is not None
    assert "keeps only the first" in candidate.problem


def test_an_origin_that_is_not_a_message_id_is_not_carried_over() -> None:
    data = json.dumps(ENVELOPE).encode()
    pulled = rejected(
        data, {ORIGIN_ATTRIBUTE: "free text"}, original_id="12", reason=Reason.BAD_EVENT
    )
    candidate = candidate_for(pulled)
    assert candidate.origin_message_id == "12"
    assert candidate.replay is not None
    assert candidate.replay.attributes[ORIGIN_ATTRIBUTE] == "12"


def test_two_rejections_of_one_delivery_are_replayed_once() -> None:
    # The bridge's publish timed out, the client's background retry still delivered it, and the
    # redelivery was rejected again: two rejections with one bridge_message_id.
    data = json.dumps(ENVELOPE).encode()
    first, second, other = with_ids(
        [
            rejected(data, {}, original_id="61", reason=Reason.UNKNOWN_SERVICE),
            rejected(data, {}, original_id="61", reason=Reason.UNKNOWN_SERVICE),
            rejected(data, {}, original_id="62", reason=Reason.UNKNOWN_SERVICE),
        ]
    )
    subscription = MemorySubscription([first, second, other])
    transport = FailsOnRequest(0)
    report = replay(
        subscription, topic_path="projects/p/topics/t", transport=transport, select_all=True
    )
    assert sorted(report.republished) == [first.message_id, other.message_id]
    assert report.duplicates == {second.message_id: first.message_id}
    assert sorted(subscription.acked) == sorted([first.ack_id, second.ack_id, other.ack_id])
    assert subscription.released == []


def test_the_replay_names_the_same_task_as_the_original(settings: Settings) -> None:
    data = json.dumps({"service": "brain", "payload": {"a": 1}}).encode()
    original = PubsubMessage(message_id="4242", data=data, attributes={}, publish_time=NOW)
    pulled = rejected(data, {}, original_id="4242", reason=Reason.UNKNOWN_SERVICE)
    replay = candidate_for(pulled).replay
    assert replay is not None
    republished = PubsubMessage(
        message_id="9999", data=replay.data, attributes=replay.attributes, publish_time=NOW
    )
    assert (
        plan_message(republished, settings=settings, now=NOW).task_name
        == plan_message(original, settings=settings, now=NOW).task_name
    )


# -- on the emulator ------------------------------------------------------------------------


@pytest.fixture
def rejected_topic(emulator: Emulator) -> Topic:
    return new_topic(emulator.rest, "rejected")


def publish_rejection(
    emulator: Emulator, topic: Topic, data: bytes, *, original_id: str, reason: Reason
) -> str:
    out = rejection_for(
        data=data,
        attributes={"origen": "hoja"},
        message_id=original_id,
        error=PermanentError(reason, f"{reason.value}: detail"),
    )
    return emulator.rest.publish(topic.id, data=out.data, attributes=out.attributes)


def replay_cli(
    capsys: pytest.CaptureFixture[str], subscription: str, target: Topic, *extra: str
) -> tuple[int, str, str]:
    argv = ["replay", "--subscription", subscription, "--topic", target.id, "--wait-s", "1"]
    code = cli.main([*argv, *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_then_replay_by_reason_acks_only_the_republished(
    pubsub_env: Emulator,
    topic: Topic,
    rejected_topic: Topic,
    settings: Settings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    good = json.dumps(ENVELOPE, ensure_ascii=False).encode()
    unknown = publish_rejection(
        pubsub_env, rejected_topic, good, original_id="5001", reason=Reason.UNKNOWN_SERVICE
    )
    bad = publish_rejection(
        pubsub_env, rejected_topic, b"{oops", original_id="5002", reason=Reason.BAD_JSON
    )

    # 1. A listing: every message with its reason; nothing republished, nothing acked.
    code, out, err = replay_cli(capsys, rejected_topic.subscription, topic)
    assert code == 0, err
    assert f"{unknown}  unknown_service  service=brain  origin=5001" in out
    assert f"{bad}  bad_json" in out
    assert "would be rejected again" in out
    assert "none republished" in err

    # 2. A dry run of the choice: still nothing sent or acked.
    code, out, err = replay_cli(
        capsys, rejected_topic.subscription, topic, "--reason", "unknown_service", "--dry-run"
    )
    assert code == 0, err
    assert "-> would republish" in out
    assert "would republish 1" in err
    assert topic.pull_for() == []

    # 3. The replay: the unknown_service one goes, as its original.
    code, out, err = replay_cli(
        capsys, rejected_topic.subscription, topic, "--reason", "unknown_service"
    )
    assert code == 0, err
    assert "republished 1" in err
    [sent] = topic.pull_all(expect=1)
    assert sent.data == good
    assert sent.attributes == {"origen": "hoja", ORIGIN_ATTRIBUTE: "5001"}
    assert f"-> republished as {sent.message_id}" in out
    original = PubsubMessage(
        message_id="5001", data=good, attributes={"origen": "hoja"}, publish_time=NOW
    )
    assert (
        plan_message(as_bridge_sees_it(sent), settings=settings, now=NOW).task_name
        == plan_message(original, settings=settings, now=NOW).task_name
    )

    # 4. Only the republished one was acknowledged: the bad_json one is still there.
    left = rejected_topic.pull_all(expect=1, timeout_s=15)
    assert [m.message_id for m in left] == [bad]


def test_choosing_what_would_be_rejected_again_needs_force(
    pubsub_env: Emulator,
    topic: Topic,
    rejected_topic: Topic,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Replay holds what it pulled for LEASE_S: shortened, a message it failed to acknowledge
    # would come back within the window below, so "gone" proves the emulator took the ack.
    monkeypatch.setattr("bridge.cli.replay.LEASE_S", 2)
    bad = publish_rejection(
        pubsub_env, rejected_topic, b"[1]", original_id="6001", reason=Reason.NOT_AN_OBJECT
    )
    code, out, err = replay_cli(capsys, rejected_topic.subscription, topic, "--all")
    assert code == exits.EXIT_PARTIAL
    assert "-> not republished: would be rejected again: not_an_object" in out
    assert "--force" in err
    assert topic.pull_for() == []

    code, out, err = replay_cli(
        capsys, rejected_topic.subscription, topic, "--message-id", "6001", "--force"
    )
    assert code == 0, err
    [sent] = topic.pull_all(expect=1)
    assert sent.data == b"[1]"
    assert sent.attributes[ORIGIN_ATTRIBUTE] == "6001"
    # The first run released it untouched: the second read the same message and replayed it.
    assert f"{bad}  not_an_object" in out
    assert f"-> republished as {sent.message_id}" in out
    assert rejected_topic.pull_for(window_s=6) == []  # acknowledged: not back after the lease


def test_replay_by_message_id_leaves_the_others(
    pubsub_env: Emulator, topic: Topic, rejected_topic: Topic, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.dumps(ENVELOPE).encode()
    ids = [
        publish_rejection(
            pubsub_env, rejected_topic, data, original_id=f"70{i}", reason=Reason.UNKNOWN_SERVICE
        )
        for i in range(3)
    ]
    code, _, err = replay_cli(capsys, rejected_topic.subscription, topic, "--message-id", ids[1])
    assert code == 0, err
    [sent] = topic.pull_all(expect=1)
    assert sent.attributes[ORIGIN_ATTRIBUTE] == "701"
    left = rejected_topic.pull_all(expect=2, timeout_s=15)
    assert sorted(m.message_id for m in left) == sorted([ids[0], ids[2]])


@pytest.mark.filterwarnings("ignore:The return_immediately flag is deprecated")
def test_a_really_dead_lettered_message_is_replayed(
    pubsub_env: Emulator, topic: Topic, capsys: pytest.CaptureFixture[str]
) -> None:
    source = new_topic(pubsub_env.rest, "source")
    dead = new_topic(pubsub_env.rest, "dead")
    failing = f"{source.id}-failing"
    pubsub_env.rest.create_subscription(failing, topic_id=source.id, dead_letter=(dead.id, 5))
    data = json.dumps(ENVELOPE, ensure_ascii=False).encode()
    original_id = pubsub_env.rest.publish(source.id, data=data, attributes={"k": "v"})

    subscriber = pubsub_v1.SubscriberClient()
    path = pubsub_env.rest.subscription_path(failing)
    deliveries = 0
    code, out, err = 0, "", ""

    def nacked_then_replayed() -> bool:
        # Nack every delivery: after 5, the emulator moves it on its next delivery attempt.
        nonlocal deliveries, code, out, err
        request = {"subscription": path, "max_messages": 10, "return_immediately": True}
        pulled = subscriber.pull(request=request).received_messages
        if pulled:
            deliveries += len(pulled)
            nack = {"subscription": path, "ack_ids": [m.ack_id for m in pulled]}
            subscriber.modify_ack_deadline(request={**nack, "ack_deadline_seconds": 0})
        elif deliveries >= 5:
            code, out, err = replay_cli(capsys, dead.subscription, topic, "--reason", DEAD_LETTERED)
        return "republished as" in out

    poll_until(nacked_then_replayed, timeout_s=30, what="the dead-lettered copy to be replayed")
    assert deliveries == 5
    assert code == 0, err
    assert "dead_lettered" in out
    assert "5 deliveries" in out
    [sent] = topic.pull_all(expect=1)
    assert sent.data == data
    dead_id = out.split()[0]
    assert dead_id != original_id  # Pub/Sub gave the dead-lettered copy a new id
    assert sent.attributes == {"k": "v", ORIGIN_ATTRIBUTE: dead_id}


class MemorySubscription:
    """An in-memory subscription: what was acked and released, in order."""

    def __init__(self, messages: list[Pulled]) -> None:
        self.waiting = list(messages)
        self.acked: list[str] = []
        self.released: list[str] = []
        self.extended: list[str] = []

    def pull(self, max_messages: int) -> list[Pulled]:
        taken, self.waiting = self.waiting[:max_messages], self.waiting[max_messages:]
        return taken

    def extend(self, ack_ids: Sequence[str], seconds: int) -> None:
        assert seconds == LEASE_S
        self.extended += ack_ids

    def ack(self, ack_ids: Sequence[str]) -> None:
        self.acked += ack_ids

    def release(self, ack_ids: Sequence[str]) -> None:
        self.released += ack_ids


class FailsOnRequest:
    def __init__(self, failing_request: int) -> None:
        self.failing_request = failing_request
        self.requests = 0

    def send(self, topic_path: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        self.requests += 1
        if self.requests == self.failing_request:
            raise PublishFailed("publishing to t failed: ServiceUnavailable: down")
        return [f"new-{self.requests}-{i}" for i in range(len(messages))]


def memory_messages(count: int) -> list[Pulled]:
    data = json.dumps(ENVELOPE).encode()
    return [
        rejected(data, {}, original_id=f"{9000 + i}", reason=Reason.UNKNOWN_SERVICE)
        for i in range(count)
    ]


def with_ids(messages: list[Pulled]) -> list[Pulled]:
    return [
        Pulled(f"ack-{i}", f"m{i}", m.data, m.attributes, m.publish_time)
        for i, m in enumerate(messages)
    ]


def test_an_outage_midway_acks_what_went_out_and_releases_the_rest() -> None:
    subscription = MemorySubscription(with_ids(memory_messages(1500)))
    with pytest.raises(PublishFailed) as caught:
        replay(
            subscription,
            topic_path="projects/p/topics/t",
            transport=FailsOnRequest(failing_request=2),
            select_all=True,
            max_messages=5000,
        )
    assert caught.value.published == 1000
    assert "1000 message(s) were republished and acknowledged" in str(caught.value)
    assert subscription.acked == [f"ack-{i}" for i in range(1000)]
    assert subscription.released == [f"ack-{i}" for i in range(1000, 1500)]
    assert len(subscription.extended) == 1500  # every lease held while listing and sending


def test_a_listing_releases_everything_and_acks_nothing() -> None:
    subscription = MemorySubscription(with_ids(memory_messages(3)))
    report = replay(subscription, topic_path="projects/p/topics/t", transport=FailsOnRequest(1))
    assert [c.origin_message_id for c in report.seen] == ["9000", "9001", "9002"]
    assert report.chosen == []
    assert subscription.acked == []
    assert subscription.released == ["ack-0", "ack-1", "ack-2"]


def test_max_bounds_what_is_read() -> None:
    subscription = MemorySubscription(with_ids(memory_messages(10)))
    report = replay(
        subscription, topic_path="projects/p/topics/t", transport=FailsOnRequest(0), max_messages=4
    )
    assert len(report.seen) == 4
    assert len(subscription.waiting) == 6


# -- reading: "nothing to replay" only after Pub/Sub answered so ------------------------------


@pytest.fixture
def silent_pubsub(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A TCP port that accepts connections and never answers: a Pub/Sub that does not answer."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)  # the kernel completes the handshakes; nobody ever reads
        host = f"127.0.0.1:{listener.getsockname()[1]}"
        for key in list(os.environ):
            if key.startswith(("GOOGLE_", "CLOUDSDK_", "PUBSUB_")):
                monkeypatch.delenv(key)
        monkeypatch.setenv("PUBSUB_EMULATOR_HOST", host)
        yield host
    finally:
        listener.close()


@pytest.mark.parametrize("wait_s", ["0.5", "0"])
def test_a_pubsub_that_does_not_answer_is_an_error_not_an_empty_subscription(
    silent_pubsub: str, capsys: pytest.CaptureFixture[str], wait_s: str
) -> None:
    argv = ["replay", "--subscription", "s", "--project", "p", "--wait-s", wait_s]
    code = cli.main([*argv, "--timeout-s", "1"])
    captured = capsys.readouterr()
    assert code == exits.EXIT_FAILED
    assert "Pub/Sub did not answer" in captured.err
    assert "pulling from projects/p/subscriptions/s" in captured.err
    assert "message(s) read" not in captured.err
    assert captured.out == ""


def test_a_failed_pull_is_reported_as_a_pull(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bridge.stack.procs import free_port

    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", f"127.0.0.1:{free_port()}")  # nobody listens
    code = cli.main(["replay", "--subscription", "s", "--project", "p", "--timeout-s", "2"])
    err = capsys.readouterr().err
    assert code == exits.EXIT_FAILED
    assert "pulling from projects/p/subscriptions/s failed" in err
    assert "publishing" not in err


def test_wait_s_0_still_reads_what_is_waiting(
    pubsub_env: Emulator, topic: Topic, rejected_topic: Topic, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.dumps(ENVELOPE).encode()
    waiting = publish_rejection(
        pubsub_env, rejected_topic, data, original_id="8001", reason=Reason.UNKNOWN_SERVICE
    )
    argv = ["replay", "--subscription", rejected_topic.subscription, "--topic", topic.id]
    code = cli.main([*argv, "--wait-s", "0"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert waiting in captured.out
    assert "1 message(s) read" in captured.err


def test_an_empty_subscription_is_reported_after_pubsub_answered(
    pubsub_env: Emulator, topic: Topic, rejected_topic: Topic, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = replay_cli(capsys, rejected_topic.subscription, topic)
    assert code == 0, err
    assert out == ""
    assert "0 message(s) read" in err


class FailsOnPull(MemorySubscription):
    """Serves its messages once, then fails the next pull, as an outage would."""

    def pull(self, max_messages: int) -> list[Pulled]:
        if not self.waiting:
            raise PublishFailed("pulling from s failed: ServiceUnavailable: down")
        return super().pull(max_messages)


def test_messages_pulled_before_a_failure_are_released_at_once() -> None:
    subscription = FailsOnPull(with_ids(memory_messages(150)))
    with pytest.raises(PublishFailed, match="pulling from"):
        replay(subscription, topic_path="projects/p/topics/t", transport=FailsOnRequest(0))
    assert subscription.acked == []
    assert sorted(subscription.released) == sorted(f"ack-{i}" for i in range(150))


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--reason", "unknown_servise"], "invalid choice: 'unknown_servise'"),
        (["--timeout-s", "0"], "--timeout-s"),
        (["--timeout-s", "-5"], "must be a number of seconds above 0"),
        (["--timeout-s", "nan"], "--timeout-s"),
        (["--wait-s", "-1"], "--wait-s"),
    ],
)
def test_bad_options_are_usage_errors(
    extra: list[str], words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["replay", "--subscription", "s", "--project", "p", *extra])
    err = capsys.readouterr().err
    assert code == exits.EXIT_USAGE
    assert words in err
    if "--reason" in extra:
        assert "unknown_service" in err  # the valid codes are listed
        assert "dead_lettered" in err
