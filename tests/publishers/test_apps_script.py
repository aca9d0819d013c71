"""The Apps Script publisher (``publishers/apps-script``), run for real under Node with the
stand-ins of ``test/standins.js``: what it publishes to the Pub/Sub emulator must decode, with
the bridge's own decoder, to exactly the envelopes intended."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bridge.envelope import Envelope
from bridge.message import traceparent_of
from bridge.trace import parse_traceparent
from tests.prerequisites import missing_prerequisite
from tests.publishers.conftest import PROJECT, Emulator, Topic, as_bridge_sees_it, decoded_envelope

HARNESS = Path(__file__).resolve().parents[2] / "publishers" / "apps-script" / "test" / "harness.js"
NODE = shutil.which("node")
TEXTS = [
    "Declaración de la señora Núñez: «sí», año, pingüino",
    "ñandú ÑANDÚ àèìòù ç ß €",
    "emoji 🧾👩🏽‍⚕️🇪🇸 and 日本語",
]


@pytest.fixture(scope="module")
def node() -> str:
    if NODE is None:
        missing_prerequisite("node is not on PATH: the Apps Script tests need Node 20")
    return NODE


def run_apps_script(
    node: str,
    tmp_path: Path,
    *,
    host: str,
    steps: list[dict[str, Any]],
    properties: dict[str, str] | None = None,
    faults: list[Any] | None = None,
    sheet: dict[str, Any] | None = None,
) -> dict[str, Any]:
    scenario = {
        "emulatorHost": host,
        "properties": properties if properties is not None else {},
        "faults": faults or [],
        "sleepScale": 0.001,
        "steps": steps,
    }
    if sheet is not None:
        scenario["sheet"] = sheet
    path = tmp_path / "scenario.json"
    path.write_text(json.dumps(scenario, ensure_ascii=False), encoding="utf-8")
    done = subprocess.run(
        [node, str(HARNESS), str(path)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode("utf-8", "replace")
    result: dict[str, Any] = json.loads(done.stdout.decode("utf-8"))
    return result


def props(topic: Topic) -> dict[str, str]:
    return {"ENQUEUE_PROJECT_ID": PROJECT, "ENQUEUE_TOPIC": topic.id}


def test_accents_enye_and_emoji_arrive_intact(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path
) -> None:
    intended = [
        Envelope(service="brain", payload={"nota": TEXTS[0], "fila": 1}),
        Envelope(
            service="testimonios",
            payload={"nota": TEXTS[1], "lista": [TEXTS[2], None, True, 2.5]},
            delay_s=30,
            idempotency_key="fila-2",
            deadline_s=600,
        ),
        Envelope(service="regresos", payload={"a": {"b": TEXTS[2]}}, idempotency_key="k3"),
    ]
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        steps=[
            {"call": "enqueue", "args": ["brain", {"nota": TEXTS[0], "fila": 1}]},
            {
                "call": "enqueueBatch",
                "args": [
                    [
                        {
                            "service": "testimonios",
                            "payload": intended[1].payload,
                            "options": {
                                "delay_s": 30,
                                "idempotency_key": "fila-2",
                                "deadline_s": 600,
                            },
                        },
                        {
                            "service": "regresos",
                            "payload": intended[2].payload,
                            "options": {"idempotency_key": "k3", "delay_s": 0},
                        },
                    ]
                ],
            },
        ],
    )
    first, batch = result["steps"]
    message_ids = [first["ok"], *batch["ok"]]
    pulled = {m.message_id: m for m in topic.pull_all(expect=3)}
    received = [decoded_envelope(pulled[i]) for i in message_ids]
    generated = received[0].idempotency_key or ""  # the caller gave none: the library made one
    assert re.fullmatch(r"gas-[0-9a-f-]{36}", generated), generated
    assert [received[0].model_copy(update={"idempotency_key": None}), *received[1:]] == intended
    assert all(pulled[i].attributes == {} for i in message_ids)
    fetch = result["fetches"][0]
    assert (
        fetch["url"]
        == f"https://pubsub.googleapis.com/v1/projects/{PROJECT}/topics/{topic.id}:publish"
    )
    assert fetch["method"] == "POST"
    assert fetch["headers"]["Authorization"] == "Bearer ya29.stand-in-token"
    assert fetch["headers"]["Content-Type"] == "application/json"
    assert len(result["fetches"]) == 2


def test_the_string_only_base64_overload_refuses_non_ascii(node: str, tmp_path: Path) -> None:
    result = run_apps_script(
        node,
        tmp_path,
        host="127.0.0.1:9",
        steps=[
            {"call": "Utilities.base64Encode", "args": ["señora"]},
            {"call": "Utilities.base64Encode", "args": ["plain ascii"]},
            {"call": "Utilities.base64Encode", "args": ["señora", "UTF_8"]},
            {"call": "(function () { return Utilities.newBlob('ñ').getBytes(); })", "args": []},
        ],
    )
    refused, ascii_ok, utf8, blob = result["steps"]
    assert "does not document" in refused["error"]
    assert ascii_ok["ok"] == "cGxhaW4gYXNjaWk="
    assert utf8["ok"] == "c2XDsW9yYQ=="
    assert blob["ok"] == [-61, -79]  # signed bytes, like Java's


@pytest.mark.parametrize(
    ("call", "words"),
    [
        ("enqueue('', {})", "service must be"),
        ("enqueue('x'.repeat(64), {})", "service must be"),
        ("enqueue('brain', [1])", "payload must be a plain object"),
        ("enqueue('brain', null)", "payload must be a plain object"),
        ("enqueue('brain', 'text')", "payload must be a plain object"),
        ("enqueue('brain', {x: NaN})", "payload.x is NaN"),
        ("enqueue('brain', {x: [1, Infinity]})", "payload.x[1] is Infinity"),
        ("enqueue('brain', {x: undefined})", "payload.x is undefined"),
        ("enqueue('brain', {f: function () {}})", "payload.f is function"),
        ("enqueue('brain', {s: 'a\\ud800b'})", "lone UTF-16 surrogate"),
        ("enqueue('brain', {blob: 'x'.repeat(1000000)})", "at most 1000000"),
        ("enqueue('brain', {}, {delay: 5})", 'unknown option "delay"'),
        ("enqueue('brain', {}, {delay_s: -1})", "options.delay_s must be"),
        ("enqueue('brain', {}, {delay_s: 1.5})", "options.delay_s must be"),
        ("enqueue('brain', {}, {delay_s: '60'})", "options.delay_s must be"),
        ("enqueue('brain', {}, {delay_s: 2592001})", "options.delay_s must be"),
        ("enqueue('brain', {}, {deadline_s: 10})", "options.deadline_s must be"),
        ("enqueue('brain', {}, {idempotency_key: 'fila ñ'})", "printable ASCII"),
        ("enqueue('brain', {}, {idempotency_key: 'a\\nb'})", "printable ASCII"),
        ("enqueue('brain', {}, {idempotency_key: ''})", "printable ASCII"),
        ("enqueue('brain', {}, {idempotency_key: ' K'})", "start or end with a space"),
        ("enqueue('brain', {}, {idempotency_key: 'K '})", "start or end with a space"),
        ("enqueueBatch([{service: 'brain', payload: {}}, {service: 'brain'}])", "item 1: payload"),
        ("enqueueBatch({})", "pass an array"),
    ],
)
def test_mistakes_are_refused_before_anything_is_sent(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path, call: str, words: str
) -> None:
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        steps=[{"call": f"(function () {{ return {call}; }})"}],
    )
    [step] = result["steps"]
    assert words in step["error"]
    assert step["error"].startswith("enqueue")
    assert result["fetches"] == []
    assert topic.pull_for() == []


@pytest.mark.parametrize(
    ("properties", "words"),
    [
        ({}, "ENQUEUE_PROJECT_ID (the Cloud project, e.g. my-project) and ENQUEUE_TOPIC"),
        ({"ENQUEUE_PROJECT_ID": "p-1"}, "set the Script Properties ENQUEUE_TOPIC"),
        ({"ENQUEUE_TOPIC": "enqueue-requests"}, "set the Script Properties ENQUEUE_PROJECT_ID"),
        (
            {"ENQUEUE_PROJECT_ID": "p-1", "ENQUEUE_TOPIC": "projects/p-1/topics/t"},
            "not a valid id",
        ),
    ],
)
def test_missing_script_properties_say_what_to_set(
    node: str, tmp_path: Path, properties: dict[str, str], words: str
) -> None:
    result = run_apps_script(
        node,
        tmp_path,
        host="127.0.0.1:9",
        properties=properties,
        steps=[{"call": "enqueue", "args": ["brain", {}]}],
    )
    assert words in result["steps"][0]["error"]
    assert result["fetches"] == []


def test_429_5xx_and_network_errors_are_retried_with_backoff(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path
) -> None:
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        faults=[
            {"status": 503, "body": '{"error": {"message": "unavailable"}}'},
            {"status": 429, "body": "quota"},
            {"throw": "Address unavailable: https://pubsub.googleapis.com/v1/..."},
        ],
        steps=[{"call": "enqueue", "args": ["brain", {"n": "ñ"}]}],
    )
    [step] = result["steps"]
    assert "ok" in step, step
    assert len(result["fetches"]) == 4
    sleeps = result["sleeps"]
    assert len(sleeps) == 3
    for sleep_ms, base in zip(sleeps, (1000, 2000, 4000), strict=True):
        assert base <= sleep_ms <= base * 1.5
    [pulled] = topic.pull_all(expect=1)
    assert pulled.message_id == step["ok"]


def test_a_retry_after_a_lost_reply_sends_the_same_generated_key(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path
) -> None:
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        faults=[
            {"afterSending": True, "status": 504, "body": "gateway timeout"},
            None,
            {"afterSending": True, "throw": "Timeout: https://pubsub.googleapis.com/v1/..."},
            None,
        ],
        steps=[
            {"call": "enqueue", "args": ["brain", {"n": "ñ"}]},
            {"call": "enqueue", "args": ["brain", {"n": "ñ"}]},
        ],
    )
    first, second = result["steps"]
    assert "ok" in first, first
    assert "ok" in second, second
    # Two calls, each retried once after Pub/Sub took it: four messages, two keys.
    pulled = topic.pull_all(expect=4)
    keys = [decoded_envelope(m).idempotency_key or "" for m in pulled]
    assert len({m.message_id for m in pulled}) == 4
    assert sorted(Counter(keys).values()) == [2, 2]
    assert all(key.startswith("gas-") for key in keys)
    bodies = [fetch["bodySha256"] for fetch in result["fetches"]]
    assert bodies[0] == bodies[1]  # the retry sends the very same request
    assert bodies[2] == bodies[3]
    assert bodies[0] != bodies[2]  # a new call, a new key


@pytest.mark.parametrize("call", ["enqueueBatch", "enqueueBatchTraced"])
def test_giving_up_after_five_attempts_reports_what_was_published(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path, call: str
) -> None:
    items = [{"service": "brain", "payload": {"i": i}} for i in range(1500)]
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        faults=[None] + [{"status": 500, "body": "boom"}] * 5,
        steps=[{"call": call, "args": [items]}],
    )
    [step] = result["steps"]
    assert "after 5 attempts" in step["error"]
    assert "1000 of 1500 messages were published" in step["error"]
    assert len(step["publishedIds"]) == 1000
    pulled = {m.message_id: m for m in topic.pull_all(expect=1000)}
    assert sorted(pulled) == sorted(step["publishedIds"])
    if call == "enqueueBatch":
        assert step["published"] is None
        return
    # traced: what was sent, with the traceparent each message carried
    published = step["published"]
    assert [p["messageId"] for p in published] == step["publishedIds"]
    for sent in published:
        assert pulled[sent["messageId"]].attributes == {"traceparent": sent["traceparent"]}


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ({"status": 403, "body": '{"error": {"message": "denied"}}'}, "roles/pubsub.publisher"),
        ({"status": 401, "body": "{}"}, "oauthScopes"),
        (
            {"status": 400, "body": '{"error": {"message": "bad"}}'},
            "refused the request (HTTP 400): bad",
        ),
    ],
)
def test_errors_that_retrying_cannot_fix_are_not_retried(
    node: str, tmp_path: Path, fault: dict[str, Any], words: str
) -> None:
    result = run_apps_script(
        node,
        tmp_path,
        host="127.0.0.1:9",
        properties={"ENQUEUE_PROJECT_ID": "p-1", "ENQUEUE_TOPIC": "enqueue-requests"},
        faults=[fault],
        steps=[{"call": "enqueue", "args": ["brain", {}]}],
    )
    assert words in result["steps"][0]["error"]
    assert len(result["fetches"]) == 1
    assert result["sleeps"] == []


def test_a_missing_topic_is_named(node: str, emulator: Emulator, tmp_path: Path) -> None:
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties={"ENQUEUE_PROJECT_ID": PROJECT, "ENQUEUE_TOPIC": "no-such-topic"},
        steps=[{"call": "enqueue", "args": ["brain", {}]}],
    )
    error = result["steps"][0]["error"]
    assert f"projects/{PROJECT}/topics/no-such-topic was not found" in error
    assert "ENQUEUE_TOPIC" in error


def test_many_items_are_split_within_the_request_limits(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path
) -> None:
    small = [{"service": "brain", "payload": {"i": i, "t": "ñ"}} for i in range(2500)]
    big = [{"service": "brain", "payload": {"i": i, "blob": "é" * 450_000}} for i in range(12)]
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        steps=[{"call": "enqueueBatch", "args": [small]}, {"call": "enqueueBatch", "args": [big]}],
    )
    assert [len(s["ok"]) for s in result["steps"]] == [2500, 12]
    sizes = [f["bodyBytes"] for f in result["fetches"]]
    assert len(sizes) == 3 + 2  # 1000 + 1000 + 500, then 12 of 1.2 MB in two requests
    assert max(sizes) <= 10_000_000
    pulled = {m.message_id: m for m in topic.pull_all(expect=2512, timeout_s=60)}
    ids = result["steps"][0]["ok"] + result["steps"][1]["ok"]
    decoded = [decoded_envelope(pulled[i]) for i in ids]
    keys = {envelope.idempotency_key for envelope in decoded}
    assert len(keys) == 2512  # a key of its own for each (none was given)
    unkeyed = [envelope.model_copy(update={"idempotency_key": None}) for envelope in decoded]
    assert unkeyed == [Envelope.model_validate(item) for item in small + big]


def status_cell(cell: str) -> tuple[str, str, str]:
    """(message id, key, trace id) from Sheet.gs's status cell
    ``enqueued <time> message <id> key <key> trace <trace id>``."""
    words = cell.split()
    message_id, key, trace_id = (words[words.index(w) + 1] for w in ("message", "key", "trace"))
    return message_id, key, trace_id


def sheet_with(rows: list[list[Any]], *, active: tuple[int, int]) -> dict[str, Any]:
    header = ["service", "status", "case_id", "nota", "delay_s"]
    return {
        "id": "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg",
        "sheetId": 7,
        "values": [header, *rows],
        "active": {"row": active[0], "numRows": active[1]},
    }


def test_the_sheet_menu_enqueues_selected_rows_once_per_content(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path
) -> None:
    rows: list[list[Any]] = [
        ["brain", "", "C-1", TEXTS[0], ""],
        ["", "", "", "", ""],  # blank: skipped
        ["regresos", "", "C-2", TEXTS[2], 60],
    ]
    steps = [
        {"call": "onOpen"},
        {"call": "enqueueSelectedRows"},
        {"call": "enqueueSelectedRows"},  # the double click
    ]
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        sheet=sheet_with(rows, active=(1, 4)),
        steps=steps,
    )
    assert result["menus"] == [
        {"name": "Enqueue", "items": [["Enqueue selected rows", "enqueueSelectedRows"]]}
    ]
    assert result["alerts"] == ["Enqueued 2 row(s).", "Enqueued 2 row(s)."]
    pulled = topic.pull_all(expect=4)
    envelopes = [decoded_envelope(m) for m in pulled]
    keys = sorted(e.idempotency_key or "" for e in envelopes)
    assert keys[0] == keys[1]
    assert keys[2] == keys[3]
    assert keys[0] != keys[2]  # two rows, two keys, each published twice: one task each
    by_case = {e.payload["case_id"]: e for e in envelopes}
    c1 = by_case["C-1"]
    assert c1.service == "brain"
    assert c1.payload == {"case_id": "C-1", "nota": TEXTS[0]}
    assert c1.delay_s == 0
    assert "-row2-" in (c1.idempotency_key or "")
    assert "-row4-" in (by_case["C-2"].idempotency_key or "")
    assert by_case["C-2"].delay_s == 60
    assert by_case["C-2"].payload == {"case_id": "C-2", "nota": TEXTS[2]}
    for key in keys:
        assert key.startswith("sheet-1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg-7-row")
    grid = result["grid"]
    assert grid[1][1].startswith("enqueued ")
    assert grid[3][1].startswith("enqueued ")
    assert grid[2][1] == ""
    # each row's cell names its message, key and trace: the trace id its message carried
    traces = {}
    for message in pulled:
        context = parse_traceparent(message.attributes["traceparent"])
        assert context is not None
        traces[message.message_id] = context.trace_id
    for cell in (grid[1][1], grid[3][1]):
        message_id, key, trace = status_cell(cell)
        assert traces[message_id] == trace
        assert key in keys
    assert len(set(traces.values())) == 4  # a new trace per row and click


def test_an_edited_row_gets_a_new_key(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path
) -> None:
    keys = []
    for nota in ("antes", "después"):
        run_apps_script(
            node,
            tmp_path,
            host=emulator.host,
            properties=props(topic),
            sheet=sheet_with([["brain", "", "C-9", nota, ""]], active=(2, 1)),
            steps=[{"call": "enqueueSelectedRows"}],
        )
        [pulled] = topic.pull_all(expect=1)
        keys.append(decoded_envelope(pulled).idempotency_key)
    assert keys[0] != keys[1]


def test_a_bad_row_is_named_and_nothing_is_sent(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path
) -> None:
    rows: list[list[Any]] = [["brain", "", "C-1", "ok", ""], ["brain", "", "C-2", "x", "soon"]]
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        sheet=sheet_with(rows, active=(2, 2)),
        steps=[{"call": "enqueueSelectedRows"}],
    )
    [alert] = result["alerts"]
    assert alert.startswith("Nothing more was enqueued: enqueue: row 3: options.delay_s must be")
    assert result["fetches"] == []
    assert topic.pull_for() == []


# -- traces ----------------------------------------------------------------------------------

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_traced_enqueues_send_the_given_or_a_new_traceparent_and_return_it(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path
) -> None:
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        steps=[
            {"call": "enqueueTraced", "args": ["brain", {"fila": 1}, None, TRACE]},
            {"call": "enqueueTraced", "args": ["brain", {"fila": 2}]},
            {
                "call": "enqueueBatchTraced",
                "args": [
                    [
                        {"service": "brain", "payload": {"fila": 3}, "traceparent": TRACE},
                        {"service": "brain", "payload": {"fila": 4}},
                    ]
                ],
            },
            {"call": "enqueue", "args": ["brain", {"fila": 5}]},
        ],
    )
    given, new, batch, untraced = (step["ok"] for step in result["steps"])
    sent = [given, new, *batch]
    assert given["traceparent"] == TRACE
    assert batch[0]["traceparent"] == TRACE
    for item in (new, batch[1]):
        context = parse_traceparent(item["traceparent"])
        assert context is not None
        assert context.sampled
    assert new["traceparent"] != batch[1]["traceparent"]
    pulled = {m.message_id: m for m in topic.pull_all(expect=5)}
    for item in sent:
        message = pulled[item["messageId"]]
        assert message.attributes == {"traceparent": item["traceparent"]}
        assert traceparent_of(as_bridge_sees_it(message)) == item["traceparent"]
    assert [decoded_envelope(pulled[s["messageId"]]).payload["fila"] for s in sent] == [1, 2, 3, 4]
    assert pulled[untraced].attributes == {}


@pytest.mark.parametrize(
    "bad", ["", "nope", TRACE.upper(), 7, f"00-{'0' * 32}-00f067aa0ba902b7-01"]
)
def test_an_invalid_traceparent_sends_nothing(
    node: str, emulator: Emulator, topic: Topic, tmp_path: Path, bad: object
) -> None:
    result = run_apps_script(
        node,
        tmp_path,
        host=emulator.host,
        properties=props(topic),
        steps=[{"call": "enqueueTraced", "args": ["brain", {}, None, bad]}],
    )
    (step,) = result["steps"]
    assert "traceparent must be a W3C traceparent" in step["error"]
    assert result["fetches"] == []
