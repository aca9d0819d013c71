"""Per-message CPU of the pure path (decode the event, validate, route, name, build the
CreateTask request) against a floor: the same steps done the fastest way there is, with nothing
checked (pybase64, pydantic's JSON parser, the body in compact JSON, the request copied from a
prebuilt one and given its name, body and headers). Envelopes of ~2 KB and ~500 KB.

Run: .venv/bin/python -m benchmarks.cpu [--runs N]
"""

from __future__ import annotations

import argparse
import base64
import json
import timeit
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pybase64
import pydantic_core
from google.cloud.tasks_v2.types import cloudtasks, target, task
from google.protobuf import duration_pb2

from benchmarks.cold_start import bench_env
from benchmarks.stats import ratio_line
from bridge.config import load_settings
from bridge.event import decode_event
from bridge.message import plan_message
from bridge.task import build_request

SETTINGS = load_settings(bench_env())
NOW = datetime(2026, 11, 28, 12, 0, 5, tzinfo=UTC)
_Request: Any = cloudtasks.CreateTaskRequest.pb()
_Task: Any = task.Task.pb()
_Http: Any = target.HttpRequest.pb()
_Oidc: Any = target.OidcToken.pb()


def push_event(payload_bytes: int) -> dict[str, Any]:
    rows = [
        {"fila": n, "nombre": "María Ñandú", "nota": "x" * 40} for n in range(payload_bytes // 70)
    ]
    envelope = {"service": "regresos", "payload": {"rows": rows}, "idempotency_key": "CASE-001"}
    data = base64.b64encode(json.dumps(envelope, ensure_ascii=False).encode()).decode()
    return {"message": {"data": data, "messageId": "1001", "publishTime": "2026-11-28T12:00:00Z"}}


def ours(event: dict[str, Any]) -> Callable[[], object]:
    def run() -> object:
        message = decode_event(event_id="1001", event_time=None, data=event)
        return build_request(plan_message(message, settings=SETTINGS, now=NOW))

    return run


def floor(event: dict[str, Any]) -> Callable[[], object]:
    route = SETTINGS.routes["regresos"]
    body_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
    template = _Request(
        parent=route.queue_path,
        task=_Task(
            http_request=_Http(
                url=route.url,
                http_method=1,
                oidc_token=_Oidc(service_account_email=SETTINGS.caller_sa, audience=route.audience),
            ),
            dispatch_deadline=duration_pb2.Duration(seconds=route.deadline_s),
        ),
    )

    def run() -> object:
        envelope = pydantic_core.from_json(pybase64.b64decode(event["message"]["data"]))
        request = _Request()
        request.CopyFrom(template)
        request.task.name = f"{route.queue_path}/tasks/fixed"
        http = request.task.http_request
        http.body = body_json.encode(envelope["payload"]).encode()
        http.headers["Content-Type"] = "application/json"
        http.headers["X-Idempotency-Key"] = envelope["idempotency_key"]
        return request

    return run


def per_call_us(function: Callable[[], object], number: int) -> float:
    return timeit.timeit(function, number=number) / number * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    print(f"per-message CPU, {runs} alternating runs each, median [min-max] per message")
    for label, size, number in (
        ("~2 KB envelope", 2_000, 2_000),
        ("~500 KB envelope", 500_000, 20),
    ):
        event = push_event(size)
        mine, base = ours(event), floor(event)
        mine(), base()  # warm up
        ours_us, floor_us = [], []
        for _ in range(runs):
            floor_us.append(per_call_us(base, number))
            ours_us.append(per_call_us(mine, number))
        print(ratio_line(label, ours_us, floor_us, "us"))


if __name__ == "__main__":
    main()
