"""The publisher library: envelopes to ``enqueue-requests``, checked by the bridge's own model.

Never deployed and never imported by the function (``tests/test_layout.py``). The ``bridge``
command (``bridge.cli``), the benchmarks and any Python publisher use it:

    from bridge.publishing import publish, publish_traced
    message_id = publish("brain", {"case_id": "C-1"}, idempotency_key="case-C-1")
"""

from bridge.publishing.publisher import (
    AccessDenied,
    InvalidEnvelope,
    MissingTopic,
    Published,
    Publisher,
    PublishError,
    PublishFailed,
    build_envelope,
    publish,
    publish_traced,
)

__all__ = [
    "AccessDenied",
    "InvalidEnvelope",
    "MissingTopic",
    "PublishError",
    "PublishFailed",
    "Published",
    "Publisher",
    "build_envelope",
    "publish",
    "publish_traced",
]
