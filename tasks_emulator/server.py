"""The process: the command line, the gRPC and REST servers, the dispatcher, a clean stop.

``python -m tasks_emulator [--host 127.0.0.1] [--port 8123] [--http-port 8124]
[--queue projects/P/locations/L/queues/Q ...] [--data-dir DIR] [--name-reserve-s 3600]
[--fault RPC:WHEN:CODE:P ...] [--latency RPC:MS|RPC:MIN-MAX ...]
[--dispatch-fault drop:P|delay:P:MS ...] [--fault-seed N]``
prints one line when it is ready and stops cleanly on SIGTERM or SIGINT (a second one stops at
once, without waiting for the attempts in flight).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import grpc
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server

from tasks_emulator import api, console, fault_admin, faults, grpc_api, names, rest_api
from tasks_emulator.dispatcher import Dispatcher
from tasks_emulator.errors import ApiError
from tasks_emulator.fault_injection import FaultInjector, with_faults
from tasks_emulator.oidc import TokenIssuer
from tasks_emulator.service import CloudTasksService
from tasks_emulator.store import Store

# gRPC calls served at once (``--api-threads``): every call is short, and more threads only
# contend for the GIL (4 served 2 KB CreateTasks faster than 8 or 16 on 2 cores). ``--latency``
# holds its thread while it waits: N threads answer at most N / latency calls per second.
API_THREADS = 4
# A stop waits this long for API calls in progress.
API_GRACE_S = 5.0
# The main thread waits for a stop signal in slices this long (a bound, should one be missed).
SIGNAL_CHECK_S = 0.5


@dataclass(frozen=True, slots=True)
class Options:
    host: str
    port: int
    http_port: int
    queues: tuple[str, ...]
    data_dir: Path | None
    name_reserve_s: float
    fault_plan: faults.FaultPlan
    api_threads: int = API_THREADS


def parse_args(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m tasks_emulator",
        description="A faithful local Cloud Tasks emulator for HTTP targets (gRPC and REST).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (loopback)")
    parser.add_argument("--port", type=int, default=8123, help="gRPC API port (0: any free)")
    parser.add_argument(
        "--http-port", type=int, default=8124, help="REST API and OIDC discovery port (0: any)"
    )
    parser.add_argument(
        "--queue",
        action="append",
        default=[],
        metavar="projects/P/locations/L/queues/Q",
        help="a queue created at start with production's defaults (repeatable)",
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="keep the state in SQLite here")
    parser.add_argument(
        "--name-reserve-s",
        type=float,
        default=3600.0,
        help="how long a task's name stays reserved after it ran or was deleted (s)",
    )
    parser.add_argument(
        "--api-threads",
        type=int,
        default=API_THREADS,
        help=f"gRPC calls served at once (default {API_THREADS}; raise it with --latency)",
    )
    _add_fault_arguments(parser)
    args = parser.parse_args(argv)
    for queue in args.queue:
        try:
            names.parse_queue_name(queue, field="--queue")
        except ApiError as e:
            parser.error(e.message)
    if args.name_reserve_s < 0:
        parser.error("--name-reserve-s must not be negative")
    if args.api_threads < 1:
        parser.error("--api-threads must be at least 1")
    return Options(
        host=args.host,
        port=args.port,
        http_port=args.http_port,
        queues=tuple(args.queue),
        data_dir=args.data_dir,
        name_reserve_s=args.name_reserve_s,
        fault_plan=_fault_plan(parser, args),
        api_threads=args.api_threads,
    )


def _add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("faults (see README, 'Faults on demand')")
    group.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="RPC:WHEN:CODE:P",
        help="with probability P, RPC (a method name or *) answers CODE before doing anything "
        "(WHEN=before) or after committing the work (WHEN=after: the reply lost); repeatable",
    )
    group.add_argument(
        "--latency",
        action="append",
        default=[],
        metavar="RPC:MS|RPC:MIN-MAX",
        help="every matching call answers no sooner than MS (or a uniform draw in MIN-MAX) "
        "milliseconds; repeatable",
    )
    group.add_argument(
        "--dispatch-fault",
        action="append",
        default=[],
        metavar="drop:P|delay:P:MS|delay:P:MIN-MAX",
        help="with probability P, drop a dispatch attempt's connection after the worker answered "
        "(it counts as failed), or send its request MS later; repeatable",
    )
    group.add_argument(
        "--fault-seed",
        default=None,
        metavar="N",
        help="seed of the faults' random draws: the same seed, the same faults in the same order",
    )


def _fault_plan(parser: argparse.ArgumentParser, args: argparse.Namespace) -> faults.FaultPlan:
    try:
        return faults.FaultPlan(
            rpc_faults=tuple(faults.parse_fault(spec) for spec in args.fault),
            latencies=tuple(faults.parse_latency(spec) for spec in args.latency),
            dispatch_faults=tuple(
                faults.parse_dispatch_fault(spec) for spec in args.dispatch_fault
            ),
            seed=None if args.fault_seed is None else faults.parse_seed(args.fault_seed),
        )
    except faults.FaultSpecError as e:
        parser.error(str(e))


def _grpc_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Emulator:
    """Everything running: build with ``start``, end with ``stop``."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.store = Store(data_dir=options.data_dir, name_reserve_s=options.name_reserve_s)
        self.service = CloudTasksService(store=self.store, now_s=time.time)
        self.issuer = TokenIssuer.load_or_create(options.data_dir)
        self.faults = FaultInjector(options.fault_plan)
        self.dispatcher = Dispatcher(
            store=self.store, issuer=self.issuer, now_s=time.time, faults=self.faults
        )
        self.service.attach(self.dispatcher)
        for queue in options.queues:
            if self.store.get_queue(queue) is None:
                self.service.create_queue(
                    api.CreateQueueRequest(
                        parent=names.parse_queue_name(queue, field="--queue").parent,
                        queue=api.Queue(name=queue),
                    )
                )
        # Both wire adapters call the service through the injector: every RPC can be faulted.
        served = with_faults(self.service, self.faults)
        self._grpc = grpc.server(futures.ThreadPoolExecutor(max_workers=options.api_threads))
        self._grpc.add_generic_rpc_handlers(grpc_api.make_handlers(served))
        self.grpc_port = self._grpc.add_insecure_port(_grpc_address(options.host, options.port))
        if self.grpc_port == 0:
            raise OSError(f"cannot listen on {options.host}:{options.port} for gRPC")
        self._http = make_server(
            options.host,
            options.http_port,
            console.mount(
                DispatcherMiddleware(
                    rest_api.make_rest_app(served, self.issuer, test_helpers=self.service),
                    {fault_admin.PREFIX: fault_admin.make_admin_app(self.faults)},
                ),
                console.Console(store=self.store, service=self.service, issuer=self.issuer),
            ),
            threaded=True,
        )
        self.http_port = self._http.server_port
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="tasks-emulator-http", daemon=True
        )

    def start(self) -> None:
        self.dispatcher.start()
        self._grpc.start()
        self._http_thread.start()

    def ready_line(self) -> str:
        host = self.options.host
        return (
            f"tasks_emulator ready: grpc {_grpc_address(host, self.grpc_port)} "
            f"http {self.http_url} "
            f"oidc {self.http_url}/.well-known/openid-configuration "
            f"console {self.http_url}{console.PREFIX}/ "
            f"data-dir {self.options.data_dir or '(memory)'}"
        )

    @property
    def http_url(self) -> str:
        host = self.options.host
        return (
            f"http://[{host}]:{self.http_port}"
            if ":" in host
            else f"http://{host}:{self.http_port}"
        )

    def stop(self) -> None:
        """Stop taking calls, let attempts in flight end and be recorded, close the store."""
        stopped = self._grpc.stop(API_GRACE_S)
        if self._http_thread.is_alive():
            self._http.shutdown()
        self._http.server_close()
        stopped.wait()
        self.service.close()  # the batches started finish before the store closes
        self.dispatcher.stop()
        self.store.close()


def _log_to_stderr() -> None:
    """The emulator's own log lines (injected faults, say) on stderr; not each HTTP request."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("tasks_emulator: %(message)s"))
    logger = logging.getLogger("tasks_emulator")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    _log_to_stderr()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            # A second signal ends at once, like kill -9: every committed change is kept and
            # only the attempts in flight run again after a restart.
            print("tasks_emulator: stopping now, not waiting for attempts", file=sys.stderr)
            os._exit(128 + signum)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # The kernel hands a process's signal to any thread that does not block it, and Python runs
    # the handler only once the main thread runs bytecode again: a signal that lands on a server
    # thread while the main thread waits on a lock is never seen. So every thread the emulator
    # starts (and each thread those start) blocks both; only the main thread receives them.
    stop_signals = {signal.SIGTERM, signal.SIGINT}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        emulator = Emulator(options)
        emulator.start()
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
    print(emulator.ready_line(), flush=True)
    try:
        while not stop.wait(timeout=SIGNAL_CHECK_S):
            pass
    finally:
        emulator.stop()
    print("tasks_emulator stopped", file=sys.stderr, flush=True)
    return 0
