from __future__ import annotations

from datetime import timedelta

from google.cloud.tasks_v2.types import cloudtasks

from bridge.config import Settings
from bridge.envelope import Envelope
from bridge.naming import KeyKind
from bridge.plan import DedupeKey, TaskSpec, plan_task
from bridge.task import build_request
from tests.conftest import CALLER_SA, NOW, PUBLISHED_AT

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_the_request_carries_everything_the_spec_decided(settings: Settings) -> None:
    spec = plan_task(
        Envelope(service="transcripciones", payload={"audio": "ñ"}, delay_s=60, deadline_s=120),
        settings=settings,
        dedupe=DedupeKey(KeyKind.IDEMPOTENCY_KEY, "K-1"),
        message_id="1001",
        not_before=PUBLISHED_AT,
        now=NOW,
    )
    raw = build_request(spec)
    request = cloudtasks.CreateTaskRequest.wrap(raw)  # what the gateway sends
    task = request.task
    assert request.parent == settings.routes["transcripciones"].queue_path
    assert task.name == spec.task_name
    assert task.http_request.url == "https://transcripciones-abc-uc.a.run.app/api/transcribe"
    assert task.http_request.http_method.name == "POST"
    assert dict(task.http_request.headers) == spec.headers
    assert task.http_request.body == '{"audio":"ñ"}'.encode()
    assert task.http_request.oidc_token.service_account_email == CALLER_SA
    assert task.http_request.oidc_token.audience == "https://transcripciones-abc-uc.a.run.app"
    assert task.dispatch_deadline == timedelta(seconds=120)
    assert task.schedule_time == PUBLISHED_AT + timedelta(seconds=60)
    # It serialises: the protobuf is well-formed.
    assert cloudtasks.CreateTaskRequest.deserialize(raw.SerializeToString()) == request


def test_no_schedule_time_when_dispatching_now(settings: Settings) -> None:
    spec = plan_task(
        Envelope(service="brain", payload={}),
        settings=settings,
        dedupe=DedupeKey(KeyKind.MESSAGE_ID, "1"),
        message_id="1",
        not_before=NOW,
        now=NOW,
    )
    assert not build_request(spec).task.HasField("schedule_time")


def test_each_request_is_its_own_though_its_route_part_is_built_once(settings: Settings) -> None:
    def spec_for(
        key: str, *, payload: dict[str, str], delay_s: int, deadline_s: int | None
    ) -> TaskSpec:
        return plan_task(
            Envelope(service="brain", payload=payload, delay_s=delay_s, deadline_s=deadline_s),
            settings=settings,
            dedupe=DedupeKey(KeyKind.IDEMPOTENCY_KEY, key),
            message_id=None,
            not_before=NOW,
            now=NOW,
            traceparent=TRACEPARENT if key == "A" else None,
        )

    first_spec = spec_for("A", payload={"a": "1"}, delay_s=60, deadline_s=120)
    first = build_request(first_spec)
    first_bytes = first.SerializeToString()
    second_spec = spec_for("B", payload={"b": "2"}, delay_s=0, deadline_s=None)
    second = build_request(second_spec)
    assert first.SerializeToString() == first_bytes  # building the second changed nothing
    assert dict(second.task.http_request.headers) == second_spec.headers  # no traceparent of A's
    assert "traceparent" in first.task.http_request.headers
    assert (second.task.name, second.task.http_request.body) == (
        second_spec.task_name,
        b'{"b":"2"}',
    )
    assert not second.task.HasField("schedule_time")
    assert second.task.dispatch_deadline.seconds == settings.routes["brain"].deadline_s
    assert first.task.dispatch_deadline.seconds == 120
