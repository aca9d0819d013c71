"""enqueue-bridge: Pub/Sub messages to Cloud Tasks (see README.md).

``main.py`` imports this package on the function's cold-start path: nothing heavy is imported
here. ``bridge.publish(service, payload, ...)`` (from ``bridge.cli.publisher``) loads on first use.

The modules directly in this package are exactly what the function runs; ``bridge.cli`` (the
``bridge`` command) and ``bridge.stack`` (the local stack) are never imported by it.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    if name == "publish":
        from bridge.cli.publisher import publish

        return publish
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
