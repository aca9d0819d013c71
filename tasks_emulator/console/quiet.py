"""A page that polls every second would bury the server's log under its reads: the WSGI
server's request lines for successful GETs of these paths are dropped (actions, errors and every
other request are still logged). Only werkzeug's request line is affected; it never holds a body.
"""

from __future__ import annotations

import logging

_installed: set[tuple[str, ...]] = set()


class QuietReads(logging.Filter):
    """Drops werkzeug's ``"GET <path> HTTP/1.1" 200`` lines whose path starts with a prefix."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        super().__init__()
        self._starts = tuple(f"GET {prefix}" for prefix in prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        # werkzeug logs '%s - - [%s] %s %s %s': address, date, request line, status, size.
        args = record.args if isinstance(record.args, tuple) else ()
        return not (
            len(args) >= 4 and str(args[3]) == "200" and str(args[2]).startswith(self._starts)
        )


def quiet_reads(*prefixes: str) -> None:
    """Install (once per set of prefixes) the filter on werkzeug's logger."""
    if prefixes not in _installed:
        _installed.add(prefixes)
        logging.getLogger("werkzeug").addFilter(QuietReads(prefixes))
