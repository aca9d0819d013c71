"""``tests.prerequisites``: a missing tool skips locally and fails under CI."""

from __future__ import annotations

import pytest

from tests.prerequisites import missing_prerequisite


def test_a_missing_prerequisite_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="java is not on PATH"):
        missing_prerequisite("java is not on PATH")


def test_a_missing_prerequisite_is_skipped_locally(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="java is not on PATH"):
        missing_prerequisite("java is not on PATH")
