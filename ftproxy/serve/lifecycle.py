"""Graceful drain: how a stopping ftproxy tells load balancers, then stops without cutting streams.

The launcher gives every run a drain file: a fresh path in a private temporary folder, exported
as $FTPROXY_DRAIN_FILE before the server starts, so every worker (thread, spawned or forked
process) inherits it. The file does not exist while ftproxy serves normally. On the first
SIGTERM/SIGINT the main process creates it, and from then on `draining()` is true in every worker
(within 0.2 s: each process's `runtime.DrainWatch` looks at the file), so GET /ready answers 503
and load balancers stop sending new requests. After `--drain-delay`
seconds the server itself is told to stop: it stops accepting and lets in-flight requests and
streams finish, for at most `--drain-timeout` seconds. Streams still open then are ended by
ftproxy a moment before the server's cut, with the error event of their client's API (the file
carries that deadline; see `runtime.drain_deadline_at`). A second signal stops at once.

A file, not a flag in memory, because the workers of a GIL build are separate processes and the
main process must be able to tell all of them with one cheap, atomic, inheritable act. Operators
may also create the file themselves (its path is in the start-up banner) to take an instance
out of rotation without stopping it.

`Drain` is the server-independent part of that sequence; the Granian and Gunicorn glue decide
how "stop" and "stop at once" are done.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ftproxy.environment import FTPROXY_DRAIN_FILE, FTPROXY_WORKER_RESTARTS
from ftproxy.runtime import watch_drain


def say(message: str) -> None:
    """One line to stderr with a single write(2): safe inside a signal handler, where print()
    could hit a buffered stream the interrupted code was writing to, and independent of how the
    server configured logging."""
    with contextlib.suppress(OSError):  # stderr closed: nothing useful left to do with the message
        os.write(2, f"ftproxy: {message}\n".encode())


def mark_draining(path: str | os.PathLike[str], streams_end_at: float | None = None) -> None:
    """Creates the drain file (idempotent): every worker's `draining()` turns true. With
    `streams_end_at` (wall-clock epoch seconds), writes it in: the drain deadline every worker's
    open streams end by, with their error event (`runtime.DrainWatch`)."""
    with open(path, "a") as file:
        if streams_end_at is not None:
            file.write(f"{streams_end_at:.3f}\n")


def drain_margin(timeout_s: float) -> float:
    """How long before the server's own cut the streams end: time for their error event, the
    last chunk and the server's graceful stop to finish before the process is ended."""
    return min(1.0, timeout_s / 4)


@contextmanager
def private_drain_file() -> Iterator[Path]:
    """Exports a fresh drain file path in a private (0700) temporary folder for the block's life.

    Only the process that created the folder removes it: a process forked inside the block
    (Gunicorn's workers are) must not delete the drain file its parent still needs if it ever
    unwinds through here.
    """
    folder = Path(tempfile.mkdtemp(prefix="ftproxy-drain-"))  # mkdtemp: mode 0700, unique name
    owner = os.getpid()
    previous = os.environ.get(FTPROXY_DRAIN_FILE)
    os.environ[FTPROXY_DRAIN_FILE] = str(folder / "draining")
    try:
        yield folder / "draining"
    finally:
        if os.getpid() == owner:
            remove_private_folder(folder)
            if previous is None:
                os.environ.pop(FTPROXY_DRAIN_FILE, None)
            else:
                os.environ[FTPROXY_DRAIN_FILE] = previous


def remove_private_folder(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


class Drain:
    """The shutdown sequence both servers share: the first signal drains, the second forces.

    `begin()` is called for every SIGTERM/SIGINT in the main process. The first call creates the
    drain file and returns True: the caller then waits `wait_delay()` and stops its server
    gracefully. Later calls return False and mark the stop as forced: the caller stops at once,
    and `wait_delay()` returns early if it is still waiting.
    """

    def __init__(self, drain_file: Path, delay_s: float, timeout_s: float | None = None) -> None:
        self.drain_file = drain_file
        self.delay_s = delay_s
        # The server cuts what is left `delay_s + timeout_s` after the first signal: streams end
        # with their error event a margin before (None: no deadline, streams are simply cut).
        self.timeout_s = timeout_s
        self.started = False
        self.forced = False
        self._cut_short = threading.Event()

    def begin(self) -> bool:
        if self.started:
            self.forced = True
            self._cut_short.set()
            say("second stop signal: stopping now; in-flight requests and streams are cut")
            return False
        self.started = True
        streams_end_at = None
        if self.timeout_s is not None:
            streams_end_at = time.time() + self.delay_s + self.timeout_s - drain_margin(self.timeout_s)
        try:
            mark_draining(self.drain_file, streams_end_at)
        except OSError as exc:  # e.g. the folder was removed: still stop, just without the 503 phase
            say(f"cannot create the drain file {self.drain_file} ({exc}); /ready will not answer 503")
        say(
            f"stop signal: draining (GET /ready answers 503); the server stops accepting in "
            f"{self.delay_s:g} s and lets in-flight requests finish; signal again to stop at once"
        )
        return True

    def wait_delay(self) -> None:
        """Gives load balancers `delay_s` to see /ready fail; returns early on a forced stop."""
        if self.delay_s > 0:
            self._cut_short.wait(self.delay_s)


# ---- worker respawns ----


def worker_died(name: str, pid: int | None, exitcode: int | None) -> None:
    """In the supervisor, when a worker exited without being asked to: log, count, forget it.

    The count is `ftproxy_worker_restarts_total{reason="crash"}`. With several process workers,
    metrics live in files of a shared directory and the supervisor's own increment is summed in
    at every scrape. With one, the supervisor passes the running total to the new worker, which
    counts it at start-up (`worker_app`).
    """
    from ftproxy.observe import metrics

    how = ""
    if exitcode is not None:
        how = f" (killed by signal {-exitcode})" if exitcode < 0 else f" (exit code {exitcode})"
    say(f"{name} (pid {pid}) exited unexpectedly{how}; starting a new one, the others serve on")
    total = int(os.environ.get(FTPROXY_WORKER_RESTARTS) or 0) + 1
    os.environ[FTPROXY_WORKER_RESTARTS] = str(total)
    if metrics.multiprocess_directory() is not None:
        if pid is not None:
            metrics.mark_process_dead(pid)  # its in-flight gauges must not be summed any more
        metrics.WORKER_RESTARTS.labels("crash").inc()


_counted_restarts = False
_counted_lock = threading.Lock()


def worker_app() -> object:
    """The server's factory target in each worker: the gateway, after counting respawns that
    happened before this worker started (single-process metrics only; see `worker_died`)."""
    global _counted_restarts
    from ftproxy.observe import metrics
    from ftproxy.web.app import from_environment

    with _counted_lock:
        if not _counted_restarts:
            _counted_restarts = True
            restarts = int(os.environ.get(FTPROXY_WORKER_RESTARTS) or 0)
            if restarts and metrics.multiprocess_directory() is None:
                metrics.WORKER_RESTARTS.labels("crash").inc(restarts)
    watch_drain()  # once per process: /ready and the streams learn of a drain from it
    return from_environment()
