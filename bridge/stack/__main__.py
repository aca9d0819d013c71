"""``python -m bridge.stack demo|up``: what ``make demo`` and ``make up`` run."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Mapping
from types import FrameType

from bridge.stack import bridge_page, demo
from bridge.stack.procs import MissingPrerequisite, StackError
from bridge.stack.runner import (
    CALLER_SA,
    DEAD_LETTER_SUBSCRIPTION,
    PROJECT_ID,
    PUSH_SUBSCRIPTION,
    REJECTED_SUBSCRIPTION,
    SERVICES,
    TOPIC,
    Stack,
)
from bridge.stack.worker import Received

USAGE = "usage: python -m bridge.stack demo|up"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _print_request(received: Received) -> None:
    body = received.body.decode("utf-8", "replace")
    key = received.header("X-Idempotency-Key")
    line = f"worker <- {received.method} {received.path} {received.status}"
    who = f"  token of {received.claims.get('email')}" if received.claims else ""
    why = f"  ({received.reason})" if received.reason else ""
    print(f"{line}{who}{why}  X-Idempotency-Key: {key}  body: {body[:200]}", flush=True)


def own_workers(environ: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """``URL_<S>`` set in the environment: service -> that URL; and the ``AUD_<S>`` given."""
    urls: dict[str, str] = {}
    audiences: dict[str, str] = {}
    for service in SERVICES:
        url = environ.get(f"URL_{service.suffix}", "").strip()
        if url:
            urls[service.name] = url
        audience = environ.get(f"AUD_{service.suffix}", "").strip()
        if audience:
            audiences[f"AUD_{service.suffix}"] = audience
    return urls, audiences


def _routes(s: Stack) -> str:
    lines = []
    for service in SERVICES:
        where = s.worker_url(service)
        mine = "  (yours: URL_" + service.suffix + ")" if service.name in s.worker_urls else ""
        lines.append(f"  {service.name:<22} {where}{mine}")
    return "\n".join(lines)


def up() -> int:
    """Start the stack and keep it running until Ctrl-C (or SIGTERM); print how to publish."""
    urls, audiences = own_workers(os.environ)
    try:
        with Stack(
            echo=lambda line: print(f"· {line}", flush=True),
            on_request=_print_request,
            worker_urls=urls,
            extra_env=audiences,
        ) as s:
            page = bridge_page.for_stack(s).start()
            try:
                return _serve(s, page)
            finally:
                page.stop()
    except KeyboardInterrupt:
        print("\nstopped every process the stack started", flush=True)
    except MissingPrerequisite as err:
        print(f"make up: {err}", file=sys.stderr)
        return 2
    except StackError as err:
        print(f"make up: the stack failed: {err}", file=sys.stderr)
        return 1
    return 0


def _serve(s: Stack, page: bridge_page.BridgePage) -> int:
    """Print how to use the running stack, then keep it up until a process dies (or Ctrl-C)."""
    pubsub = f"http://{s.pubsub_host}/"
    print(
        f"""
The local stack is up. Ctrl-C stops every process it started.

  Look at it in a browser:
  messages and outcomes  {page.url}  (what the bridge did with each message; replay)
  Cloud Tasks console    {s.console_url}  (queues, tasks, run / pause / purge)

  Pub/Sub emulator       {s.pubsub_host}  project {PROJECT_ID}, topic {TOPIC}
  Cloud Tasks emulator   {s.tasks_host}  queues {", ".join(x.queue_id for x in SERVICES)}
  function (main.py)     {s.function_url}  (push subscription {PUSH_SUBSCRIPTION})
  recording worker       {s.worker.url("/")}  (every request it gets is printed below)
  OIDC discovery         {s.oidc_discovery_url}
  the same keys as PEM   {s.pem_certs_url}  (google-auth's certs_url, no PyJWT needed)
  logs                   {s.state_dir}

Where each service's tasks go (set URL_<S>, and AUD_<S> if you like, to use your own worker):
{_routes(s)}

Tasks carry `Authorization: Bearer <ID token>` for {CALLER_SA},
audience AUD_<S> or else the URL's origin. Verify it with google-auth against the discovery
document's jwks_uri (see docs/local-stack.md, "Your own worker").

Publish by hand with gcloud (it ignores PUBSUB_EMULATOR_HOST; these two variables point it here):

  export CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB={pubsub} CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true
  gcloud pubsub topics publish {TOPIC} --project={PROJECT_ID} \\
    --message='{{"service": "brain", "payload": {{"case_id": "CASE-9", "nota": "¡hola!"}}}}'
  gcloud pubsub topics publish {TOPIC} --project={PROJECT_ID} \\
    --attribute=service=regresos,idempotency_key=ROW-359 --message='{{"row": 359, "col": 5}}'
  gcloud pubsub subscriptions pull {REJECTED_SUBSCRIPTION} --project={PROJECT_ID} --auto-ack
  gcloud pubsub subscriptions pull {DEAD_LETTER_SUBSCRIPTION} --project={PROJECT_ID} --auto-ack

Or with the project's own publisher (it honours PUBSUB_EMULATOR_HOST, as google-cloud-pubsub does):

  export PUBSUB_EMULATOR_HOST={s.pubsub_host}
  .venv/bin/python -m bridge publish --project {PROJECT_ID} --service testimonios \\
    --payload '{{"case_id": "CASE-10", "testigo": "José Peña"}}' --key CASE-10

Where is my request? The `bridge` command needs the function's variables; they are in
{s.env_file}:

  . {s.env_file}
  .venv/bin/python -m bridge status --service testimonios --key CASE-10
  .venv/bin/python -m bridge status --service testimonios --key CASE-10 \\
    --look-in rejected,dead-letter
  .venv/bin/python -m bridge queues

The function's log (one JSON line per message): tail -f {s.log_path("function")}
""",
        flush=True,
    )
    while True:
        time.sleep(1)
        if dead := s.dead_processes():
            print(f"{', '.join(dead)} exited; stopping the stack", flush=True)
            return 1


def main(argv: list[str]) -> int:
    # Ctrl-C, SIGTERM and a closed terminal all unwind through `with Stack(...)`, which stops
    # every process it started. SIGINT explicitly: a background job may inherit it ignored.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    if argv == ["demo"]:
        return demo.run()
    if argv == ["up"]:
        return up()
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
