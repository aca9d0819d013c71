"""Fixtures for the publishers' tests: one real Pub/Sub emulator for the session, fresh topics.

The emulator is started with ``bridge.stack``'s launcher (own process group, loopback, free port,
readiness polled with a deadline, stopped by PID). A missing emulator or Java skips these tests
with the reason, except under CI=true where it fails them.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.envelope import Envelope
from bridge.event import PubsubMessage, decode_event
from bridge.message import envelope_of
from bridge.stack import procs
from bridge.stack.emulator import start_pubsub_emulator
from bridge.stack.poll import gather_for, poll_until
from bridge.stack.procs import MissingPrerequisite
from bridge.stack.pubsub_rest import PubSubRest, PulledMessage
from bridge.stack.runner import find_pubsub_emulator
from tests.prerequisites import missing_prerequisite

PROJECT = "publish-tests"


@dataclass(frozen=True)
class Emulator:
    host: str
    rest: PubSubRest

    def env(self) -> dict[str, str]:
        """An environment for a child process that talks to this emulator only."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GOOGLE_", "CLOUDSDK_", "PUBSUB_"))
        }
        env.update({"PUBSUB_EMULATOR_HOST": self.host, "GOOGLE_CLOUD_PROJECT": PROJECT})
        return env


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    try:
        launcher = find_pubsub_emulator()
        if shutil.which("java") is None:
            raise MissingPrerequisite("Java is not on PATH: the Pub/Sub emulator needs a JRE 11+")
    except MissingPrerequisite as err:
        missing_prerequisite(str(err))
    port = procs.free_port()
    state = Path(tempfile.mkdtemp(prefix="bridge-publish-tests-"))
    proc = start_pubsub_emulator(
        launcher, port=port, log_path=state / "pubsub-emulator.log", cwd=state
    )
    try:
        host = f"127.0.0.1:{port}"
        yield Emulator(host=host, rest=PubSubRest(host=host, project=PROJECT))
    finally:
        procs.stop(proc)
        shutil.rmtree(state, ignore_errors=True)


@pytest.fixture
def pubsub_env(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """This process talks to the emulator (the autouse fixture restores os.environ after)."""
    for key in list(os.environ):
        if key.startswith(("GOOGLE_", "CLOUDSDK_", "PUBSUB_")):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", emulator.host)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    return emulator


NOTHING_WINDOW_S = 2.0  # how long "nothing arrived" is watched for: the emulator delivers in ms


@dataclass(frozen=True)
class Topic:
    """A fresh topic with one pull subscription."""

    id: str
    subscription: str
    rest: PubSubRest

    @property
    def path(self) -> str:
        return self.rest.topic_path(self.id)

    def pull_for(self, window_s: float = NOTHING_WINDOW_S) -> list[PulledMessage]:
        """Everything that arrives within ``window_s`` (acked): a check that nothing was sent
        waits this bounded window, not one immediate pull that a late message would miss."""
        return gather_for(
            lambda: self.rest.pull(self.subscription, max_messages=1000), window_s=window_s
        )

    def pull_all(
        self, *, expect: int | None = None, timeout_s: float = 20.0
    ) -> list[PulledMessage]:
        """``expect`` messages from the subscription (acked); raised if fewer arrived within
        ``timeout_s``: ``TimedOut``. Without ``expect``: what one pull returns now."""
        found: list[PulledMessage] = []

        def enough() -> bool:
            found.extend(self.rest.pull(self.subscription, max_messages=1000))
            return expect is None or len(found) >= expect

        poll_until(enough, timeout_s=timeout_s, what=f"{expect} message(s) on {self.subscription}")
        return found


def new_topic(rest: PubSubRest, prefix: str = "t") -> Topic:
    name = f"{prefix}-{uuid.uuid4().hex[:10]}"
    rest.create_topic(name)
    rest.create_subscription(f"{name}-pull", topic_id=name)
    return Topic(id=name, subscription=f"{name}-pull", rest=rest)


@pytest.fixture
def topic(emulator: Emulator) -> Topic:
    return new_topic(emulator.rest)


def as_bridge_sees_it(message: PulledMessage) -> PubsubMessage:
    """A pulled message, through the bridge's own event decoder (as a push body)."""
    body = {
        "subscription": "projects/publish-tests/subscriptions/any",
        "message": {
            "data": base64.b64encode(message.data).decode("ascii"),
            "attributes": message.attributes,
            "messageId": message.message_id,
            "publishTime": message.publish_time,
        },
    }
    return decode_event(event_id=None, event_time=None, data=body)


def decoded_envelope(message: PulledMessage) -> Envelope:
    """What the bridge reads out of a pulled message (raises PermanentError as it would)."""
    return envelope_of(as_bridge_sees_it(message))
