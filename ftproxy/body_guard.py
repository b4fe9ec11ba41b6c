"""Slow request bodies must not hold every request thread (issue 13, item 4).

A WSGI server calls the app as soon as the headers are in; reading the body then blocks the
request thread until the bytes arrive. Granian has no body read timeout, and its body read
cannot be interrupted from Python, so a few hundred clients sending 1 byte/s of a 100 kB body
would hold all threads for good.

The guard costs nothing while bodies arrive promptly: a body is read inline, in the request
thread, as long as fewer than a quarter of the threads are reading bodies. Past that (slow
bodies are piling up), a body is read by a helper thread and the request thread waits for it
only `grace_s + length / min_rate` seconds (0.5 s + 1 s per MiB by default: a healthy client
sends its body right after its headers). A body that is late gets a 408 and its request thread
goes back to serving; the helper stays with the slow connection until the client finishes or
leaves. Helpers are capped too (past the cap: 503 at once), so slow clients cannot grow threads
without bound. Inline readers that were slow before the pressure began keep their threads; at
most a quarter of them.

The proper front is nginx with request buffering (deploy/ renders it): it reads whole bodies
before passing them on, so slow bodies never reach ftproxy at all.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from ftproxy.errors import ApiError

MIN_RATE_ENV = "FTPROXY_BODY_MIN_RATE"  # bytes/s a body must reach once slow bodies pile up
DEFAULT_MIN_RATE = 1024 * 1024
DEFAULT_GRACE_S = 0.5


class BodyGuard:
    def __init__(
        self, threads: int, *, min_rate: float = DEFAULT_MIN_RATE, grace_s: float = DEFAULT_GRACE_S
    ) -> None:
        self.inline_limit = max(1, threads // 4)
        self.max_helpers = max(16, threads * 4)
        self.min_rate = min_rate
        self.grace_s = grace_s
        self._lock = threading.Lock()
        self._reading = 0  # bodies being read now, inline or by a helper, in this process
        self._helpers = 0

    def read(self, reader: Callable[[int], bytes], size: int, length: int) -> bytes:
        """`reader(size)`, inline when bodies arrive promptly, else within a deadline (408)."""
        with self._lock:
            inline = self._reading < self.inline_limit
            if not inline and self._helpers >= self.max_helpers:
                raise _too_many_slow_bodies()
            self._reading += 1
            if not inline:
                self._helpers += 1
        if inline:
            try:
                return reader(size)
            finally:
                with self._lock:
                    self._reading -= 1
        return self._read_with_deadline(reader, size, self.grace_s + max(length, 0) / self.min_rate)

    def _read_with_deadline(self, reader: Callable[[int], bytes], size: int, deadline_s: float) -> bytes:
        done = threading.Event()
        box: dict[str, Any] = {}

        def read() -> None:
            try:
                box["data"] = reader(size)
            except BaseException as exc:  # handed to the request thread, if it still waits
                box["error"] = exc
            finally:
                with self._lock:
                    self._reading -= 1
                    self._helpers -= 1
                done.set()

        threading.Thread(target=read, name="ftproxy-body", daemon=True).start()
        if not done.wait(deadline_s):
            raise ApiError(
                408,
                f"the request body did not arrive within {deadline_s:.1f} s; ftproxy is serving many "
                "slow uploads right now, retry",
                code="request_timeout",
                headers={"Connection": "close"},
            )
        if "error" in box:
            raise box["error"]
        data: bytes = box["data"]
        return data

    def stats(self) -> tuple[int, int]:
        """(bodies being read, of which by helpers): for tests and diagnostics."""
        with self._lock:
            return self._reading, self._helpers


def _too_many_slow_bodies() -> ApiError:
    return ApiError(
        503,
        "ftproxy is waiting on too many slow request bodies; retry shortly",
        code="too_many_slow_bodies",
        headers={"Retry-After": "1", "Connection": "close"},
    )


_process_guard: BodyGuard | None = None
_process_guard_lock = threading.Lock()


def process_guard(threads: int) -> BodyGuard:
    """This process's guard (thread workers of a free-threaded build share the process's)."""
    global _process_guard
    guard = _process_guard
    if guard is not None:
        return guard
    with _process_guard_lock:
        if _process_guard is None:
            rate = float(os.environ.get(MIN_RATE_ENV) or DEFAULT_MIN_RATE)
            _process_guard = BodyGuard(threads, min_rate=rate)
        return _process_guard
