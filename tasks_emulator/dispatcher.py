"""The dispatch engine: when each task goes, what the worker receives, what the outcome does.

A scheduler thread takes due tasks from the store (skipping PAUSED queues, within each queue's
token bucket and ``max_concurrent_dispatches``) and hands them to a bounded pool of threads that
send the attempts with ``attempt.Sender``. It sleeps on a Condition until the next task is due, a
token is back or someone wakes it (a new or earlier task, a queue resumed or updated, an attempt
finished): no polling.

An outcome is recorded before the attempt counts as finished: 2xx deletes the task and reserves
its name; anything else updates the task's counters and ``last_attempt`` and retries it after
``retry.backoff_s``, or, once ``retry.may_retry`` says both limits are exhausted, deletes it and
reserves its name.
"""

from __future__ import annotations

import http
import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent import futures

from tasks_emulator import api, overrides, ratelimit, retry
from tasks_emulator.attempt import AttemptContext, AttemptOutcome, Sender, worker_headers
from tasks_emulator.fault_injection import FaultInjector
from tasks_emulator.oidc import IdTokenCache, TokenIssuer
from tasks_emulator.store import Store, Taken
from tasks_emulator.validation import method_name, seconds, set_seconds

LOG = logging.getLogger("tasks_emulator")
# Attempts in flight at once over all queues (each waits on its worker in a thread).
DEFAULT_MAX_WORKERS = 200
_STATE_RUNNING = 1
# cloud-tasks-dispatch.md: 429 and 503 slow the queue down, and Retry-After is considered.
SLOW_DOWN_STATUSES = frozenset({429, 503})

# google/rpc/code.proto's HTTP mapping, for last_attempt.response_status.
_RPC_CODE_OF_HTTP = {
    200: 0,  # OK
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    404: 5,  # NOT_FOUND
    409: 10,  # ABORTED
    429: 8,  # RESOURCE_EXHAUSTED
    499: 1,  # CANCELLED
    500: 13,  # INTERNAL
    501: 12,  # UNIMPLEMENTED
    503: 14,  # UNAVAILABLE
    504: 4,  # DEADLINE_EXCEEDED
}
_RPC_UNKNOWN = 2
_RPC_FAILED_PRECONDITION = 9  # other 4xx
_RPC_DEADLINE_EXCEEDED = 4
_RPC_UNAVAILABLE = 14


def rpc_status_of(outcome: AttemptOutcome) -> tuple[int, str]:
    """(google.rpc.Code, message) for an attempt's ``last_attempt.response_status``."""
    if outcome.status is None:
        if "deadline" in outcome.error.lower():
            return _RPC_DEADLINE_EXCEEDED, outcome.error
        return _RPC_UNAVAILABLE, outcome.error
    try:
        reason = http.HTTPStatus(outcome.status).phrase
    except ValueError:
        reason = "HTTP status"
    message = f"{outcome.status} {reason}"
    if outcome.status in _RPC_CODE_OF_HTTP:
        return _RPC_CODE_OF_HTTP[outcome.status], message
    if 200 <= outcome.status < 300:
        return 0, message
    if 400 <= outcome.status < 500:
        return _RPC_FAILED_PRECONDITION, message
    return _RPC_UNKNOWN, message


class Dispatcher:
    """Sends the store's due tasks; ``start`` once, ``stop`` once."""

    def __init__(
        self,
        *,
        store: Store,
        issuer: TokenIssuer,
        now_s: Callable[[], float] = time.time,
        max_workers: int = DEFAULT_MAX_WORKERS,
        faults: FaultInjector | None = None,
    ) -> None:
        self._store = store
        self._issuer = issuer
        self._now_s = now_s
        self._max_workers = max_workers
        self._faults = faults
        self._stopped = threading.Event()  # ends an injected delay at once
        self._sender = Sender(max_connections=max_workers)
        self._pool = futures.ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix="tasks-emulator-attempt"
        )
        self._cond = threading.Condition()
        self._woken = False
        self._stopping = False
        self._next_wake_s = math.inf  # while a pass runs, every wake counts
        self._in_flight: dict[str, int] = {}
        self._in_flight_total = 0
        self._buckets: dict[str, tuple[float, int, ratelimit.TokenBucket]] = {}
        self._id_tokens = IdTokenCache(issuer)
        self._thread = threading.Thread(
            target=self._run, name="tasks-emulator-scheduler", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    # --- what the service calls ---------------------------------------------------------------
    def wake(self, *, due_s: float) -> None:
        with self._cond:
            if due_s < self._next_wake_s:
                self._woken = True
                self._cond.notify()

    def run_now(self, taken: Taken) -> None:
        with self._cond:
            if self._stopping:
                return  # the process is ending; the task was not persisted as started
            self._in_flight[taken.queue] = self._in_flight.get(taken.queue, 0) + 1
            self._in_flight_total += 1
        self._submit(taken)

    # --- the scheduler -----------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                self._woken = False
                self._next_wake_s = math.inf
            wake_s = self._pass(self._now_s())
            with self._cond:
                if self._stopping:
                    return
                if self._woken:
                    continue
                self._next_wake_s = wake_s
                timeout_s = None if wake_s == math.inf else max(wake_s - self._now_s(), 0.0)
                self._cond.wait(timeout_s)
                self._next_wake_s = math.inf

    def _bucket(self, name: str, queue: api.Queue, now_s: float) -> ratelimit.TokenBucket:
        rate = queue.rate_limits.max_dispatches_per_second
        burst = queue.rate_limits.max_burst_size
        known = self._buckets.get(name)
        if known is None:
            bucket = ratelimit.TokenBucket(rate_per_s=rate, burst=burst, now_s=now_s)
            self._buckets[name] = (rate, burst, bucket)
            return bucket
        if known[:2] != (rate, burst):
            known[2].reconfigure(rate_per_s=rate, burst=burst, now_s=now_s)
            self._buckets[name] = (rate, burst, known[2])
        return known[2]

    def _pass(self, now_s: float) -> float:
        """Start every attempt the limits allow now; when to look again (inf: when woken)."""
        wake_s = math.inf
        for name, queue in self._store.queue_limits():
            if queue.state != _STATE_RUNNING:
                continue  # PAUSED (or DISABLED) queues hold their tasks
            bucket = self._bucket(name, queue, now_s)
            max_concurrent = queue.rate_limits.max_concurrent_dispatches
            while True:
                with self._cond:
                    if (
                        self._in_flight_total >= self._max_workers
                        or self._in_flight.get(name, 0) >= max_concurrent
                    ):
                        break  # an attempt that finishes wakes us
                due_s = self._store.next_due_s(name)
                if due_s is None:
                    break
                if due_s > now_s:
                    wake_s = min(wake_s, due_s)
                    break
                if not bucket.take(now_s):
                    wake_s = min(wake_s, now_s + bucket.wait_s(now_s))
                    break
                taken = self._store.take_due(name, now_s=now_s)
                if taken is None:
                    continue
                with self._cond:
                    self._in_flight[name] = self._in_flight.get(name, 0) + 1
                    self._in_flight_total += 1
                self._submit(taken)
        return wake_s

    def _submit(self, taken: Taken) -> None:
        future = self._pool.submit(self._attempt, taken)
        future.add_done_callback(_log_failure)

    # --- one attempt -------------------------------------------------------------------------
    def _authorization(self, request: api.HttpRequest, *, now_s: float) -> str | None:
        if request.HasField("oidc_token"):
            oidc = request.oidc_token
            audience = oidc.audience or request.url
            jwt = self._id_tokens.id_token(
                audience=audience, email=oidc.service_account_email, now_s=now_s
            )
            return f"Bearer {jwt}"
        if request.HasField("oauth_token"):
            oauth = request.oauth_token
            access = self._issuer.access_token(
                email=oauth.service_account_email, scope=oauth.scope, now_s=now_s
            )
            return f"Bearer {access}"
        return None

    def _attempt(self, taken: Taken) -> None:
        recorded = False
        try:
            task = taken.task
            http_target = self._store.http_target_of(taken.queue)
            request = (
                task.http_request
                if http_target is None
                else overrides.apply(task.http_request, http_target)
            )
            dispatch_s = self._now_s()
            context = AttemptContext(
                queue_id=taken.queue.rsplit("/", 1)[1],
                task_id=taken.name.rsplit("/", 1)[1],
                retry_count=taken.retry_count,
                execution_count=taken.execution_count,
                eta_s=seconds(task.schedule_time),
                previous_response=taken.previous_response,
                # Production sends an empty reason on every retry that follows a response.
                retry_reason=None if taken.previous_response is None else "",
            )
            headers = worker_headers(
                request, context, authorization=self._authorization(request, now_s=dispatch_s)
            )
            outcome = self._send(
                taken, request, headers, deadline_s=seconds(task.dispatch_deadline)
            )
            self._record(taken, outcome, dispatch_s=dispatch_s)
            recorded = True
        finally:
            if not recorded:  # a bug, not a worker's failure: retry the task rather than lose it
                failed = AttemptOutcome(status=None, error="internal error", elapsed_s=0.0)
                self._record(taken, failed, dispatch_s=self._now_s())
            with self._cond:
                self._in_flight[taken.queue] -= 1
                self._in_flight_total -= 1
                self._woken = True
                self._cond.notify()

    def _send(
        self, taken: Taken, request: api.HttpRequest, headers: dict[str, str], *, deadline_s: float
    ) -> AttemptOutcome:
        """Send the attempt, with the dispatch faults in force, if any."""

        def send() -> AttemptOutcome:
            return self._sender.send(
                method=method_name(request.http_method),
                url=request.url,
                headers=headers,
                body=request.body,
                deadline_s=deadline_s,
            )

        if self._faults is None:
            return send()
        decision = self._faults.decide_dispatch()
        if decision.delay_s > 0:
            self._faults.record(
                rpc="dispatch",
                kind="dispatch:delay",
                what=f"sent the request {decision.delay_s * 1000:.0f} ms late",
                resource=taken.name,
            )
            self._stopped.wait(decision.delay_s)
        outcome = send()
        if not decision.drop or outcome.status is None:
            return outcome
        what = (
            f"the worker answered {outcome.status}; dropped the connection before reading it "
            "(the attempt counts as failed)"
        )
        self._faults.record(rpc="dispatch", kind="dispatch:drop", what=what, resource=taken.name)
        return AttemptOutcome(
            status=None,
            error=f"connection dropped after the worker answered {outcome.status} (injected fault)",
            elapsed_s=outcome.elapsed_s,
        )

    def _record(self, taken: Taken, outcome: AttemptOutcome, *, dispatch_s: float) -> None:
        now_s = self._now_s()
        if outcome.succeeded:
            self._store.record_success(taken, now_s=now_s)
            return
        queue = self._store.get_queue(taken.queue)
        if queue is None:
            return  # the queue was deleted, and its tasks with it
        policy = retry.RetryPolicy.from_pb(queue.retry_config)
        attempts = taken.retry_count + 1
        next_due_s: float | None = None
        if retry.may_retry(
            policy, attempts=attempts, first_attempt_s=taken.first_attempt_s, now_s=now_s
        ):
            delay_s = retry.backoff_s(policy, failed_attempts=attempts)
            if outcome.status in SLOW_DOWN_STATUSES and outcome.retry_after_s is not None:
                # Production considers a 429/503's Retry-After; we wait at least that long,
                # within max_backoff.
                delay_s = max(delay_s, min(outcome.retry_after_s, policy.max_backoff_s))
            next_due_s = now_s + delay_s
        attempt = api.Task().last_attempt
        attempt.schedule_time.CopyFrom(taken.task.schedule_time)
        set_seconds(attempt.dispatch_time, dispatch_s)
        set_seconds(attempt.response_time, now_s)
        attempt.response_status.code, attempt.response_status.message = rpc_status_of(outcome)
        self._store.record_failure(
            taken, last_attempt=attempt, status=outcome.status, next_due_s=next_due_s, now_s=now_s
        )

    # --- the end -----------------------------------------------------------------------------
    def stop(self) -> None:
        """Take no more tasks; let the attempts in flight end (each within its deadline) and be
        recorded."""
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        # Attempts not yet started (RunTask beyond the pool) stay pending, as nothing was sent.
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._sender.close()


def _log_failure(future: futures.Future[None]) -> None:
    error = future.exception()
    if error is not None:
        LOG.error("an attempt failed inside the emulator", exc_info=error)
