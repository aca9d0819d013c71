"""Concurrency itself, on the real stack: many pushes in flight in one instance, redeliveries of
one message racing each other, and nothing left behind after 10,000 requests.

Pushes are posted straight to the served function as a push subscription posts them (raw push
bodies, keep-alive connections), so that their number in flight is the test's to choose.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from functions_framework import create_app

from bridge.stack import procs
from bridge.stack.poll import poll_until
from bridge.stack.runner import REPO_ROOT, SERVICE_BY_NAME, Stack

pytestmark = pytest.mark.e2e

BRAIN = SERVICE_BY_NAME["brain"]
SUBSCRIPTION = "projects/local-bridge/subscriptions/enqueue-requests-push"


def push(message_id: str, data: bytes) -> bytes:
    """The body of a raw push of one message."""
    message = {
        "data": base64.b64encode(data).decode(),
        "attributes": {},
        "messageId": message_id,
        "publishTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return json.dumps({"message": message, "subscription": SUBSCRIPTION}).encode()


def envelope(key: str) -> bytes:
    return json.dumps(
        {"service": "brain", "payload": {"key": key}, "idempotency_key": key}
    ).encode()


async def _post(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, port: int, body: bytes
) -> int:
    writer.write(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (port, len(body), body)
    )
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return int(head[9:12])


async def all_at_once(port: int, bodies: list[bytes]) -> list[int]:
    """Each body on a connection of its own, all written at the same moment."""
    go = asyncio.Event()

    async def one(body: bytes) -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            await go.wait()
            return await _post(reader, writer, port, body)
        finally:
            writer.close()

    answers = [asyncio.ensure_future(one(body)) for body in bodies]
    await asyncio.sleep(0.5)  # every connection open and waiting
    go.set()
    return list(await asyncio.gather(*answers))


async def in_turn(port: int, bodies: list[bytes], *, connections: int) -> Counter[int]:
    """``bodies`` over ``connections`` keep-alive connections, each sending the next when the
    previous one is answered."""
    pending = iter(bodies)
    statuses: Counter[int] = Counter()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for body in pending:
                statuses[await _post(reader, writer, port, body)] += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return statuses


def mixed_traffic(tag: str, count: int) -> list[bytes]:
    """Mostly new requests; every 10th a redelivery of an earlier message; every 50th a message
    that can only be rejected (to the real rejected topic)."""
    bodies: list[bytes] = []
    for n in range(count):
        if n % 50 == 49:
            bodies.append(push(f"{tag}-bad-{n}", b"{not json"))
        elif n % 10 == 9:
            earlier = n - 9
            bodies.append(push(f"{tag}-{earlier}", envelope(f"{tag}-{earlier}")))
        else:
            bodies.append(push(f"{tag}-{n}", envelope(f"{tag}-{n}")))
    return bodies


@pytest.fixture
def brain_paused(stack: Stack) -> Iterator[None]:
    """queue-brain paused (its tasks accumulate, nothing is dispatched), purged and resumed
    after: thousands of tasks must not reach the recording worker of the other tests."""
    tasks = stack.require_tasks()
    tasks.pause(BRAIN.queue_path)
    try:
        yield
    finally:
        tasks.purge(BRAIN.queue_path)
        tasks.resume(BRAIN.queue_path)


def _faults(stack: Stack, method: str, document: dict[str, Any] | None = None) -> None:
    url = f"http://127.0.0.1:{stack.tasks_http_port}/_emulator/faults"
    data = None if document is None else json.dumps(document).encode()
    with urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=10):
        pass


def task_keys(stack: Stack) -> Counter[str]:
    """How many tasks of queue-brain carry each idempotency key."""
    return Counter(
        task.http_request.headers["X-Idempotency-Key"]
        for task in stack.require_tasks().list_tasks(BRAIN.queue_path)
    )


@pytest.mark.usefixtures("brain_paused")
def test_200_pushes_in_flight_with_racing_redeliveries_give_one_task_each(
    stack: Stack, unique: str
) -> None:
    # 50 messages pushed once and 50 pushed three times, all 200 at the same moment; CreateTask
    # answers 50 ms late, so the copies of one message are all in flight together.
    once = [f"once-{unique}-{n}" for n in range(50)]
    thrice = [f"thrice-{unique}-{n}" for n in range(50)]
    bodies = [push(key, envelope(key)) for key in once] + [
        push(key, envelope(key)) for key in thrice for _ in range(3)
    ]
    _faults(stack, "PUT", {"latency": ["CreateTask:50"]})
    try:
        statuses = asyncio.run(all_at_once(stack.function_port, bodies))
    finally:
        _faults(stack, "DELETE")
    assert statuses == [200] * 200  # every one acked: created, or a duplicate of its twin
    keys = task_keys(stack)
    assert {key: keys[key] for key in once + thrice} == dict.fromkeys(once + thrice, 1)
    ours = set(once + thrice)
    outcomes: dict[str, list[str]] = {}

    def logged() -> bool:
        outcomes.clear()
        for entry in stack.function_log():
            if entry.get("message_id") in ours:
                outcomes.setdefault(entry["message_id"], []).append(entry["outcome"])
        return sum(map(len, outcomes.values())) >= 200

    poll_until(logged, what="200 log lines", timeout_s=30)
    for key in once:
        assert outcomes[key] == ["created"], key
    for key in thrice:
        assert sorted(outcomes[key]) == ["created", "duplicate", "duplicate"], key


def thread_count(stack: Stack) -> int:
    """Threads of the served function's processes (gunicorn's arbiter and its worker)."""
    pgid = stack.process_ids()["function"]
    return sum(len(os.listdir(f"/proc/{pid}/task")) for pid in procs.group_members(pgid))


@pytest.mark.usefixtures("brain_paused")
def test_no_thread_leaks_across_10000_requests_to_the_served_function(
    stack: Stack, unique: str
) -> None:
    port = stack.function_port
    asyncio.run(in_turn(port, mixed_traffic(f"warm-{unique}", 500), connections=40))
    before = thread_count(stack)
    traffic = mixed_traffic(unique, 10_000)
    statuses = asyncio.run(in_turn(port, traffic, connections=40))
    assert statuses == Counter({200: 10_000})
    # The publisher's threads finish with their batches: wait for them, within a bound.
    poll_until(lambda: thread_count(stack) <= before, what="the threads of before", timeout_s=20)
    requested = {json.loads(body)["message"]["messageId"] for body in traffic}
    valid = {m for m in requested if "-bad-" not in m}
    keys = task_keys(stack)
    assert {key: n for key, n in keys.items() if key.startswith(f"{unique}-")} == dict.fromkeys(
        valid, 1
    )


class Served:
    """main.py's ASGI app under uvicorn in this process, its event loop at hand."""

    def __init__(self, stack: Stack) -> None:
        os.environ.update(stack.function_env())
        os.environ["FUNCTION_TARGET"] = "enqueue"
        self.port = procs.free_port()
        app = create_app("enqueue", str(REPO_ROOT / "main.py"), "cloudevent")
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, lifespan="off", log_level="error"
        )
        self.server = uvicorn.Server(config)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_until_complete, args=(self.server.serve(),), daemon=True
        )

    def __enter__(self) -> Served:
        self._thread.start()
        poll_until(lambda: procs.tcp_open(self.port), what="uvicorn to listen", timeout_s=20)
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=20)

    def tasks(self) -> int:
        """asyncio tasks alive in the server's loop (less the one counting)."""

        async def count() -> int:
            return len(asyncio.all_tasks()) - 1

        return asyncio.run_coroutine_threadsafe(count(), self.loop).result(timeout=10)


@pytest.mark.usefixtures("brain_paused")
def test_no_asyncio_task_leaks_across_10000_requests(stack: Stack, unique: str) -> None:
    with Served(stack) as served:
        asyncio.run(in_turn(served.port, mixed_traffic(f"warm-aio-{unique}", 500), connections=40))
        before = served.tasks()
        statuses = asyncio.run(
            in_turn(served.port, mixed_traffic(f"aio-{unique}", 10_000), connections=40)
        )
        assert statuses == Counter({200: 10_000})
        # Connections just closed may still be winding down: a bounded wait, then equality.
        poll_until(lambda: served.tasks() <= before, what="the tasks of before", timeout_s=20)
        assert served.tasks() == before
