"""Logging set-up for a serving process: ftproxy's own loggers to stderr, one line per record.

`ftproxy.access` writes the one structured (JSON) line per request (`exchange.py`); `ftproxy`
writes operational messages. Granian configures its own loggers; these do not propagate into
them, so each line appears once. `FTPROXY_LOG_LEVEL` (default INFO) sets the level;
`FTPROXY_ACCESS_LOG=0` turns the per-request lines off.
"""

from __future__ import annotations

import logging
import os
import sys

LEVEL_ENV = "FTPROXY_LOG_LEVEL"
ACCESS_LOG_ENV = "FTPROXY_ACCESS_LOG"


def configure() -> None:
    """Idempotent: a worker may build its app more than once (reloads), handlers are added once."""
    level = os.environ.get(LEVEL_ENV, "INFO").upper()
    root = logging.getLogger("ftproxy")
    if not any(getattr(h, "_ftproxy", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._ftproxy = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    root.propagate = False
    access = logging.getLogger("ftproxy.access")
    access.disabled = os.environ.get(ACCESS_LOG_ENV, "1") == "0"
