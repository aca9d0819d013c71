"""A CloudEvent function that keeps what functions-framework's Flask wrapper gave it: the
reference ``bridge.push.read_event`` is compared with (tests/test_push.py)."""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from tests.functions.capture.events import EVENTS


@functions_framework.cloud_event
def capture(event: CloudEvent) -> None:
    EVENTS.append((event.get("id"), event.get("time"), event.data))
