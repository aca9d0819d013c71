"""Entry points for functions-framework. Wiring only: the logic lives in ``bridge/``.

- ``enqueue``: Pub/Sub push (any CloudEvent shape, or a raw push) -> Cloud Task.
- ``enqueue_http``: the old enqueuer's ``POST /enqueue``, on the same core.

Both are coroutines on functions-framework's ASGI stack (``functions_framework.aio``): one
instance serves as many requests at once as Cloud Run sends it, each awaiting its CreateTask.

The configuration is read and validated here, once, at cold start: a bad variable stops the
instance with a message naming it.
"""

from __future__ import annotations

import os

import functions_framework.aio
from starlette.requests import Request
from starlette.responses import Response

from bridge.config import load_settings, require_rejection_sink
from bridge.gateway import AsyncCloudTasksGateway
from bridge.heap import settle_after_cold_start
from bridge.http_entry import HttpBridge
from bridge.pubsub_entry import PubsubBridge
from bridge.push import PushEntry
from bridge.rejections import AsyncRejectionSink, DroppingRejectionSink, PubsubRejectionSink

settings = load_settings(os.environ)
if settings.rejects_to_a_topic:
    require_rejection_sink(settings)

gateway = AsyncCloudTasksGateway(
    timeout_s=settings.tasks_timeout_s, emulator_host=settings.tasks_emulator_host
)
rejections: AsyncRejectionSink = (
    PubsubRejectionSink(topic_path=settings.rejected_topic, timeout_s=settings.publish_timeout_s)
    if settings.rejected_topic
    else DroppingRejectionSink()
)
push_entry = PushEntry(PubsubBridge(settings=settings, gateway=gateway, rejections=rejections))
http_bridge = HttpBridge(settings=settings, gateway=gateway)
settle_after_cold_start()  # what is built so far lives as long as the instance


@functions_framework.aio.http
async def enqueue(request: Request) -> Response:
    return await push_entry.answer(request)


@functions_framework.aio.http
async def enqueue_http(request: Request) -> Response:
    return await http_bridge.handle(request)
