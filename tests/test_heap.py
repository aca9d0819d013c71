"""``main.py`` leaves the collector as ``bridge.heap`` sets it: what import and wiring built is
frozen (never walked again) and young collections wait for 10,000 net allocations."""

from __future__ import annotations

from bridge.heap import YOUNG_COLLECTION_THRESHOLD
from tests.conftest import probe_in_fresh_interpreter


def test_a_cold_start_freezes_what_it_built_and_raises_the_young_threshold() -> None:
    frozen, young, generations = probe_in_fresh_interpreter(
        "import gc, json; before = gc.get_freeze_count(); import main; "
        "print(json.dumps([gc.get_freeze_count() - before, gc.get_threshold()[0], "
        "gc.get_threshold()[1:]]))"
    )
    assert frozen > 10_000  # the libraries' objects, not a handful
    assert young == YOUNG_COLLECTION_THRESHOLD
    assert generations == [10, 10]  # the older generations keep CPython's defaults
