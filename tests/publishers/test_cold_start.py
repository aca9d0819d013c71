"""The function's cold start must not pay for the publisher: ``main`` never imports it."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import probe_in_fresh_interpreter

REPO = Path(__file__).resolve().parents[2]
HEAVY = [
    "google.cloud.pubsub_v1",
    "google.pubsub_v1",
    "bridge.cli",
    "bridge.publishing",
    "bridge.publishing.publisher",
    "bridge.cli.replay",
]


def imported_by(code: str) -> dict[str, bool]:
    probe = (
        f"import sys, json\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))"
    )
    result: dict[str, bool] = probe_in_fresh_interpreter(probe)
    return result


def test_importing_main_imports_no_publisher_and_no_pubsub_client() -> None:
    assert imported_by("import main") == dict.fromkeys(HEAVY, False)


def test_the_publisher_library_loads_no_pubsub_client_until_it_sends() -> None:
    seen = imported_by("import bridge.publishing\nimport bridge.cli")  # and the probe sees them
    assert seen["bridge.publishing.publisher"]
    assert seen["bridge.cli"]
    assert not seen["google.cloud.pubsub_v1"]  # the client library waits for the first send
