"""A queue's dispatch rate: production's derived burst size and a token bucket.

``RateLimits`` in queue.proto: "Each queue has a token bucket that holds tokens, up to the maximum
specified by max_burst_size. Each time a task is dispatched, a token is removed from the bucket
... The bucket will be continuously refilled with new tokens based on max_dispatches_per_second."
Time is passed in (``now_s``, any monotonic clock), so the bucket is tested with plain numbers.
"""

from __future__ import annotations

import math
import threading

# Production derives max_burst_size (output only) and publishes no formula. queue.proto says it is
# "generally at least equal to max_dispatches_per_second but might be higher"; observed values
# (gcloud/REST describe output in public repositories) are 10 for 1/s and 100 for the default
# 500/s. We take the rate rounded up, never below 10 and never above 100: it matches both
# observations and the proto's "at least the rate" wherever the two agree.
_MIN_BURST = 10
_MAX_BURST = 100


def max_burst_for(max_dispatches_per_second: float) -> int:
    """The ``max_burst_size`` production shows for a queue dispatching at this rate."""
    if not math.isfinite(max_dispatches_per_second) or max_dispatches_per_second <= 0:
        return _MIN_BURST
    return max(_MIN_BURST, min(_MAX_BURST, math.ceil(max_dispatches_per_second)))


class TokenBucket:
    """Up to ``burst`` tokens, refilled at ``rate_per_s``; one token per dispatch. Starts full.

    Thread-safe; never reads a clock.
    """

    def __init__(self, *, rate_per_s: float, burst: int, now_s: float) -> None:
        self._lock = threading.Lock()
        self._rate_per_s = max(rate_per_s, 0.0)
        self._burst = max(burst, 1)
        self._tokens = float(self._burst)
        self._updated_s = now_s

    def _refill(self, now_s: float) -> None:
        elapsed_s = max(now_s - self._updated_s, 0.0)  # a clock that steps back adds nothing
        self._tokens = min(float(self._burst), self._tokens + elapsed_s * self._rate_per_s)
        self._updated_s = max(self._updated_s, now_s)

    def take(self, now_s: float) -> bool:
        """Take one token if there is one (True), else leave the bucket as it is (False)."""
        with self._lock:
            self._refill(now_s)
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def wait_s(self, now_s: float) -> float:
        """Seconds from ``now_s`` until a token is there (0 if one is; inf at a zero rate)."""
        with self._lock:
            self._refill(now_s)
            missing = 1.0 - self._tokens
            if missing <= 0:
                return 0.0
            if self._rate_per_s <= 0:
                return math.inf
            return missing / self._rate_per_s

    def reconfigure(self, *, rate_per_s: float, burst: int, now_s: float) -> None:
        """Apply a queue update: tokens earned so far are kept, up to the new burst."""
        with self._lock:
            self._refill(now_s)
            self._rate_per_s = max(rate_per_s, 0.0)
            self._burst = max(burst, 1)
            self._tokens = min(self._tokens, float(self._burst))
