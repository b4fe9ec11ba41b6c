"""Serving with Granian: the WSGI server on every build except a free-threaded one with the GIL on.

The plan (`plan.py`) decides how to serve; this module and `gunicorn.py` sit side
by side and carry the plan out. Here: Granian's settings (workers, blocking threads, connections
within the open-file limit, the header timeout), respawning crashed workers and counting them,
and SIGTERM/SIGINT: the drain file, the delay, then Granian's own graceful interrupt. Granian is
imported only when serving, so importing this module costs nothing. Granian is used here through
its public surface only; the three things that need its internals (counting a crashed worker,
killing workers at once, one log filter) are in `granian_internals.py`, with the versions checked.
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import TYPE_CHECKING, Any

from ftproxy.serve import granian_internals, lifecycle
from ftproxy.serve.plan import DEFAULT_MAX_CONNECTIONS

if TYPE_CHECKING:
    from ftproxy.serve.lifecycle import Drain
    from ftproxy.serve.plan import ServeOptions, ServePlan

# The most bytes of a request head (request line and headers) a connection may send: a longer
# head gets Granian's 431 before the app sees it. Granian's default buffer (408 KiB) let a 400 KB
# header through and let 800 unfinished heads hold 300 MiB; clients send a few kB (a 12 KB key
# included), so 64 KiB is generous. Bodies are not bounded by it: they are read in chunks.
MAX_HEAD_BYTES = 64 * 1024

# File descriptors kept back from connections: upstream connections (one per thread), files, logs.
FD_RESERVE = 256


def granian_backpressure(threads: int, max_connections: int | None, fd_limit: int) -> int:
    """Connections each Granian worker takes on at once.

    Never fewer than the threads (they would idle while clients wait); by default far more,
    because a connection that trickles its headers (slowloris) or sits idle between keep-alive
    requests costs a few kB in Rust and no thread, and a cap near the threads is exactly what a
    slowloris fills. Bounded by the file descriptors a worker process may open, less one upstream
    connection per thread and a reserve.
    """
    wanted = DEFAULT_MAX_CONNECTIONS if max_connections is None else max_connections
    return max(threads, min(wanted, fd_limit - threads - FD_RESERVE))


def raise_fd_limit(wanted: int) -> int:
    """Raises this process's soft RLIMIT_NOFILE towards `wanted` (within the hard limit); workers
    inherit it. Returns the soft limit now in force."""
    try:
        import resource
    except ImportError:  # not POSIX
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return wanted if soft == resource.RLIM_INFINITY else soft


def serve_with_granian(chosen: ServePlan, options: ServeOptions, drain: Drain) -> int:
    from granian.constants import HTTPModes, Interfaces
    from granian.http import HTTP1Settings

    threads_mode = chosen.mode == "threads"
    wanted = DEFAULT_MAX_CONNECTIONS if options.max_connections is None else options.max_connections
    fd_limit = raise_fd_limit(wanted + chosen.threads + FD_RESERVE)
    server = granian_internals.respawning_server_class(lifecycle.worker_died)(
        "ftproxy.serve.lifecycle:worker_app",
        address=options.host,
        port=options.port,
        interface=Interfaces.WSGI,
        # HTTP/1.1 only: Granian's HTTP/2 has no header timeout and an abandoned h2 body held a
        # thread and an in-flight slot for good.
        http=HTTPModes.http1,
        workers=chosen.workers,
        blocking_threads=chosen.threads,
        backpressure=granian_backpressure(chosen.threads, options.max_connections, fd_limit),
        http1_settings=HTTP1Settings(
            header_read_timeout=int(options.header_timeout_s * 1000), max_buffer_size=MAX_HEAD_BYTES
        ),
        factory=True,
        log_access=False,
        # A worker that dies (a crash, an OOM kill, kill -9) is replaced; the others serve on.
        # Granian itself gives up when a worker dies again within 5.5 s of its respawn.
        respawn_failed_workers=True,
        # Process workers still busy after the drain timeout are killed by Granian. Thread
        # workers cannot be killed one by one (Granian would raise), so `GranianStopper` ends
        # the whole process at the deadline instead.
        workers_kill_timeout=None if threads_mode else options.drain_timeout_s,
    )
    if options.threads is None:
        # Granian's warning about many threads is for CPU-bound apps; an explicit --threads keeps it.
        granian_internals.quiet_thread_warning()
    stopper = GranianStopper(server, drain, options.drain_timeout_s, threads_mode)
    # Startup hooks run in the main process after Granian installed its own SIGINT/SIGTERM
    # handlers and before the workers start: ours replace them there (an ordering of Granian's
    # internals, listed and tested with the others: granian_internals.py).
    server.on_startup(stopper.install)
    server.serve()
    return 1 if drain.forced else 0


class GranianStopper:
    """SIGTERM/SIGINT for Granian: drain file, delay, then Granian's own graceful interrupt."""

    def __init__(self, server: Any, drain: Drain, timeout_s: int, threads_mode: bool) -> None:
        self.server = server
        self.drain = drain
        self.timeout_s = timeout_s
        self.threads_mode = threads_mode

    def install(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self.on_signal)

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.drain.begin():
            # The delay runs in a thread: a signal handler must return promptly, and the second
            # signal has to be handled while the first one's delay is still running.
            threading.Thread(target=self._stop_after_delay, name="ftproxy-drain", daemon=True).start()
        else:
            self.stop_now()

    def _stop_after_delay(self) -> None:
        self.drain.wait_delay()
        if self.drain.forced:
            return  # a second signal cut the delay short and already stopped everything
        granian_internals.interrupt(self.server)
        if self.threads_mode:
            threading.Event().wait(self.timeout_s)
            # Still here: a stream outlived the drain timeout. This thread is a daemon, so a
            # process that finished draining in time never gets here.
            lifecycle.say(f"drain timeout ({self.timeout_s} s) reached; cutting the remaining streams")
            self._exit_now(0)

    def stop_now(self) -> None:
        if not granian_internals.kill_workers(self.server):
            self._exit_now(1)  # thread workers: ending the one process ends them all
        granian_internals.interrupt(self.server)

    def _exit_now(self, status: int) -> None:
        lifecycle.remove_private_folder(self.drain.drain_file.parent)
        os._exit(status)
