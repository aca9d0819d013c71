"""What the ``bridge`` commands share on their command line: help text and common options."""

from __future__ import annotations

import argparse
import textwrap

from bridge.cli.exits import EXIT_CODES
from bridge.publishing.publisher import DEFAULT_TIMEOUT_S


def wrap(text: str) -> str:
    return textwrap.fill(text, width=88, break_on_hyphens=False)


def exit_codes_text() -> str:
    return "exit codes:\n" + "\n".join(f"  {code:<4} {text}" for code, text in EXIT_CODES.items())


def add_where(parser: argparse.ArgumentParser) -> None:
    """``--project`` and ``--timeout-s``, which every command takes."""
    parser.add_argument(
        "--project",
        help="Google Cloud project (default: $GOOGLE_CLOUD_PROJECT or $CLOUDSDK_CORE_PROJECT)",
    )
    parser.add_argument(
        "--timeout-s",
        type=positive_float,
        default=DEFAULT_TIMEOUT_S,
        metavar="S",
        help=f"give up on one Pub/Sub request after S seconds (default {DEFAULT_TIMEOUT_S:.0f})",
    )


def positive_float(text: str) -> float:
    """argparse type: a number of seconds above 0 (``inf`` and ``nan`` refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds above 0")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a number of seconds, 0 or more (``inf`` and ``nan`` refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):  # also NaN
        raise argparse.ArgumentTypeError(f"{text!r} must be a number of seconds, 0 or more")
    return value
