"""The ``bridge`` command: ``publish``, ``replay``, ``status``, ``queues`` (``bridge --help``).

User mistakes end with one line on stderr and a distinct exit code (``bridge.cli.exits``), never a
traceback. The function never imports this package: it is an operator's tool.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bridge.cli import publish, queues, replay, status
from bridge.cli.exits import (
    EXIT_DENIED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_NOT_FOUND,
    EXIT_OK,
    EXIT_USAGE,
    UserError,
)
from bridge.cli.options import exit_codes_text, wrap
from bridge.publishing.publisher import AccessDenied, InvalidEnvelope, MissingTopic, PublishError


def exit_code_for(error: PublishError) -> int:
    if isinstance(error, InvalidEnvelope):
        return EXIT_INVALID
    if isinstance(error, MissingTopic):
        return EXIT_NOT_FOUND
    if isinstance(error, AccessDenied):
        return EXIT_DENIED
    return EXIT_FAILED


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bridge",
        description=wrap(
            "Publish envelopes to the enqueue-bridge topic, replay rejected or dead-lettered "
            "messages, and find where a request is (status, queues). Honours "
            "PUBSUB_EMULATOR_HOST and CLOUD_TASKS_EMULATOR_HOST (the local emulators)."
        ),
        epilog=exit_codes_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    publish.add_parser(commands)
    replay.add_parser(commands)
    status.add_parser(commands)
    queues.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``bridge``; the exit code (``EXIT_CODES``)."""
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2): argparse already printed why
        return e.code if isinstance(e.code, int) else EXIT_USAGE
    try:
        code: int = args.run(args, out, err)
        return code
    except UserError as e:
        print(f"bridge {args.command}: {e}", file=err)
        return e.exit_code
    except InvalidEnvelope as e:
        print(f"bridge {args.command}: {e} [{e.reason.value}]; nothing was sent", file=err)
        return EXIT_INVALID
    except PublishError as e:
        print(f"bridge {args.command}: {e}", file=err)
        return exit_code_for(e)
    except KeyboardInterrupt:
        print(f"bridge {args.command}: interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK  # `bridge ... | head`: the reader has what it wanted
