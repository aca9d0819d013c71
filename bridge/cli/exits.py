"""The ``bridge`` command's exit codes and ``UserError``: a leaf every command module imports.

The README's exit-code table is checked against ``EXIT_CODES`` (tests/publishers/test_cli.py).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2  # unknown flag, missing or conflicting options (argparse's own code)
EXIT_INVALID = 3  # bad JSON, an envelope the bridge would reject, unreadable file: nothing sent
EXIT_NOT_FOUND = 4  # no project, the topic or subscription does not exist
EXIT_DENIED = 5  # no credentials, or permission denied
EXIT_FAILED = 6  # Pub/Sub failed (unavailable, timeout); the message says what was sent
EXIT_PARTIAL = 7  # replay: some chosen messages were not republished (left unacknowledged)
EXIT_INTERRUPTED = 130
EXIT_CODES = {
    EXIT_OK: "success (also: a replay listing, or nothing to replay)",
    EXIT_USAGE: "usage: unknown flag, missing or conflicting options",
    EXIT_INVALID: "invalid input: bad JSON, an envelope the bridge would reject; nothing was sent",
    EXIT_NOT_FOUND: "no project given, or the topic / subscription does not exist",
    EXIT_DENIED: "no credentials, or permission denied on the topic / subscription",
    EXIT_FAILED: "Pub/Sub failed (unavailable, timeout); stderr says what was already sent",
    EXIT_PARTIAL: "replay: some chosen messages could not be republished (left unacknowledged)",
    EXIT_INTERRUPTED: "interrupted (Ctrl-C)",
}


class UserError(Exception):
    """Raised for a mistake the user fixes; ``exit_code`` is one of ``EXIT_CODES``."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
