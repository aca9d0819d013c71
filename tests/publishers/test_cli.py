"""``bridge publish`` and ``bridge --help``: what reaches Pub/Sub, what is printed, exit codes."""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bridge import cli
from bridge.cli import exits, publish
from bridge.envelope import Envelope
from bridge.publishing.publisher import PublishFailed
from bridge.rejections import OutgoingMessage
from bridge.trace import parse_traceparent
from tests.prerequisites import missing_prerequisite
from tests.publishers.conftest import PROJECT, Emulator, Topic, decoded_envelope

REPO = Path(__file__).resolve().parents[2]
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
SPANISH = {"nota": "Acción de la señora Muñoz: «¿sí?» ¡vale! 🧾", "fila": 7}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_process(
    argv: list[str], env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m bridge`` as a user runs it: no stdin unless given, CI-like."""
    return subprocess.run(
        [sys.executable, "-m", "bridge", *argv],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_one_envelope_prints_its_message_id(
    pubsub_env: Emulator, topic: Topic, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        [
            "publish",
            "--service",
            "brain",
            "--payload",
            json.dumps(SPANISH, ensure_ascii=False),
            "--key",
            "fila-7",
            "--delay-s",
            "60",
            "--deadline-s",
            "900",
            "--topic",
            topic.id,
        ],
        capsys,
    )
    assert code == 0, err
    [pulled] = topic.pull_all(expect=1)
    assert out.strip() == pulled.message_id
    assert decoded_envelope(pulled) == Envelope(
        service="brain", payload=SPANISH, delay_s=60, idempotency_key="fila-7", deadline_s=900
    )
    assert f"published 1 to {topic.path}" in err


def test_without_key_each_envelope_is_sent_with_a_key_of_its_own(
    pubsub_env: Emulator, topic: Topic, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"service": "brain", "payload": {"n": 1}}\n'
        '{"service": "brain", "payload": {"n": 1}}\n'
        '{"service": "brain", "payload": {"n": 2}, "idempotency_key": "mine"}\n',
        encoding="utf-8",
    )
    code, _, err = run(["publish", "--file", str(rows), "--topic", topic.id], capsys)
    assert code == 0, err
    keys = sorted(decoded_envelope(m).idempotency_key or "" for m in topic.pull_all(expect=3))
    assert keys[0] == "mine"
    assert keys[1] != keys[2]
    assert all(key.startswith("pub-") for key in keys[1:])


def test_payload_from_a_file(
    pubsub_env: Emulator, topic: Topic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job = tmp_path / "job.json"
    job.write_text(json.dumps(SPANISH, ensure_ascii=False), encoding="utf-8")
    code, _, err = run(
        ["publish", "--service", "regresos", "--payload", f"@{job}", "--topic", topic.path],
        capsys,
    )
    assert code == 0, err
    [pulled] = topic.pull_all(expect=1)
    assert decoded_envelope(pulled).payload == SPANISH


def rows_file(tmp_path: Path, rows: list[Any], *, name: str = "rows.jsonl") -> Path:
    path = tmp_path / name
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_file_of_2100_rows_is_published_in_order(
    pubsub_env: Emulator, topic: Topic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"service": "testimonios", "payload": {"fila": i, "t": "ñandú"}, "idempotency_key": f"r{i}"}
        for i in range(2100)
    ]
    path = rows_file(tmp_path, [rows[0], "", *rows[1:]])  # a blank line is skipped
    code, out, err = run(["publish", "--file", str(path), "--topic", topic.id], capsys)
    assert code == 0, err
    printed = [json.loads(line) for line in out.splitlines()]
    assert [p["line"] for p in printed] == [1, *range(3, 2102)]
    pulled = {m.message_id: m for m in topic.pull_all(expect=2100)}
    sent = [decoded_envelope(pulled[p["message_id"]]) for p in printed]
    assert sent == [Envelope.model_validate(r) for r in rows]


def test_trace_attaches_a_traceparent_and_prints_it_beside_the_id(
    pubsub_env: Emulator, topic: Topic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = ["publish", "--service", "brain", "--payload", "{}", "--topic", topic.id]
    code, out, err = run([*one, "--traceparent", TRACE], capsys)
    assert code == 0, err
    assert out.split() == [topic.pull_all(expect=1)[0].message_id, TRACE]
    code, out, err = run([*one, "--trace"], capsys)
    assert code == 0, err
    message_id, traceparent = out.split()
    context = parse_traceparent(traceparent)
    assert context is not None
    assert context.sampled
    [pulled] = topic.pull_all(expect=1)
    assert (pulled.message_id, pulled.attributes) == (message_id, {"traceparent": traceparent})

    rows = [{"service": "brain", "payload": {"i": i}} for i in range(3)]
    code, out, err = run(
        ["publish", "--file", str(rows_file(tmp_path, rows)), "--topic", topic.id, "--trace"],
        capsys,
    )
    assert code == 0, err
    printed = [json.loads(line) for line in out.splitlines()]
    pulled_by_id = {m.message_id: m for m in topic.pull_all(expect=3)}
    for record in printed:
        assert pulled_by_id[record["message_id"]].attributes == {
            "traceparent": record["traceparent"]
        }
    assert len({r["traceparent"] for r in printed}) == 3  # one trace each

    code, out, err = run([*one, "--traceparent", TRACE, "--dry-run"], capsys)
    assert code == 0, err
    assert json.loads(out)["attributes"] == {"traceparent": TRACE}
    code, out, err = run([*one, "--trace", "--dry-run"], capsys)
    assert code == 0, err
    assert json.loads(out)["attributes"] == {"traceparent": publish.NEW_TRACE}
    assert topic.pull_for() == []


def test_invalid_lines_are_all_reported_and_nothing_is_sent(
    pubsub_env: Emulator, topic: Topic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = rows_file(
        tmp_path,
        [
            {"service": "brain", "payload": {}},
            '{"service": "brain", "payload": {}',
            {"service": "brain", "payload": {}, "delay": 5},
            {"service": "brain", "payload": []},
            {"service": "brain", "payload": {}, "idempotency_key": "ñ"},
        ],
    )
    code, out, err = run(["publish", "--file", str(path), "--topic", topic.id], capsys)
    assert code == exits.EXIT_INVALID
    assert out == ""
    assert "line 2:" in err
    assert "[bad_json]" in err
    assert "line 3:" in err
    assert "[unknown_field]" in err
    assert "line 4:" in err
    assert "[payload_not_object]" in err
    assert "line 5:" in err
    assert "[bad_idempotency_key]" in err
    assert "nothing was published" in err
    assert "Traceback" not in err
    assert topic.pull_for() == []


def test_dry_run_prints_and_sends_nothing(
    pubsub_env: Emulator, topic: Topic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = rows_file(tmp_path, [{"service": "brain", "payload": SPANISH, "delay_s": 3}] * 3)
    code, out, err = run(["publish", "--file", str(path), "--topic", topic.id, "--dry-run"], capsys)
    assert code == 0, err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3
    assert records[0]["topic"] == topic.path
    assert records[0]["data"] == {"service": "brain", "payload": SPANISH, "delay_s": 3}
    assert "nothing was sent" in err
    assert topic.pull_for() == []


def test_skip_resumes_after_the_rows_already_sent(
    pubsub_env: Emulator, topic: Topic, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = rows_file(tmp_path, [{"service": "brain", "payload": {"i": i}} for i in range(5)])
    code, out, _ = run(["publish", "--file", str(path), "--topic", topic.id, "--skip", "3"], capsys)
    assert code == 0
    assert [json.loads(line)["line"] for line in out.splitlines()] == [4, 5]
    assert sorted(decoded_envelope(m).payload["i"] for m in topic.pull_all(expect=2)) == [3, 4]


class OutageAfterOneRequest:
    def __init__(self, **_: Any) -> None:
        self.calls = 0

    def send(self, topic_path: str, messages: list[OutgoingMessage]) -> list[str]:
        self.calls += 1
        if self.calls > 1:
            raise PublishFailed("publishing to x failed: ServiceUnavailable: down")
        return [str(i) for i in range(len(messages))]


def test_a_partial_failure_says_how_to_resume(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(publish, "PubsubTransport", OutageAfterOneRequest)
    path = rows_file(tmp_path, [{"service": "brain", "payload": {"i": i}} for i in range(1500)])
    code, _, err = run(
        ["publish", "--file", str(path), "--topic", "projects/p/topics/t", "--skip", "10"], capsys
    )
    assert code == exits.EXIT_FAILED
    assert "published 1000 of 1490 envelopes (through line 1010)" in err
    assert "--skip 1010" in err


@pytest.mark.parametrize(
    ("argv", "code", "words"),
    [
        (["publish", "--service", "brain"], exits.EXIT_USAGE, "go together"),
        (["publish", "--payload", "{}"], exits.EXIT_USAGE, "go together"),
        (["publish"], exits.EXIT_USAGE, "either --service"),
        (
            ["publish", "--service", "b", "--payload", "{}", "--file", "x"],
            exits.EXIT_USAGE,
            "not both",
        ),
        (["publish", "--file", "x.jsonl", "--key", "k"], exits.EXIT_USAGE, "each line"),
        (
            ["publish", "--service", "brain", "--payload", "{'a': 1}"],
            exits.EXIT_INVALID,
            "not valid JSON",
        ),
        (
            ["publish", "--service", "brain", "--payload", "[]"],
            exits.EXIT_INVALID,
            "payload_not_object",
        ),
        (["publish", "--service", "", "--payload", "{}"], exits.EXIT_INVALID, "out_of_range"),
        (
            ["publish", "--service", "b", "--payload", "@/nonexistent.json"],
            exits.EXIT_INVALID,
            "cannot read",
        ),
        (["publish", "--file", "/nonexistent.jsonl"], exits.EXIT_INVALID, "cannot read"),
        (
            ["publish", "--service", "b", "--payload", "{}", "--traceparent", "00-abc-01"],
            exits.EXIT_INVALID,
            "is not a W3C traceparent",
        ),
        (
            ["publish", "--file", "x.jsonl", "--traceparent", TRACE],
            exits.EXIT_USAGE,
            "--trace gives each its own",
        ),
        (
            ["publish", "--service", "b", "--payload", "{}", "--topic", "a/b"],
            exits.EXIT_NOT_FOUND,
            "topic",
        ),
        (
            ["replay", "--subscription", "s", "--all", "--reason", "bad_json"],
            exits.EXIT_USAGE,
            "--all",
        ),
    ],
)
def test_user_mistakes_get_a_sentence_and_an_exit_code(
    argv: list[str], code: int, words: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got, out, err = run([*argv, "--project", "p"], capsys)
    assert got == code
    assert words in err
    assert "Traceback" not in err
    assert out == ""


def test_unknown_flags_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["publish", "--servcie", "brain"], capsys)
    assert code == exits.EXIT_USAGE
    assert "unrecognized arguments: --servcie" in err


def test_help_shows_examples_and_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["publish", "--help"], capsys)
    assert code == 0
    for words in ("--payload", "@file.json", "--file", "--dry-run", "exit codes:", "3 "):
        assert words in out
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    for words in ("publish", "replay", "PUBSUB_EMULATOR_HOST"):
        assert words in out


def test_a_missing_topic_exits_4(pubsub_env: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        ["publish", "--service", "brain", "--payload", "{}", "--topic", "nowhere-topic"], capsys
    )
    assert code == exits.EXIT_NOT_FOUND
    assert f"projects/{PROJECT}/topics/nowhere-topic does not exist" in err


# -- as a process: no traceback, no stdin, the documented exit codes --------------------------


def clean_env() -> dict[str, str]:
    return {
        k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "CLOUDSDK_", "PUBSUB_"))
    }


def test_no_project_exits_4_without_a_traceback() -> None:
    done = run_process(["publish", "--service", "brain", "--payload", "{}"], clean_env())
    assert done.returncode == exits.EXIT_NOT_FOUND
    assert "no project for topic 'enqueue-requests'" in done.stderr
    assert "Traceback" not in done.stderr


def test_no_credentials_exits_5_without_a_traceback() -> None:
    env = {**clean_env(), "GOOGLE_APPLICATION_CREDENTIALS": "/nonexistent/key.json"}
    done = run_process(["publish", "--service", "b", "--payload", "{}", "--project", "p"], env)
    assert done.returncode == exits.EXIT_DENIED
    assert "no Google credentials" in done.stderr
    assert "Traceback" not in done.stderr


def test_pubsub_unavailable_exits_6_without_a_traceback() -> None:
    from bridge.stack.procs import free_port

    env = {**clean_env(), "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{free_port()}"}
    argv = ["publish", "--service", "b", "--payload", "{}", "--project", "p", "--timeout-s", "2"]
    done = run_process(argv, env)
    assert done.returncode == exits.EXIT_FAILED
    assert "failed" in done.stderr
    assert "Traceback" not in done.stderr


def test_stdin_rows_through_the_module_entry_point(emulator: Emulator, topic: Topic) -> None:
    rows = "\n".join(json.dumps({"service": "brain", "payload": {"i": i}}) for i in range(3))
    done = run_process(["publish", "--file", "-", "--topic", topic.id], emulator.env(), rows)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 3
    assert len(topic.pull_all(expect=3)) == 3


def test_empty_stdin_is_an_input_error(emulator: Emulator, topic: Topic) -> None:
    done = run_process(["publish", "--file", "-", "--topic", topic.id], emulator.env())
    assert done.returncode == exits.EXIT_INVALID
    assert "no envelopes" in done.stderr


def test_the_console_script_is_installed_by_make_install() -> None:
    script = Path(sys.executable).parent / "bridge"
    if not script.exists():
        missing_prerequisite(f"{script} is missing: `make install` runs pip install -e . --no-deps")
    done = subprocess.run(
        [str(script), "replay", "--help"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
        env=clean_env(),
        cwd="/",
    )
    assert done.returncode == 0, done.stderr
    for words in ("--subscription", "--reason", "--message-id", "--dry-run", "exit codes:"):
        assert words in done.stdout


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_shows_on_a_terminal_for_long_runs_only() -> None:
    terminal = Terminal()
    bar = publish.Progress(total=2500, stream=terminal, enabled=True)
    for count in (1000, 1000, 500):
        bar.advance(count)
    bar.close()
    assert "] 1000/2500 published" in terminal.getvalue()
    assert terminal.getvalue().endswith("] 2500/2500 published\n")
    short, piped = Terminal(), io.StringIO()
    for stream, total in ((short, 1000), (piped, 5000)):
        quiet = publish.Progress(total=total, stream=stream, enabled=True)
        quiet.advance(total)
        quiet.close()
        assert stream.getvalue() == ""


@pytest.mark.parametrize("command", ["publish", "replay"])
def test_every_example_in_the_help_parses(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([command, "--help"]) == 0
    examples = [
        shlex.split(line.split("#")[0])[1:]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("  bridge ")
    ]
    assert len(examples) >= 4
    for argv in examples:
        args = cli.build_parser().parse_args(argv)  # argparse exits on a bad example
        if command == "replay":
            assert not (args.all and (args.reason or args.message_id)), argv


@pytest.mark.parametrize(
    "services", ["brain:BRAIN,regresos:REGRESOS", "brain,regresos", " brain : BRAIN , regresos "]
)
def test_an_unknown_service_is_refused_when_the_services_are_given(
    services: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["publish", "--service", "brian", "--payload", "{}", "--project", "p"]
    code, out, err = run([*argv, "--services", services, "--dry-run"], capsys)
    assert code == exits.EXIT_INVALID
    assert "unknown service 'brian'; known services: brain, regresos [unknown_service]" in err
    assert "nothing was published" in err
    assert out == ""


def test_bridge_services_is_read_like_the_function_reads_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BRIDGE_SERVICES", "brain:BRAIN,regresos:REGRESOS")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        '{"service": "brain", "payload": {}}\n{"service": "brian", "payload": {}}\n'
        '{"service": "regreso", "payload": {}}\n'
    )
    code, out, err = run(["publish", "--file", str(rows), "--project", "p", "--dry-run"], capsys)
    assert code == exits.EXIT_INVALID
    assert "line 2: service: unknown service 'brian'" in err
    assert "line 3: service: unknown service 'regreso'" in err
    assert out == ""


def test_without_the_services_a_note_says_they_were_not_checked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("BRIDGE_SERVICES", raising=False)
    argv = ["publish", "--service", "brian", "--payload", "{}", "--project", "p", "--dry-run"]
    code, out, err = run(argv, capsys)
    assert code == 0
    assert "service names were not checked" in err
    assert "--services" in err
    assert '"service": "brian"' in out


def test_a_malformed_services_list_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["publish", "--service", "b", "--payload", "{}", "--project", "p", "--dry-run"]
    code, _, err = run([*argv, "--services", "Brain,,x"], capsys)
    assert code == exits.EXIT_USAGE
    assert "is not a service name" in err


def test_the_documented_exit_codes_are_the_codes() -> None:
    readme = (REPO / "publishers" / "README.md").read_text(encoding="utf-8")
    table = readme.split("Exit codes (also in", 1)[1].split("\n\n", 2)[1]
    documented = [
        int(row.split("|")[1])
        for row in table.splitlines()
        if row.startswith("| ") and row.split("|")[1].strip().isdigit()
    ]
    assert documented == list(exits.EXIT_CODES)
