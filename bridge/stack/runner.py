"""The Stack: the whole product running locally, on real emulators, on loopback, on free ports.

    publisher ──> Pub/Sub emulator ──push──> functions-framework (main.py, ``enqueue``)
                  topic enqueue-requests              │ CreateTask (insecure gRPC)
                  rejected / dead-letter topics  <────┤
                                                      v
                                  Cloud Tasks emulator (``python -m tasks_emulator``)
                                                      │ HTTP POST + OIDC token, at schedule_time,
                                                      v retried on the queue's policy
                                  recording worker (brain, testimonios, transcripciones, regresos),
                                  verifying each token as Cloud Run's IAM would; or your own worker

The queues get the rate and retry settings Terraform gives them (``queue_policy``). The Cloud
Tasks emulator keeps its state in ``.stack/<run>/tasks-emulator/``: a restart loses nothing.

``Stack.start()`` starts and wires everything, polling each piece until it is ready (with a
deadline); ``Stack.stop()`` stops every process it started by PID, with its process group. Use it
as a context manager so that a failure anywhere still stops everything.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from bridge.stack import procs
from bridge.stack.caller_check import CallerCheck
from bridge.stack.emulator import start_pubsub_emulator, start_tasks_emulator
from bridge.stack.poll import poll_until
from bridge.stack.procs import MissingPrerequisite, Proc, StackError
from bridge.stack.pubsub_rest import PubSubRest, PulledMessage
from bridge.stack.queue_policy import QueuePolicy, terraform_defaults
from bridge.stack.tasks_admin import TasksAdmin
from bridge.stack.worker import Received, RecordingWorker

REPO_ROOT = Path(__file__).resolve().parents[2]
DISCOVERY_PATH = "/.well-known/openid-configuration"
PEM_CERTS_PATH = "/oauth2/v1/certs"  # the emulator's keys in Google's v1 certs format

PROJECT_ID = "local-bridge"
REGION = "us-central1"
CALLER_SA = "enqueuer-api@local-bridge.iam.gserviceaccount.com"
TOPIC = "enqueue-requests"
# Terraform's names (terraform/pubsub.tf with its defaults), so every command reads the same
# locally and deployed: `bridge replay --subscription enqueue-requests-rejected-operator`.
PUSH_SUBSCRIPTION = "enqueue-requests-push"
REJECTED_TOPIC = "enqueue-requests-rejected"
REJECTED_SUBSCRIPTION = "enqueue-requests-rejected-operator"
DEAD_LETTER_TOPIC = "enqueue-requests-dead-letter"
DEAD_LETTER_SUBSCRIPTION = "enqueue-requests-dead-letter-operator"
MAX_DELIVERY_ATTEMPTS = 5  # Pub/Sub's minimum
ACK_DEADLINE_S = 30  # push request timeout; TASKS_TIMEOUT_S (10 s) stays well under it
READY_TIMEOUT_S = 60.0
CLI_TIMEOUT_S = 60.0  # one `bridge` command (status, queues, replay) on the local stack


@dataclass(frozen=True, slots=True)
class Service:
    """One worker service, as the old enqueuer configured it (queue names, paths, deadlines)."""

    name: str
    suffix: str
    queue_id: str
    path: str
    deadline_s: int

    @property
    def queue_path(self) -> str:
        return f"projects/{PROJECT_ID}/locations/{REGION}/queues/{self.queue_id}"


SERVICES = (
    Service("brain", "BRAIN", "queue-brain", "/process", 700),
    Service("testimonios", "TESTI", "queue-testimonios", "/generate-testimony", 390),
    Service("transcripciones", "TRANS", "queue-transcripciones", "/api/transcribe", 880),
    Service(
        "regresos", "REGRESOS", "queue-regresos", "/_tasks/process-pdf-back-questions-run", 1800
    ),
)
SERVICE_BY_NAME = {service.name: service for service in SERVICES}


def find_pubsub_emulator() -> Path:
    """The Pub/Sub emulator's launcher, or ``MissingPrerequisite`` saying what to install."""
    override = os.environ.get("PUBSUB_EMULATOR_BIN")
    if override:
        if not Path(override).exists():
            raise MissingPrerequisite(f"PUBSUB_EMULATOR_BIN={override} does not exist")
        return Path(override)
    relative = Path("platform/pubsub-emulator/bin/cloud-pubsub-emulator")
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise MissingPrerequisite(
            "gcloud is not on PATH: the Pub/Sub emulator ships with the Google Cloud CLI "
            "(Debian packages google-cloud-cli and google-cloud-cli-pubsub-emulator), "
            "or set PUBSUB_EMULATOR_BIN to its cloud-pubsub-emulator launcher"
        )
    candidate = Path(gcloud).resolve().parent.parent / relative  # SDK_ROOT/bin/gcloud
    if candidate.exists():
        return candidate
    try:
        sdk_root = subprocess.run(  # noqa: S603 - fixed argv
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
    except (subprocess.SubprocessError, OSError) as err:
        raise MissingPrerequisite(f"`gcloud info` failed ({err}): cannot find the SDK") from err
    candidate = Path(sdk_root) / relative
    if not candidate.exists():
        raise MissingPrerequisite(
            f"the Pub/Sub emulator is not installed ({candidate} is missing): "
            "`gcloud components install pubsub-emulator`, or the Debian package "
            "google-cloud-cli-pubsub-emulator"
        )
    return candidate


def function_argv(
    *, target: str, source: Path, port: int, signature: str = "cloudevent"
) -> list[str]:
    """The command that serves ``target`` of ``source`` on ``127.0.0.1:port``, as Cloud Run's
    Python runtime does: the ``functions-framework`` command, no serving variable. ``main.py``'s
    ``functions_framework.aio`` entry points select the ASGI stack (gunicorn with one uvicorn
    worker) by themselves; ``THREADS`` means nothing there. ``make up``, the demo, the tests and
    ``make bench-instance`` all serve through this."""
    return [
        str(Path(sys.executable).parent / "functions-framework"),
        f"--target={target}",
        f"--signature-type={signature}",
        f"--source={source}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]


def check_prerequisites(source: Path) -> dict[str, Path]:
    """Everything the stack runs, or one ``MissingPrerequisite`` listing all that is missing."""
    missing: list[str] = []
    found: dict[str, Path] = {}
    java = shutil.which("java")
    if java is None:
        missing.append(
            "Java is not on PATH: the Pub/Sub emulator needs a JRE 11+ "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    try:
        found["pubsub"] = find_pubsub_emulator()
    except MissingPrerequisite as err:
        missing.append(str(err))
    if not (REPO_ROOT / "tasks_emulator" / "__main__.py").exists():
        missing.append(f"{REPO_ROOT / 'tasks_emulator'} is missing: the Cloud Tasks emulator")
    framework = Path(sys.executable).parent / "functions-framework"
    if not framework.exists():
        missing.append(f"functions-framework is not installed next to {sys.executable}")
    found["functions_framework"] = framework
    if not source.exists():
        missing.append(f"{source} does not exist yet: nothing to serve")
    if missing:
        raise MissingPrerequisite("the local stack cannot start:\n  - " + "\n  - ".join(missing))
    return found


class Stack:
    """Starts, wires and stops the local stack. See the module docstring."""

    def __init__(
        self,
        *,
        state_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        on_request: Callable[[Received], None] | None = None,
        echo: Callable[[str], None] | None = None,
        source: Path | None = None,
        target: str = "enqueue",
        queue_policy: QueuePolicy | None = None,
        worker_urls: Mapping[str, str] | None = None,
        extra_queues: Sequence[str] = (),
        tasks_emulator_args: Sequence[str] = (),
    ) -> None:
        """``queue_policy``: the queues' settings (default: Terraform's). ``worker_urls``:
        service name -> a worker of your own, in place of the recording worker.
        ``extra_queues``: ids of more queues to create (for services added by ``extra_env``).
        ``tasks_emulator_args``: more flags for the Cloud Tasks emulator, on every (re)start
        (``--fault ...``, say)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.state_dir = state_dir or REPO_ROOT / ".stack" / f"{stamp}-{os.getpid()}"
        self.extra_env = dict(extra_env or {})
        self.source = source or Path(os.environ.get("BRIDGE_STACK_SOURCE", REPO_ROOT / "main.py"))
        self.target = target  # the CloudEvent function functions-framework serves from source
        self.echo = echo or (lambda _line: None)
        self.queue_policy = queue_policy or terraform_defaults()
        self.worker_urls = dict(worker_urls or {})
        self.tasks_emulator_args = list(tasks_emulator_args)
        self.queue_paths = [s.queue_path for s in SERVICES] + [
            f"projects/{PROJECT_ID}/locations/{REGION}/queues/{queue_id}"
            for queue_id in extra_queues
        ]
        self.http_function_port = procs.free_port()  # POST /enqueue, once started
        self.worker = RecordingWorker(on_request=on_request, log=self._worker_log)
        self.pubsub_port = procs.free_port()
        self.tasks_port = procs.free_port()
        self.tasks_http_port = procs.free_port()  # the emulator's REST API and OIDC discovery
        self.function_port = procs.free_port()
        self.pubsub = PubSubRest(host=f"127.0.0.1:{self.pubsub_port}", project=PROJECT_ID)
        self.tasks: TasksAdmin | None = None
        self._procs: dict[str, Proc] = {}
        self._paths: dict[str, Path] = {}
        self._worker_started = False
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Stack:
        """Start and wire everything; on any failure stop what was started, then raise."""
        self._paths = check_prerequisites(self.source)
        atexit.register(self.stop)
        try:
            self.worker.start()
            self._worker_started = True
            self._start_pubsub()
            self.start_tasks_emulator()
            self._create_topology()
            self._start_function()
            self.add_push_subscription(
                PUSH_SUBSCRIPTION,
                topic_id=TOPIC,
                retry_backoff_s=(1, 10),
                dead_letter=(DEAD_LETTER_TOPIC, MAX_DELIVERY_ATTEMPTS),
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every process started, by PID with its process group; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for name in ("function", "http-function", "tasks-emulator", "pubsub-emulator"):
            proc = self._procs.pop(name, None)
            if proc is not None:
                procs.stop(proc)
        if self.tasks is not None:
            self.tasks.close()
        if self._worker_started:
            self.worker.stop()
        atexit.unregister(self.stop)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the pieces ------------------------------------------------------------------------

    @property
    def tasks_host(self) -> str:
        return f"127.0.0.1:{self.tasks_port}"

    @property
    def pubsub_host(self) -> str:
        return f"127.0.0.1:{self.pubsub_port}"

    @property
    def function_url(self) -> str:
        return f"http://127.0.0.1:{self.function_port}"

    @property
    def push_endpoint(self) -> str:
        # A path naming the topic lets functions-framework fill the CloudEvent's source with it.
        return f"{self.function_url}/projects/{PROJECT_ID}/topics/{TOPIC}"

    def log_path(self, name: str) -> Path:
        return self.state_dir / f"{name}.log"

    def _start_pubsub(self) -> None:
        self.echo(f"starting the Pub/Sub emulator on {self.pubsub_host}")
        proc = start_pubsub_emulator(
            self._paths["pubsub"],
            port=self.pubsub_port,
            log_path=self.log_path("pubsub-emulator"),
            cwd=self.state_dir,
        )
        self._procs[proc.name] = proc

    @property
    def tasks_data_dir(self) -> Path:
        return self.state_dir / "tasks-emulator"

    @property
    def oidc_discovery_url(self) -> str:
        """Where a worker finds the emulator's token issuer and keys (OpenID discovery)."""
        return f"http://127.0.0.1:{self.tasks_http_port}{DISCOVERY_PATH}"

    @property
    def console_url(self) -> str:
        """tasks_emulator's console: the queues and tasks in a browser."""
        return f"http://127.0.0.1:{self.tasks_http_port}/console/"

    @property
    def pem_certs_url(self) -> str:
        return f"http://127.0.0.1:{self.tasks_http_port}{PEM_CERTS_PATH}"

    def _worker_log(self, line: str) -> None:
        with self.log_path("worker").open("a", encoding="utf-8") as log:
            log.write(line + "\n")

    def start_tasks_emulator(self) -> None:
        """Start (or restart, on the same ports and data dir) the Cloud Tasks emulator, then
        give the four queues Terraform's settings. A restart loses no task."""
        self.echo(f"starting the Cloud Tasks emulator on {self.tasks_host}")
        started = start_tasks_emulator(
            "tasks-emulator",
            log_path=self.log_path("tasks-emulator"),
            args=(
                f"--port={self.tasks_port}",
                f"--http-port={self.tasks_http_port}",
                f"--data-dir={self.tasks_data_dir}",
                *self.tasks_emulator_args,
            ),
        )
        self._procs[started.proc.name] = started.proc
        if self.tasks is None:
            self.tasks = TasksAdmin(self.tasks_host)
        for queue_path in self.queue_paths:
            self.tasks.ensure_queue(queue_path, self.queue_policy)
        self.worker.check = CallerCheck(certs_url=self._certs_url(), caller_sa=CALLER_SA)

    def _certs_url(self) -> str:
        """The ``jwks_uri`` of the emulator's discovery document."""
        try:
            with urllib.request.urlopen(self.oidc_discovery_url, timeout=5) as answer:  # noqa: S310 - loopback
                document = json.loads(answer.read().decode("utf-8"))
            return str(document["jwks_uri"])
        except (OSError, ValueError, KeyError) as err:
            raise StackError(f"cannot read {self.oidc_discovery_url}: {err}") from err

    def stop_tasks_emulator(self) -> None:
        """Stop the Cloud Tasks emulator (SIGTERM: in-flight dispatches end, its state is kept);
        ``start_tasks_emulator`` restarts it."""
        proc = self._procs.pop("tasks-emulator", None)
        if proc is not None:
            procs.stop(proc, grace_s=15.0)
        procs.wait_until(
            lambda: not procs.tcp_open(self.tasks_port),
            what="the Cloud Tasks emulator's port to close",
            timeout_s=10,
        )

    def _create_topology(self) -> None:
        for topic in (TOPIC, REJECTED_TOPIC, DEAD_LETTER_TOPIC):
            self.pubsub.create_topic(topic)
        self.pubsub.create_subscription(REJECTED_SUBSCRIPTION, topic_id=REJECTED_TOPIC)
        self.pubsub.create_subscription(DEAD_LETTER_SUBSCRIPTION, topic_id=DEAD_LETTER_TOPIC)

    def add_push_subscription(
        self,
        subscription_id: str,
        *,
        topic_id: str,
        retry_backoff_s: tuple[float, float] | None = None,
        dead_letter: tuple[str, int] | None = None,
    ) -> None:
        """A push subscription from ``topic_id`` to the function (for tests' own topologies)."""
        self.pubsub.create_subscription(
            subscription_id,
            topic_id=topic_id,
            push_endpoint=self.push_endpoint,
            ack_deadline_s=ACK_DEADLINE_S,
            retry_backoff_s=retry_backoff_s,
            dead_letter=dead_letter,
        )

    def bridge_env(self) -> dict[str, str]:
        """The bridge's own variables on this stack: the old enqueuer's, plus the emulators'
        hosts. What the function reads, and what the ``bridge`` command needs."""
        env = {
            "PROJECT_ID": PROJECT_ID,
            "TASKS_REGION": REGION,
            "CALLER_SA": CALLER_SA,
            "BRIDGE_SERVICES": ",".join(f"{s.name}:{s.suffix}" for s in SERVICES),
            "REJECTED_TOPIC": REJECTED_TOPIC,
            "CLOUD_TASKS_EMULATOR_HOST": self.tasks_host,
            "PUBSUB_EMULATOR_HOST": self.pubsub_host,
        }
        for service in SERVICES:
            env[f"QUEUE_{service.suffix}"] = service.queue_id
            env[f"URL_{service.suffix}"] = self.worker_url(service)
            env[f"DEADLINE_{service.suffix}_S"] = str(service.deadline_s)
        env.update(self.extra_env)
        return env

    def function_env(self) -> dict[str, str]:
        """The function's environment: this process's, less any route or credential variable
        of the caller's own, plus ``bridge_env``."""
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("QUEUE_", "URL_", "AUD_", "DEADLINE_", "GOOGLE_APPLICATION"))
        }
        env["PYTHONUNBUFFERED"] = "1"
        env.update(self.bridge_env())
        return env

    @property
    def env_file(self) -> Path:
        """``bridge_env`` as shell exports (``. FILE``), rewritten whenever the function
        (re)starts: what a shell needs to run ``bridge status`` on this stack."""
        return self.state_dir / "bridge.env"

    def _write_env_file(self) -> None:
        lines = [f"export {key}={shlex.quote(value)}\n" for key, value in self.bridge_env().items()]
        self.env_file.write_text("".join(lines), encoding="utf-8")

    def worker_url(self, service: Service) -> str:
        """Where ``service``'s tasks go: your worker (``worker_urls``) or the recording one."""
        return self.worker_urls.get(service.name) or self.worker.url(service.path)

    def restart_function(self) -> None:
        """Stop functions-framework by PID and start it again on the same port and log."""
        proc = self._procs.pop("function", None)
        if proc is not None:
            procs.stop(proc)
        self._start_function()

    @property
    def http_function_url(self) -> str:
        return f"http://127.0.0.1:{self.http_function_port}"

    def _start_function(self) -> None:
        self._write_env_file()
        self._serve(
            "function",
            target=self.target,
            signature="cloudevent",
            port=self.function_port,
            source=self.source,
        )

    def start_http_function(self) -> None:
        """Serve ``main.py``'s ``enqueue_http`` (the old enqueuer's ``POST /enqueue``) too."""
        if "http-function" not in self._procs:
            self._serve(
                "http-function",
                target="enqueue_http",
                signature="http",
                port=self.http_function_port,
                source=REPO_ROOT / "main.py",
            )

    def _serve(self, name: str, *, target: str, signature: str, port: int, source: Path) -> None:
        url = f"http://127.0.0.1:{port}"
        self.echo(f"starting functions-framework ({source.name}, {target}) on {url}")
        proc = procs.start(
            name,
            function_argv(target=target, source=source, port=port, signature=signature),
            log_path=self.log_path(name),
            env=self.function_env(),
            cwd=REPO_ROOT,
        )
        self._procs[proc.name] = proc
        procs.wait_until(
            lambda: procs.http_answers(f"{url}/"),
            what=f"functions-framework to serve {source.name} ({target})",
            timeout_s=READY_TIMEOUT_S,
            watch=[proc],
        )

    # -- using it ----------------------------------------------------------------------------

    def publish_envelope(self, envelope: Mapping[str, Any], *, topic_id: str = TOPIC) -> str:
        """Publish an envelope-mode message (data = the JSON envelope); returns its message id."""
        data = json.dumps(envelope, ensure_ascii=False).encode("utf-8")
        return self.pubsub.publish(topic_id, data=data)

    def publish_attributes(
        self, payload: Mapping[str, Any], *, topic_id: str = TOPIC, **attributes: str
    ) -> str:
        """Publish an attribute-mode message (data = the payload, attributes say the rest)."""
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        return self.pubsub.publish(topic_id, data=data, attributes=attributes)

    def function_log(self) -> list[dict[str, Any]]:
        """The function's JSON log lines so far (other lines are skipped)."""
        lines: list[dict[str, Any]] = []
        try:
            text = self.log_path("function").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return lines
        for line in text.splitlines():
            if line.startswith("{"):
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict):
                    lines.append(entry)
        return lines

    def outcomes(self, message_id: str) -> list[str]:
        """The bridge's ``outcome`` values logged for one message id, in order."""
        return [
            str(entry.get("outcome"))
            for entry in self.function_log()
            if entry.get("message_id") == message_id
        ]

    def bridge_command(
        self, *args: str, timeout_s: float = CLI_TIMEOUT_S
    ) -> subprocess.CompletedProcess[str]:
        """Run ``bridge ARGS`` in a process of its own with the function's variables, as an
        operator's shell on this stack would have them; its exit code and output."""
        return subprocess.run(  # noqa: S603 (this interpreter, our own command)
            [sys.executable, "-m", "bridge", *args],
            env=self.function_env(),
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def dead_processes(self) -> list[str]:
        return [name for name, proc in self._procs.items() if not proc.alive()]

    def process_ids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self._procs.items()}

    def require_tasks(self) -> TasksAdmin:
        if self.tasks is None:
            raise StackError("the stack is not started")
        return self.tasks


def pull_until(
    stack: Stack, subscription_id: str, *, count: int = 1, timeout_s: float = 20.0
) -> list[PulledMessage]:
    """Pull (and ack) from ``subscription_id`` until ``count`` messages arrived; raised if they
    did not within ``timeout_s``: ``TimedOut`` (never a partial list)."""
    received: list[PulledMessage] = []

    def enough() -> bool:
        received.extend(stack.pubsub.pull(subscription_id))
        return len(received) >= count

    poll_until(
        enough,
        timeout_s=timeout_s,
        what=f"{count} message(s) on {subscription_id}",
        interval_s=0.1,
    )
    return received
