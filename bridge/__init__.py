"""enqueue-bridge: Pub/Sub messages to Cloud Tasks (see README.md).

``main.py`` imports this package on the function's cold-start path: nothing heavy is imported
here. ``bridge.publish`` (the publisher, callable as ``bridge.publish(service, payload, ...)``)
is loaded on first use only.
"""

from __future__ import annotations

import importlib
from typing import Any


def __getattr__(name: str) -> Any:
    if name == "publish":
        return importlib.import_module("bridge.publish")
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
