"""Logging for a serving process: messages through `logging`, request lines through a writer thread.

`ftproxy` (a `logging` logger) writes operational messages to stderr, one line per record.
The one structured JSON line per request (`exchange.py`) does not go through `logging`: a
`logging.Handler` formats and writes under its own lock, so at 64 concurrent requests the
threads would queue behind each other to log. Instead a request thread encodes its line (one
orjson call, a few microseconds) and appends the bytes to `ACCESS_LOG`'s queue (a
`queue.SimpleQueue`: one C-level put, no lock of ours); one writer thread joins them and writes
whole batches to stderr. The writer encodes nothing: on a GIL build it holds the GIL only for
the join, where encoding a batch of lines would hold it for a tenth of a millisecond while a
request thread waits for it (measured: p99 at concurrency 1 went from 0.67 to 0.50 ms with the
log off). Lines are never interleaved, and a slow stderr slows the writer, not the requests.
Granian configures its own loggers; ours do not propagate into them, so each line appears once.

`FTPROXY_LOG_LEVEL` (default INFO) sets the level; `FTPROXY_ACCESS_LOG=0` turns the per-request
lines off.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from ftproxy._json import dumps, dumps_ascii
from ftproxy.environment import FTPROXY_ACCESS_LOG, FTPROXY_LOG_LEVEL

_BATCH = 256  # lines per write at most: a burst is written in a few system calls
# After the first line of a batch the writer waits this long for more, so that under load it
# wakes (and takes the GIL) a few dozen times a second, not once per request.
_LINGER_S = 0.02


class AccessLog:
    """One JSON line per request, written by one thread. Disabled until `start()`."""

    def __init__(self, stream: Callable[[], TextIO] = lambda: sys.stderr) -> None:
        self._stream = stream
        self._queue: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._start_lock = threading.Lock()  # one writer thread, whoever calls start() first
        self.enabled = False

    def start(self) -> None:
        with self._start_lock:
            if self._writer is not None and self._writer.is_alive():
                self.enabled = True
                return
            self._writer = threading.Thread(
                target=self._write_forever, name="ftproxy-access-log", daemon=True
            )
            self._writer.start()
            self.enabled = True

    def write(self, fields: dict[str, Any]) -> None:
        """Called on the request path: the line's bytes, and one put. A field no encoder takes
        is a bug of ours: it costs that one line (said on the `ftproxy` logger), never the
        request, whose end this runs in."""
        if self.enabled:
            try:
                line = _line(fields)
            except Exception:
                logging.getLogger("ftproxy").exception("access log: a request line could not be encoded")
                return
            self._queue.put(line)

    def flush(self, timeout: float = 2.0) -> None:
        """Writes what is queued and stops the writer (at exit); later lines start a new writer."""
        with self._start_lock:
            writer, self._writer = self._writer, None
            self.enabled = False
        if writer is not None and writer.is_alive():
            self._queue.put(None)
            writer.join(timeout)

    def _write_forever(self) -> None:
        get, get_nowait = self._queue.get, self._queue.get_nowait
        while True:
            item = get()
            if item is not None:
                time.sleep(_LINGER_S)
            lines: list[bytes] = []
            stop = False
            while True:
                if item is None:
                    stop = True
                    break
                lines.append(item)
                if len(lines) >= _BATCH:
                    break
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
            if lines:
                self._emit(b"".join(lines))
            if stop:
                return

    def _emit(self, data: bytes) -> None:
        # A broken or closed stderr must not kill the writer: the requests go on without a log.
        with contextlib.suppress(OSError, ValueError):
            stream = self._stream()
            buffer = getattr(stream, "buffer", None)
            if buffer is not None:
                stream.flush()
                buffer.write(data)
                buffer.flush()
            else:
                stream.write(data.decode())
                stream.flush()


def _line(fields: dict[str, Any]) -> bytes:
    try:
        return dumps(fields) + b"\n"
    except (TypeError, ValueError):  # a value orjson refuses (a lone surrogate): escape it instead
        return dumps_ascii(fields) + b"\n"


ACCESS_LOG = AccessLog()
atexit.register(ACCESS_LOG.flush)  # the lines still queued when the process ends


def configure() -> None:
    """Idempotent: a worker may build its app more than once (reloads), handlers are added once."""
    level = os.environ.get(FTPROXY_LOG_LEVEL, "INFO").upper()
    root = logging.getLogger("ftproxy")
    if not any(getattr(h, "_ftproxy", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._ftproxy = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    root.propagate = False
    if os.environ.get(FTPROXY_ACCESS_LOG, "1") != "0" and root.isEnabledFor(logging.INFO):
        ACCESS_LOG.start()
    else:
        ACCESS_LOG.flush()
