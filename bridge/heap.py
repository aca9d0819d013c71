"""The garbage collector set for a process that serves many small requests at once.

At cold start the heap holds some 90,000 container objects (gRPC, protobuf, pydantic, starlette)
that live as long as the instance. CPython's defaults make the collector walk them again and again:
with 80 pushes in flight each request's dicts and protos outlive a young collection (700 net
allocations), get promoted, and trigger full collections of the whole heap, so the collector took
~0.12 ms per message, more than the bridge's own work (BENCHMARKS.md, "One instance").

- ``gc.freeze()`` moves what import and wiring made to a generation the collector never walks;
- a young threshold of 10,000 net allocations: requests free what they allocate, so a young
  collection becomes rare (fewer than 20 in 17,000 messages) instead of one every few messages.

Cycles are still collected; the cost is at most a few MB of garbage waiting a little longer.
"""

from __future__ import annotations

import gc

YOUNG_COLLECTION_THRESHOLD = 10_000  # net allocations between young collections (CPython: 700)


def settle_after_cold_start() -> None:
    """Call once, after the imports and the wiring, before the first request."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD)
