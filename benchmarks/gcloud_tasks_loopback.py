"""Run gcloud-tasks-emulator bound to 127.0.0.1 only.

gcloud-tasks-emulator 0.6.2 always calls ``add_insecure_port("[::]:PORT")``, whatever host it is
given, so it would listen on every interface. This wrapper replaces ``grpc.server`` with a factory
whose servers rewrite that address to ``127.0.0.1:PORT``, then calls the emulator's own entry point
with the same arguments (``start -p PORT -q -d projects/P/locations/L/queues/Q ...``).

It runs under the baseline's own virtualenv (``.venv-gcloud-tasks``, whose protobuf conflicts
with ours): ``benchmarks.emulator`` runs it by path; nothing imports it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any


def _loopback_server_factory(original: Any) -> Any:
    def server(*args: Any, **kwargs: Any) -> Any:
        real = original(*args, **kwargs)
        add_insecure_port = real.add_insecure_port

        def add_loopback_port(address: str) -> Any:
            host, _, port = address.rpartition(":")
            if host in ("[::]", "0.0.0.0", ""):  # noqa: S104 - this is the address we replace
                address = f"127.0.0.1:{port}"
            print(f"[loopback] binding {address}", flush=True)
            return add_insecure_port(address)

        real.add_insecure_port = add_loopback_port
        return real

    return server


def main() -> None:
    grpc = importlib.import_module("grpc")
    setattr(grpc, "server", _loopback_server_factory(grpc.server))  # noqa: B010
    entry = importlib.import_module("gcloud_tasks_emulator.__main__")
    sys.argv[0] = "gcloud-tasks-emulator"
    entry.main()


if __name__ == "__main__":
    main()
