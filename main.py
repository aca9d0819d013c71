"""Entry points for functions-framework. Wiring only: the logic lives in ``bridge/``.

- ``enqueue``: Pub/Sub message (any CloudEvent shape, or a raw push) -> Cloud Task.
- ``enqueue_http``: the old enqueuer's ``POST /enqueue``, on the same core.

The configuration is read and validated here, once, at cold start: a bad variable stops the
instance with a message naming it.
"""

from __future__ import annotations

import os

import flask
import functions_framework
from cloudevents.http import CloudEvent

from bridge.config import load_settings, require_rejection_sink
from bridge.errors import TransientError
from bridge.gateway import CloudTasksGateway
from bridge.http_entry import HttpBridge
from bridge.pubsub_entry import PubsubBridge
from bridge.rejections import DroppingRejectionSink, PubsubRejectionSink, RejectionSink

settings = load_settings(os.environ)
if settings.rejects_to_a_topic:
    require_rejection_sink(settings)

gateway = CloudTasksGateway(
    timeout_s=settings.tasks_timeout_s, emulator_host=settings.tasks_emulator_host
)
rejections: RejectionSink = (
    PubsubRejectionSink(topic_path=settings.rejected_topic, timeout_s=settings.publish_timeout_s)
    if settings.rejected_topic
    else DroppingRejectionSink()
)
pubsub_bridge = PubsubBridge(settings=settings, gateway=gateway, rejections=rejections)
http_bridge = HttpBridge(settings=settings, gateway=gateway)


@functions_framework.cloud_event
def enqueue(event: CloudEvent) -> None:
    try:
        pubsub_bridge.handle(
            event_id=event.get("id"), event_time=event.get("time"), data=event.data
        )
    except TransientError as e:
        # 503 makes Pub/Sub redeliver. The retry is already logged as one structured line: an
        # HTTP error, unlike an uncaught exception, adds no traceback entry per redelivery.
        flask.abort(503, description=f"retry later: {e.code}")


@functions_framework.http
def enqueue_http(request: flask.Request) -> flask.Response:
    return http_bridge.handle(request)
