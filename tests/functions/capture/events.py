"""Where tests/functions/capture/main.py keeps what it was given. functions-framework loads
main.py as a module of its own, so the list lives in a module imported the ordinary way."""

from __future__ import annotations

from typing import Any

EVENTS: list[tuple[Any, Any, Any]] = []
