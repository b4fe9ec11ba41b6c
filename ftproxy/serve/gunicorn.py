"""Serving with Gunicorn's `gthread` workers: the GIL-on path of a free-threaded build.

Granian's free-threaded build refuses to start while the GIL is enabled (SPEC §2), so when a
3.14t interpreter runs with PYTHON_GIL=1 (the rollback switch), `-X gil=1` or `--gil on`, the
same WSGI app is served by Gunicorn: pure Python, so it runs on any build, with process workers
x threads. Each worker builds its own gateway with `ftproxy.web.app:from_environment()`, as a
Granian worker does. `--server gunicorn` selects it on any interpreter.

Drain (see `ftproxy.serve.lifecycle`): the arbiter's SIGTERM/SIGINT create the drain file and wait the
drain delay; then ftproxy shuts the listening socket down (new connections are refused) and
Gunicorn stops gracefully: the workers finish in-flight requests within `graceful_timeout`
(= `--drain-timeout`), and what is left is killed. A second SIGTERM/SIGINT kills the workers at
once. SIGQUIT keeps Gunicorn's meaning (quick stop).
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
from types import FrameType
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.gthread import ThreadWorker

if TYPE_CHECKING:
    from ftproxy.serve.lifecycle import Drain
    from ftproxy.serve.plan import ServeOptions, ServePlan


def settings(chosen: ServePlan, options: ServeOptions) -> dict[str, Any]:
    """Gunicorn settings for a plan (pure, so the mapping is testable without a server)."""
    host = f"[{options.host}]" if ":" in options.host else options.host
    return {
        "bind": [f"{host}:{options.port}"],
        "worker_class": "ftproxy.serve.gunicorn.DrainingThreadWorker",  # gthread, see below
        "workers": chosen.workers,
        "threads": chosen.threads,
        # Each open stream holds one thread for its whole life, as with Granian's blocking
        # threads; connections beyond the threads wait in the kernel's backlog.
        "graceful_timeout": options.drain_timeout_s,
        "proc_name": "ftproxy",
        "accesslog": None,
        "errorlog": "-",
        # Gunicorn >= 25.1 opens a control socket at one shared default path
        # (~/.gunicorn/gunicorn.ctl): two instances on a machine would fight over it.
        "control_socket_disable": True,
        "child_exit": _forget_worker_gauges,
    }


def _forget_worker_gauges(arbiter: Any, worker: Any) -> None:
    from ftproxy.observe import metrics
    from ftproxy.serve import lifecycle

    drain = getattr(arbiter, "drain", None)
    if drain is not None and not drain.started and getattr(arbiter, "WORKERS", None) is not None:
        # Not stopping: the worker died (crash, OOM kill, kill -9). Gunicorn starts a new one;
        # log and count it as Granian's respawns are (lifecycle.worker_died), which also drops
        # its in-flight gauges.
        lifecycle.worker_died("a Gunicorn worker", worker.pid, None)
        return
    # A dead worker's in-flight gauges must not be summed into /metrics any more.
    metrics.mark_process_dead(worker.pid)


class DrainingThreadWorker(ThreadWorker):  # type: ignore[misc]
    """Gunicorn's gthread worker, tolerant of the listening socket being shut down for a drain."""

    def accept(self, *args: Any) -> None:
        try:
            super().accept(*args)
        except OSError as exc:
            # EINVAL: the arbiter shut the shared listening socket down (`_refuse_new_connections`)
            # before this worker saw its SIGTERM. Stop accepting and finish in-flight requests,
            # as the SIGTERM would have made it do, instead of crashing the worker.
            if exc.errno != errno.EINVAL:
                raise
            self.alive = False


class FtproxyGunicorn(BaseApplication):  # type: ignore[misc]
    """Gunicorn's programmatic API: settings from the plan, the app from the environment."""

    def __init__(self, options: dict[str, Any], drain: Drain) -> None:
        self._options = options
        self._drain = drain
        super().__init__()

    def load_config(self) -> None:
        known = self.cfg.settings
        for key, value in self._options.items():
            if key in known:  # e.g. control_socket_disable exists from Gunicorn 25.1 on
                self.cfg.set(key, value)

    def load(self) -> Any:
        # Runs in each worker after the fork (no preload), like Granian's factory target.
        from ftproxy.serve.lifecycle import worker_app

        return worker_app()

    def run(self) -> None:
        try:
            _DrainingArbiter(self, self._drain).run()
        except RuntimeError as exc:  # as BaseApplication.run: Gunicorn's start-up errors
            print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
            sys.exit(1)


class _DrainingArbiter(Arbiter):  # type: ignore[misc]
    """Gunicorn's arbiter with ftproxy's drain on SIGTERM/SIGINT (the main process only)."""

    def __init__(self, app: FtproxyGunicorn, drain: Drain) -> None:
        self.drain = drain
        super().__init__(app)

    def signal(self, sig: int, frame: FrameType | None) -> None:
        # The signal handler itself: Gunicorn queues the signal for its main loop. The drain file
        # is created here, at once, and a second signal kills the workers here, because the main
        # loop is busy waiting (the delay, or the graceful stop) and would only look later.
        if sig in (signal.SIGTERM, signal.SIGINT) and not self.drain.begin():
            for pid in list(self.WORKERS):
                with contextlib.suppress(ProcessLookupError):  # already gone
                    os.kill(pid, signal.SIGKILL)
        super().signal(sig, frame)

    def spawn_worker(self) -> int:
        arbiter = os.getpid()
        try:
            return int(super().spawn_worker())
        except SystemExit as leaving:
            if os.getpid() == arbiter:
                raise
            # A forked worker leaves with SystemExit from deep inside the arbiter's call stack,
            # i.e. through whatever ran `ftproxy serve`: the demo's simulator and temporary
            # config, the drain folder. Unwinding there would stop or delete what the arbiter
            # still uses, so the worker ends here. Gunicorn already ran its worker_exit hooks, and
            # a graceful stop already waited for the worker's in-flight requests.
            code = leaving.code
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 0 if code is None else 1)

    def handle_term(self) -> None:
        self.drain.wait_delay()  # load balancers see /ready fail meanwhile; cut short if forced
        raise StopIteration  # Gunicorn's graceful stop (`halt` -> `stop(graceful=True)`)

    # Gunicorn's SIGINT is a quick stop; ftproxy drains on SIGINT too, as with Granian.
    handle_int = handle_term

    def stop(self, graceful: bool = True) -> None:
        if self.drain.started and self.reexec_pid == self.master_pid == 0 and not self.systemd:
            self._refuse_new_connections()
        super().stop(graceful and not self.drain.forced)

    def _refuse_new_connections(self) -> None:
        # Gunicorn closes only its own copy of the listening socket; each worker keeps one open
        # until it exits, so the kernel would go on completing handshakes that nobody accepts
        # and clients would hang. shutdown() acts on the socket shared by all of them: new
        # connections are refused at once (Linux), as with Granian. Not done when the socket is
        # shared with a successor (USR2 upgrade) or owned by systemd, which serve on after us.
        for listener in self.LISTENERS:
            with contextlib.suppress(OSError):  # other systems may refuse shutdown() on a listener
                listener.sock.shutdown(socket.SHUT_RDWR)

    def halt(self, reason: str | None = None, exit_status: int = 0) -> None:
        super().halt(reason, 1 if self.drain.forced and exit_status == 0 else exit_status)


def serve_with_gunicorn(chosen: ServePlan, options: ServeOptions, drain: Drain) -> int:
    """Runs Gunicorn's arbiter until it stops; it leaves with SystemExit carrying the exit status.
    Forked workers never return here: they end in `_DrainingArbiter.spawn_worker`."""
    FtproxyGunicorn(settings(chosen, options), drain).run()
    return 0
