"""The one rule for a missing prerequisite (Java, Node, gcloud's emulator, .venv-tf, ...).

Locally the test is skipped, saying what to install; under CI (``CI`` set, as ``.ci/run`` does)
it fails: ``make test`` installs every prerequisite there, so a missing one is a broken setup,
never a test to pass over.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing_prerequisite(reason: str) -> NoReturn:
    """Raised always: skipped locally, failed under CI; ``reason`` says what to install."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)
