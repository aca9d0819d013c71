"""Soak under faults: at least 10,000 messages through the real local stack while the Cloud Tasks
emulator injects production's failures and is stopped and restarted twice, and functions-framework
is restarted once; then every message is accounted for **at the worker**. Prints the table and
PASS or FAIL (exit 1); stops by itself.

Run: .venv/bin/python -m benchmarks.soak [--blocks 100] [--deadline-s 280]

Each block of 100 messages holds:

- 45 valid envelopes with a key of their own (services rotated; every 5th in attribute mode),
- 5 keys published twice (the same envelope, two messages: duplicates by key), 10 messages,
- 5 valid envelopes without a key (named by their message id),
- 10 valid envelopes without a key published to ``soak-twice``, a topic with two push
  subscriptions to the function: the very same message (same id) is delivered twice,
- 5 valid envelopes without a key published to ``soak-at-once``, pulled by the soak and each
  pushed to the function twice at the same moment (two threads behind a barrier),
- 5 envelopes without a key published by our publisher (``bridge.publishing``) through a client
  that loses every request's first reply: the publisher retries, Pub/Sub holds two messages with
  two ids, and the key the publisher generated once makes them one request, 10 messages,
- 10 malformed messages (one per rejection reason below),
- 5 valid envelopes for ``limbo``, a service whose queue does not exist until the end, published
  to ``soak-limbo`` (a push subscription of 5 attempts, Pub/Sub's minimum): Cloud Tasks answers
  NOT_FOUND, the bridge retries, Pub/Sub dead-letters them within seconds; then the queue is
  created and the dead-letter subscription is replayed with ``bridge.cli.replay.replay`` (what
  ``bridge replay --all`` runs).

The Cloud Tasks emulator runs with ``benchmarks/soak_faults.py``'s plan on every start: 1% of
CreateTasks commit and answer DEADLINE_EXCEEDED, 1% UNAVAILABLE (the reply lost), 0.5% of
dispatches drop the worker's answer (the task runs again: at-least-once, as production), 2% are
sent up to 0.5 s late; and, over ``/_emulator/faults``, an UNAVAILABLE burst on every RPC, a
window of CreateTask latency past the bridge's timeout, a RESOURCE_EXHAUSTED burst. The faults it
injected are read back from its log; every retry the bridge logged is put down to its cause.

The main push subscriptions have no retryPolicy (the emulator then redelivers about once a
second) and ``maxDeliveryAttempts`` = 50, so outages do not dead-letter valid messages (an
unkeyed message replayed from the dead-letter topic is named after its new message id: a second
task).

The verdict is on what the recording worker received: every request (a key, or a message id;
a replayed message belongs to its original's request) accepted under one task name, once, or
again only as often as the emulator dropped that task's answer; with an OIDC token the worker
verified (email ``CALLER_SA``, the right audience); none refused, nothing the soak did not
publish; zero requests turned into two tasks. The Cloud Tasks emulator persists its tasks
(``--data-dir``) and refuses a name it holds: a restart loses nothing and duplicates are refused
before they reach a worker. The queues have Terraform's retry settings; their rate limits are
opened to 500/s (Terraform's 10/s would make this a rate test of 4 minutes and more).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from benchmarks import soak_faults
from benchmarks.soak_faults import FaultsAdmin, LostReplyClient, PushTally
from bridge.cli.replay import Candidate, replay
from bridge.cli.subscription import PubsubSubscription
from bridge.config import DEFAULT_SERVICES
from bridge.naming import KeyKind, task_id_for
from bridge.publishing.publisher import (
    Publisher,
    PublishError,
    PubsubTransport,
    batches,
    build_envelope,
)
from bridge.rejections import OutgoingMessage
from bridge.stack.procs import MissingPrerequisite, StackError
from bridge.stack.pubsub_rest import PulledMessage
from bridge.stack.queue_policy import terraform_defaults
from bridge.stack.runner import (
    CALLER_SA,
    DEAD_LETTER_SUBSCRIPTION,
    DEAD_LETTER_TOPIC,
    PROJECT_ID,
    PUSH_SUBSCRIPTION,
    REGION,
    REJECTED_SUBSCRIPTION,
    SERVICES,
    TOPIC,
    Stack,
)
from bridge.stack.worker import Received

TWICE_TOPIC = "soak-twice"
AT_ONCE_TOPIC = "soak-at-once"  # pulled by the soak, each message pushed twice at one moment
AT_ONCE_SUBSCRIPTION = "soak-at-once-pull"
LIMBO_TOPIC = "soak-limbo"
MAX_ATTEMPTS = 50  # outages on a loaded machine must not dead-letter valid messages
LIMBO_ATTEMPTS = 5  # Pub/Sub's minimum: limbo is dead-lettered within seconds
DEAD_COUNT_SUBSCRIPTION = "soak-dead-count"
SOAK_POLICY = terraform_defaults().replace(
    max_dispatches_per_second=500, max_concurrent_dispatches=1000
)
SETTLE_S = 3.0  # after the last expected delivery: a second one would arrive in this window
LIMBO_QUEUE = "queue-limbo"
LIMBO_PATH = f"projects/{PROJECT_ID}/locations/{REGION}/queues/{LIMBO_QUEUE}"
VALID_SERVICES = [s.name for s in SERVICES]
OUTAGE_S = 6.0
# (bridge_reason, data) of the malformed messages; {i} makes each one unique.
MALFORMED: list[tuple[str, str]] = [
    ("bad_json", '{{"service": "brain", "payload": {{"i": "{i}"'),
    ("not_an_object", '["brain", "{i}"]'),
    ("missing_field", '{{"payload": {{"i": "{i}"}}}}'),
    ("unknown_field", '{{"service": "brain", "payload": {{"i": "{i}"}}, "colour": 1}}'),
    ("wrong_type", '{{"service": "brain", "payload": {{"i": "{i}"}}, "delay_s": "30"}}'),
    ("out_of_range", '{{"service": "brain", "payload": {{"i": "{i}"}}, "delay_s": -1}}'),
    ("unknown_service", '{{"service": "facturas", "payload": {{"i": "{i}"}}}}'),
    ("payload_not_object", '{{"service": "brain", "payload": ["{i}"]}}'),
    (
        "bad_idempotency_key",
        '{{"service": "brain", "payload": {{"i": "{i}"}}, "idempotency_key": "a\\nb{i}"}}',
    ),
    ("bad_utf8", "\udcff{i}"),  # a lone surrogate: written with surrogateescape -> byte 0xff
]


@dataclass
class Request:
    """One unit of work a publisher asked for: it must become exactly one task name."""

    ident: str
    service: str
    key: str | None  # the idempotency key, or None: named by the message id
    message_ids: list[str] = field(default_factory=list)  # the originals
    replay_ids: dict[str, str] = field(default_factory=dict)  # replay id -> its origin id

    def expected_ids(self) -> set[str]:
        """Task ids this request may legitimately be named by (each alone, never two)."""
        if self.key is not None:
            return {task_id_for(service=self.service, kind=KeyKind.IDEMPOTENCY_KEY, value=self.key)}
        origins = set(self.message_ids) | set(self.replay_ids.values())
        return {
            task_id_for(service=self.service, kind=KeyKind.MESSAGE_ID, value=origin)
            for origin in origins
        }


@dataclass
class Plan:
    requests: dict[str, Request] = field(default_factory=dict)
    malformed: dict[str, str] = field(default_factory=dict)  # message id -> expected reason
    by_data: dict[bytes, str] = field(default_factory=dict)  # data -> request ident
    twice: set[str] = field(default_factory=set)  # idents delivered by two subscriptions
    at_once: set[str] = field(default_factory=set)  # idents pushed twice at the same moment
    lost_reply: set[str] = field(default_factory=set)  # idents published with a reply lost
    published: int = 0


class Soak:
    def __init__(self, stack: Stack, *, blocks: int, run: str, deadline: float) -> None:
        self.stack = stack
        self.blocks = blocks
        self.run = run
        self.deadline = deadline
        self.plan = Plan()
        self.transport = PubsubTransport(timeout_s=30)
        self.faults: list[str] = []
        self.fault_error: BaseException | None = None
        self.fault_steps = 0
        self.burst_counts: dict[str, int] = {}
        self.admin = FaultsAdmin(stack.tasks_http_port)
        # Our own publisher (it keys every envelope), through a client that loses each reply.
        self.lossy = LostReplyClient(PubsubTransport().client())
        self.lossy_publisher = Publisher(
            topic=f"projects/{PROJECT_ID}/topics/{TOPIC}",
            transport=PubsubTransport(timeout_s=30, client=self.lossy),
        )
        self.pushers: list[threading.Thread] = []
        self.push_tally = PushTally()
        self.push_lock = threading.Lock()

    # -- publishing --------------------------------------------------------------------------

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def send(self, topic: str, messages: list[OutgoingMessage]) -> list[str]:
        path = f"projects/{PROJECT_ID}/topics/{topic}"
        ids: list[str] = []
        for batch in batches(messages, topic_path=path):
            ids += self.transport.send(path, batch)
        self.plan.published += len(ids)
        return ids

    def envelope(self, ident: str, service: str, key: str | None) -> OutgoingMessage:
        body: dict[str, Any] = {"service": service, "payload": {"soak": ident, "fill": "x" * 200}}
        if key is not None:
            body["idempotency_key"] = key
        return OutgoingMessage(json.dumps(body).encode(), {})

    def add(
        self, ident: str, service: str, key: str | None, message: OutgoingMessage
    ) -> tuple[Request, OutgoingMessage]:
        request = Request(ident, service, key)
        self.plan.requests[ident] = request
        self.plan.by_data[message.data] = ident
        return request, message

    def publish_block(self, block: int) -> None:
        main: list[tuple[Request | str, OutgoingMessage]] = []
        twice: list[tuple[Request, OutgoingMessage]] = []
        limbo: list[tuple[Request, OutgoingMessage]] = []
        prefix = f"{self.run}-{block}"
        for n in range(45):
            service = VALID_SERVICES[n % 4]
            ident, key = f"{prefix}-k{n}", f"soak-{prefix}-k{n}"
            if n % 5 == 0:  # attribute mode
                payload = json.dumps({"soak": ident}).encode()
                message = OutgoingMessage(payload, {"service": service, "idempotency_key": key})
                main.append(self.add(ident, service, key, message))
            else:
                main.append(self.add(ident, service, key, self.envelope(ident, service, key)))
        for n in range(5):  # the same key twice
            ident, key = f"{prefix}-d{n}", f"soak-{prefix}-d{n}"
            request, message = self.add(ident, "brain", key, self.envelope(ident, "brain", key))
            main += [(request, message), (request, message)]
        for n in range(5):
            ident = f"{prefix}-u{n}"
            main.append(
                self.add(ident, "testimonios", None, self.envelope(ident, "testimonios", None))
            )
        for n in range(10):
            ident = f"{prefix}-t{n}"
            self.plan.twice.add(ident)
            twice.append(self.add(ident, "regresos", None, self.envelope(ident, "regresos", None)))
        for n in range(10):
            reason, template = MALFORMED[n % len(MALFORMED)]
            data = template.format(i=f"{prefix}-m{n}").encode("utf-8", "surrogateescape")
            main.append((reason, OutgoingMessage(data, {})))
        for n in range(5):
            ident, key = f"{prefix}-l{n}", f"soak-{prefix}-l{n}"
            limbo.append(self.add(ident, "limbo", key, self.envelope(ident, "limbo", key)))
        ids = self.send(TOPIC, [message for _, message in main])
        for (owner, _), message_id in zip(main, ids, strict=True):
            if isinstance(owner, Request):
                owner.message_ids.append(message_id)
            else:
                self.plan.malformed[message_id] = owner
        for topic, group in ((TWICE_TOPIC, twice), (LIMBO_TOPIC, limbo)):
            ids = self.send(topic, [message for _, message in group])
            for (request, _), message_id in zip(group, ids, strict=True):
                request.message_ids.append(message_id)
        self.publish_lost_replies(prefix)
        self.push_at_once(prefix)

    def publish_lost_replies(self, prefix: str) -> None:
        """5 requests without a key, through our publisher, each reply lost once: 10 messages
        (two ids each), one generated key each."""
        idents = [f"{prefix}-p{n}" for n in range(5)]
        envelopes = [build_envelope("brain", {"soak": i, "fill": "x" * 200}) for i in idents]
        self.lossy_publisher.publish_many(envelopes)
        wanted = set(idents)
        sent = {
            json.loads(data)["payload"]["soak"]: (data, ids)
            for data, ids in self.lossy.take_ids().items()
        }
        if set(sent) != wanted:
            raise StackError(f"lost-reply publishes unaccounted for: {wanted ^ set(sent)}")
        for ident in idents:
            data, ids = sent[ident]
            request = Request(ident, "brain", json.loads(data)["idempotency_key"])
            request.message_ids += ids
            self.plan.requests[ident] = request
            self.plan.by_data[data] = ident
            self.plan.lost_reply.add(ident)
            self.plan.published += len(ids)

    def push_at_once(self, prefix: str) -> None:
        """5 requests without a key, published, pulled, and each pushed to the function twice
        at the same moment (two threads behind a barrier), as Pub/Sub may push one message."""
        group = []
        for n in range(5):
            ident = f"{prefix}-s{n}"
            self.plan.at_once.add(ident)
            group.append(
                self.add(ident, "testimonios", None, self.envelope(ident, "testimonios", None))
            )
        ids = self.send(AT_ONCE_TOPIC, [message for _, message in group])
        for (request, _), message_id in zip(group, ids, strict=True):
            request.message_ids.append(message_id)
        wanted = set(ids)
        pulled: dict[str, PulledMessage] = {}
        end = time.monotonic() + 30
        while wanted - set(pulled) and time.monotonic() < end:
            for message in self.stack.pubsub.pull(AT_ONCE_SUBSCRIPTION):
                pulled[message.message_id] = message
            time.sleep(0.02)
        if wanted - set(pulled):
            raise StackError(f"{len(wanted - set(pulled))} soak-at-once messages never pulled")
        url = f"{self.stack.function_url}/projects/{PROJECT_ID}/topics/{AT_ONCE_TOPIC}"
        subscription = f"projects/{PROJECT_ID}/subscriptions/{AT_ONCE_SUBSCRIPTION}"
        for message_id in ids:
            body = soak_faults.push_body(pulled[message_id], subscription=subscription)
            self.pushers += soak_faults.push_twice_at_once(
                url, body, deadline=self.deadline, tally=self.push_tally, lock=self.push_lock
            )

    # -- faults ------------------------------------------------------------------------------

    def fault_schedule(self, started: float, stop: threading.Event) -> None:
        steps: list[tuple[float, str, Callable[[], None]]] = [
            (8.0, "Cloud Tasks emulator stopped", self.stop_tasks),
            (8.0 + OUTAGE_S, "Cloud Tasks emulator restarted", self.stack.start_tasks_emulator),
            (22.0, "functions-framework restarted", self.stack.restart_function),
            (32.0, "Cloud Tasks emulator stopped", self.stop_tasks),
            (32.0 + OUTAGE_S, "Cloud Tasks emulator restarted", self.stack.start_tasks_emulator),
        ]
        # Steps run one after the other: a burst never meets a stopped emulator.
        for burst in soak_faults.BURSTS:
            what = f"{burst.label} (ended)"
            steps.append((burst.at_s, what, functools.partial(self.burst, burst, stop)))
        steps.sort(key=lambda step: step[0])
        self.fault_steps = len(steps)
        try:
            for at, what, action in steps:
                while time.monotonic() < started + at:
                    if stop.wait(0.05):
                        return
                action()
                self.faults.append(f"{time.monotonic() - started:5.1f} s  {what}")
                print(f"  fault at {time.monotonic() - started:5.1f} s: {what}", flush=True)
        except BaseException as err:  # reported by the main thread
            self.fault_error = err

    def burst(self, burst: soak_faults.Burst, stop: threading.Event) -> None:
        self.burst_counts[burst.label] = self.admin.burst(burst, stop=stop)

    def stop_tasks(self) -> None:
        self.stack.stop_tasks_emulator()

    # -- the run -----------------------------------------------------------------------------

    def setup(self) -> None:
        pubsub = self.stack.pubsub
        # Sees every dead-lettered message too: tells when all of limbo is there, without
        # touching the operators' subscription that the replay reads.
        pubsub.create_subscription(DEAD_COUNT_SUBSCRIPTION, topic_id=DEAD_LETTER_TOPIC)
        # The stack's push subscription has a 1-10 s backoff and 5 attempts: ours, see above.
        pubsub.delete_subscription(PUSH_SUBSCRIPTION)
        self.stack.add_push_subscription(
            PUSH_SUBSCRIPTION, topic_id=TOPIC, dead_letter=(DEAD_LETTER_TOPIC, MAX_ATTEMPTS)
        )
        pubsub.create_topic(TWICE_TOPIC)
        for n in (1, 2):
            self.stack.add_push_subscription(
                f"{TWICE_TOPIC}-{n}",
                topic_id=TWICE_TOPIC,
                dead_letter=(DEAD_LETTER_TOPIC, MAX_ATTEMPTS),
            )
        pubsub.create_topic(AT_ONCE_TOPIC)
        pubsub.create_subscription(AT_ONCE_SUBSCRIPTION, topic_id=AT_ONCE_TOPIC)
        pubsub.create_topic(LIMBO_TOPIC)
        self.stack.add_push_subscription(
            LIMBO_TOPIC, topic_id=LIMBO_TOPIC, dead_letter=(DEAD_LETTER_TOPIC, LIMBO_ATTEMPTS)
        )

    def publish_all(self, *, interval_s: float) -> None:
        stop = threading.Event()
        started = time.monotonic()
        faults = threading.Thread(
            target=self.fault_schedule, args=(started, stop), name="faults", daemon=True
        )
        faults.start()
        try:
            for block in range(self.blocks):
                if self.remaining() <= 0:
                    raise StackError("global deadline reached while publishing")
                self.publish_block(block)
                time.sleep(max(0.0, started + (block + 1) * interval_s - time.monotonic()))
            print(
                f"  published {self.plan.published} messages in {time.monotonic() - started:.1f} s",
                flush=True,
            )
            faults.join(timeout=max(0.0, self.remaining()))
        finally:
            stop.set()
            faults.join(timeout=30)
        if self.fault_error is not None:
            raise StackError(f"a fault step failed: {self.fault_error}") from self.fault_error

    def wait(self, check: Callable[[], bool], what: str, *, limit_s: float) -> bool:
        begun = time.monotonic()
        end = min(self.deadline, begun + limit_s)
        while time.monotonic() < end:
            if check():
                print(f"  {what}: after {time.monotonic() - begun:.0f} s more", flush=True)
                return True
            time.sleep(1.0)
        print(f"  gave up waiting for {what}", flush=True)
        return check()


def task_id(entry: dict[str, Any]) -> str:
    return str(entry.get("task", "")).rsplit("/", 1)[-1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blocks", type=int, default=100, help="blocks of 100 messages")
    parser.add_argument("--interval-s", type=float, default=0.45, help="seconds between blocks")
    parser.add_argument("--deadline-s", type=float, default=280, help="global deadline")
    args = parser.parse_args()
    deadline = time.monotonic() + args.deadline_s

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    signal.signal(signal.SIGALRM, interrupt)
    started = time.monotonic()
    print(
        f"soak: {args.blocks * 100} messages, 2 Cloud Tasks emulator outages of {OUTAGE_S:g} s, "
        f"1 function restart, {len(soak_faults.BURSTS)} fault bursts and "
        f"{soak_faults.BASE_PLAN} throughout; deadline {args.deadline_s:.0f} s",
        flush=True,
    )
    received: list[Received] = []
    lock = threading.Lock()

    def on_request(request: Received) -> None:
        with lock:
            received.append(request)

    extra_env = {
        "BRIDGE_SERVICES": f"{DEFAULT_SERVICES},limbo:LIMBO",
        "QUEUE_LIMBO": LIMBO_QUEUE,
        "TASKS_TIMEOUT_S": str(soak_faults.TASKS_TIMEOUT_S),
    }
    stack = Stack(
        extra_env=extra_env,
        on_request=on_request,
        echo=lambda line: print(f"· {line}", flush=True),
        queue_policy=SOAK_POLICY,
        tasks_emulator_args=soak_faults.emulator_args(),
    )
    stack.extra_env["URL_LIMBO"] = stack.worker.url("/limbo")  # the worker's port is bound
    signal.alarm(int(args.deadline_s) + 60)  # a backstop: the waits below honour the deadline
    try:
        with stack:
            os.environ["PUBSUB_EMULATOR_HOST"] = stack.pubsub_host
            soak = Soak(stack, blocks=args.blocks, run=time.strftime("%H%M%S"), deadline=deadline)
            soak.setup()
            soak.publish_all(interval_s=args.interval_s)
            return verify(soak, received, lock, started)
    except MissingPrerequisite as err:
        print(f"cannot run: {err}", file=sys.stderr)
        return 2
    except (StackError, PublishError, KeyboardInterrupt) as err:
        print(f"FAIL: {type(err).__name__}: {err} (every process was stopped)", file=sys.stderr)
        return 1


def verify(soak: Soak, received: list[Received], lock: threading.Lock, started: float) -> int:
    stack, plan = soak.stack, soak.plan
    requests = plan.requests
    limbo = {r.ident for r in requests.values() if r.service == "limbo"}

    def accepted() -> Counter[str]:
        """Task id -> requests the worker accepted (2xx) for it."""
        with lock:
            return Counter(r.task_id for r in received if r.ok)

    def arrived(idents: set[str] | None = None) -> bool:
        got = accepted()
        return all(
            any(got[t] for t in r.expected_ids())
            for r in requests.values()
            if (r.ident in idents if idents is not None else r.ident not in limbo)
        )

    soak.wait(arrived, "the worker to receive every valid request", limit_s=180)
    for pusher in soak.pushers:  # each ends on a 2xx (or the deadline)
        pusher.join(timeout=max(0.0, soak.remaining()))

    rejected: dict[str, list[str]] = defaultdict(list)

    def drain_rejected() -> bool:
        for _ in range(50):
            got = stack.pubsub.pull(REJECTED_SUBSCRIPTION, max_messages=1000)
            for message in got:
                origin = message.attributes.get("bridge_message_id", "")
                rejected[origin].append(message.attributes.get("bridge_reason", ""))
            if not got:
                break
        return all(m in rejected for m in plan.malformed)

    soak.wait(drain_rejected, "every malformed message in the rejected topic", limit_s=60)

    # Dead-lettered: once every limbo message has used up its attempts, fix the cause (create
    # its queue) and replay the dead-letter subscription, in rounds until the limbo requests
    # reached the worker and the subscription is empty.
    limbo_dead: set[str] = set()

    def limbo_dead_lettered() -> bool:
        for _ in range(50):
            got = stack.pubsub.pull(DEAD_COUNT_SUBSCRIPTION, max_messages=1000)
            limbo_dead.update(i for m in got if (i := plan.by_data.get(m.data)) in limbo)
            if not got:
                break
        return limbo_dead >= limbo

    soak.wait(limbo_dead_lettered, "every limbo message in the dead-letter topic", limit_s=90)
    stack.require_tasks().ensure_queue(LIMBO_PATH, SOAK_POLICY)
    subscription = PubsubSubscription(
        f"projects/{PROJECT_ID}/subscriptions/{DEAD_LETTER_SUBSCRIPTION}", wait_s=3
    )
    dead: list[Candidate] = []
    republished: dict[str, str] = {}
    unmatched_dead = 0
    dead_by_kind: Counter[str] = Counter()

    def replay_round() -> bool:
        nonlocal unmatched_dead
        report = replay(
            subscription,
            topic_path=f"projects/{PROJECT_ID}/topics/{TOPIC}",
            transport=soak.transport,
            select_all=True,
            max_messages=100_000,
        )
        dead.extend(report.seen)
        republished.update(report.republished)
        for candidate in report.seen:
            ident = plan.by_data.get(candidate.pulled.data)
            if ident is None:
                unmatched_dead += 1
                continue
            dead_by_kind["limbo" if ident in limbo else "other valid"] += 1
            new_id = report.republished.get(candidate.pulled.message_id)
            if new_id is not None:
                requests[ident].replay_ids[new_id] = candidate.origin_message_id
        return not report.seen and arrived(set(requests))

    soak.wait(replay_round, "every dead-lettered message replayed and delivered", limit_s=90)
    time.sleep(SETTLE_S)  # a second delivery of anything would arrive in this window

    # -- accounting at the worker ----------------------------------------------------------
    with lock:
        records = list(received)
    got = accepted()
    failures: list[str] = []
    injected = soak_faults.injected_faults(stack.log_path("tasks-emulator"))
    # An answer dropped after the worker's 2xx: the attempt failed, the task runs again.
    drops = Counter(
        f.task_id for f in injected if f.kind == "dispatch:drop" and "answered 2" in f.what
    )
    latency_tasks = {f.task_id for f in injected if f.kind == "CreateTask:latency"}
    lost_after = {f.task_id for f in injected if f.kind.startswith("CreateTask:after:")}
    expected_all: set[str] = set()
    exact = missing = twice = wrong_name = at_least_once = 0
    for request in requests.values():
        ids = request.expected_ids()
        expected_all |= ids
        names = {t for t in ids if got[t]}
        if not names:
            missing += 1
            failures.append(f"{request.ident}: never accepted by the worker")
        elif len(names) > 1:
            wrong_name += 1
            failures.append(f"{request.ident}: turned into {len(names)} tasks")
        else:
            (name,) = names
            extra = got[name] - 1
            if extra == 0:
                exact += 1
            elif extra <= drops[name]:
                at_least_once += 1  # production's at-least-once dispatch, not the bridge
            else:
                twice += 1
                failures.append(
                    f"{request.ident}: accepted {got[name]} times, {drops[name]} dropped answers"
                )
    foreign = [t for t in got if t not in expected_all]
    failures += [f"worker accepted task {t}, which no request names" for t in foreign]
    refused = [r for r in records if r.status in (401, 403)]
    failures += [f"worker refused {r.task_id}: {r.status} {r.reason}" for r in refused[:5]]
    unverified = [r for r in records if r.ok and r.claims.get("email") != CALLER_SA]
    failures += [f"task {r.task_id}: accepted without a verified token" for r in unverified[:5]]
    other_status = Counter(r.status for r in records if not r.ok and r.status not in (401, 403))

    log = stack.function_log()
    request_of = {m: r for r in requests.values() for m in [*r.message_ids, *r.replay_ids]}
    causes: Counter[str] = Counter()
    for entry in log:
        if entry.get("outcome") == "retry":
            owner = request_of.get(str(entry.get("message_id")))
            had_latency = owner is not None and bool(owner.expected_ids() & latency_tasks)
            causes[soak_faults.retry_cause(entry, had_latency=had_latency)] += 1
    retried_attempts = [
        r for r in records if r.header("X-CloudTasks-TaskRetryCount") not in ("0", None)
    ]
    after_drop = sum(1 for r in retried_attempts if drops[r.task_id])
    lost_once = sum(1 for t in lost_after if got[t] == 1)
    lost_more = sum(1 for t in lost_after if got[t] > 1)
    lost_reply_exact = sum(
        1 for i in plan.lost_reply if sum(got[t] for t in requests[i].expected_ids()) >= 1
    )
    outcomes: Counter[str] = Counter(str(e.get("outcome")) for e in log)
    created = Counter(task_id(e) for e in log if e.get("outcome") == "created")
    retries = Counter(str(e.get("message_id")) for e in log if e.get("outcome") == "retry")
    max_retries = {"one": 0, "two": 0}
    for request in requests.values():
        if request.ident not in limbo:
            if request.ident in plan.at_once:
                continue  # pushed by the soak itself, every 0.5 s until a 2xx: no attempt limit
            kind = "two" if request.ident in plan.twice else "one"
            most = max(retries[m] for m in request.message_ids)
            max_retries[kind] = max(max_retries[kind], most)
    rejected_valid = {str(e.get("message_id")) for e in log if e.get("outcome") == "rejected"} & {
        m for r in requests.values() for m in [*r.message_ids, *r.replay_ids]
    }
    failures += [f"valid {m}: rejected" for m in sorted(rejected_valid)]
    malformed_missing = [m for m in plan.malformed if m not in rejected]
    malformed_wrong = [
        m for m, reason in plan.malformed.items() if m in rejected and reason not in rejected[m]
    ]
    failures += [f"malformed {m}: not in the rejected topic" for m in malformed_missing]
    failures += [f"malformed {m}: wrong reason {rejected[m]}" for m in malformed_wrong]
    if unmatched_dead:
        failures.append(f"{unmatched_dead} dead-lettered message(s) match nothing published")
    unreplayed = len({c.pulled.message_id for c in dead} - set(republished))
    if unreplayed:
        failures.append(f"{unreplayed} dead-lettered message(s) not replayed")
    if dead_by_kind["limbo"] < len(limbo):
        failures.append(
            f"only {dead_by_kind['limbo']} of {len(limbo)} limbo messages were dead-lettered"
        )
    kinds = Counter(f.kind for f in injected)
    for wanted in soak_faults.EXPECTED_KINDS:
        if not any(kind.endswith(wanted) for kind in kinds):
            failures.append(f"no {wanted} fault was injected")
    if len(soak.faults) < soak.fault_steps:
        failures.append(f"only {len(soak.faults)} of {soak.fault_steps} fault steps ran")

    valid_messages = sum(len(r.message_ids) for r in requests.values())
    reasons = dict(sorted(Counter(plan.malformed.values()).items()))
    duplicates_refused = outcomes["duplicate"]
    rows = [
        (
            "published",
            f"{plan.published} messages: {valid_messages} valid, {len(plan.malformed)} malformed",
        ),
        (
            "  distinct requests",
            f"{len(requests)}: {len(limbo)} limbo, {len(plan.twice)} delivered by two "
            "subscriptions, duplicates by key and by delivery on purpose",
        ),
        ("faults", "; ".join(f.strip() for f in soak.faults)),
        ("faults injected (emulator)", str(dict(sorted(kinds.items())))),
        ("  in the bursts", str(soak.burst_counts)),
        ("  base plan", json.dumps(soak_faults.BASE_PLAN) + f", seed {soak_faults.FAULT_SEED}"),
        ("retries by cause (bridge)", str(dict(causes.most_common()))),
        (
            "  reply lost after commit",
            f"{len(lost_after)} tasks: {lost_once} accepted once, {lost_more} again after a "
            "dropped answer",
        ),
        (
            "  dispatch retries (worker)",
            f"{len(retried_attempts)} attempts: {after_drop} after a dropped answer "
            "(dispatch:drop), the rest after an attempt that failed before reaching the worker",
        ),
        (
            "publish replies lost",
            f"{soak.lossy.lost} requests retried by our publisher: {len(plan.lost_reply)} "
            f"keyless envelopes -> {2 * len(plan.lost_reply)} messages, one generated key each; "
            f"{lost_reply_exact} delivered",
        ),
        (
            "pushed twice at once",
            f"{len(plan.at_once)} messages: {soak.push_tally.pushes} pushes, "
            f"{soak.push_tally.accepted} answered 2xx, "
            f"refused {dict(soak.push_tally.refused or {})}",
        ),
        ("queues", f"Terraform's retry config, {SOAK_POLICY.max_dispatches_per_second:g}/s"),
        ("function outcomes (lines)", str(dict(sorted(outcomes.items())))),
        (
            "  most failed deliveries",
            f"{max_retries['one']} of {MAX_ATTEMPTS} allowed (a valid message, one subscription);"
            f" {max_retries['two']} over two subscriptions (soak-twice)",
        ),
        ("  duplicates refused", f"{duplicates_refused} (ALREADY_EXISTS, logged `duplicate`)"),
        ("  names created twice", str(sum(1 for c in created.values() if c > 1))),
        ("worker: requests", f"{len(records)} received, {sum(got.values())} accepted"),
        ("  exactly once", f"{exact}/{len(requests)} requests, under the expected name"),
        (
            "  again after a dropped answer",
            f"{at_least_once} (at-least-once dispatch, as production; one task each)",
        ),
        ("  never received", str(missing)),
        ("  received twice, unexplained", str(twice)),
        ("  two tasks for one request", str(wrong_name)),
        ("  not published by the soak", str(len(foreign))),
        (
            "  tokens",
            f"{sum(1 for r in records if r.ok and r.claims)} verified ({CALLER_SA}), "
            f"{len(refused)} refused 401/403",
        ),
        ("  other answers", str(dict(other_status)) if other_status else "none"),
        (
            "malformed -> rejected",
            f"{len(plan.malformed) - len(malformed_missing)}/{len(plan.malformed)}, "
            f"wrong reason {len(malformed_wrong)}",
        ),
        ("  reasons", str(reasons)),
        ("  valid messages rejected", str(len(rejected_valid))),
        ("dead-lettered", f"{len(dead)} {dict(dead_by_kind)}, unmatched {unmatched_dead}"),
        ("  replayed", f"{len(republished)}, then delivered exactly once (above)"),
        ("elapsed", f"{time.monotonic() - started:.0f} s"),
    ]
    print()
    for label, value in rows:
        print(f"{label:<28} {value}")
    for line in failures[:20]:
        print(f"  ! {line}")
    if len(failures) > 20:
        print(f"  ! ... and {len(failures) - 20} more")
    verdict = "PASS" if not failures else "FAIL"
    print(f"\nverdict: {verdict}", flush=True)
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
