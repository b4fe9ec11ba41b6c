"""Every use ftproxy makes of Granian beyond its public surface, in one place.

Granian's public surface for a program that runs it is `granian.Granian` (the server: its
constructor's settings and `serve()`), its `on_startup` / `on_reload` / `on_shutdown` hooks,
`granian.constants` and `granian.http`. `serve/granian.py` uses only those, and this module
for the three things they cannot do:

- **Counting a crashed worker.** No hook reports a worker's unexpected exit, so the server class
  overrides `AbstractServer._respawn_workers(self, workers, spawn_target, target_loader,
  delay=0)`, which `AbstractServer._serve_loop` calls with the indexes of the workers whose
  watcher saw them exit unasked (`interrupt_children`); a reload, a lifetime or an RSS respawn
  calls it too, with workers still alive. Read there: `server.wrks` (the workers, a list indexed
  by worker index), `worker.is_alive()`, `worker._id()` (a process worker's PID, a thread
  worker's native thread id) and `worker.inner` (the `multiprocessing.Process`, whose
  `exitcode` says how it ended, or the `threading.Thread`).
- **Stopping at once** (a second SIGTERM): `worker.kill()` on each of `server.wrks` (a process
  worker's `Process.kill()`; a thread worker inherits `AbstractWorker.kill`, which raises
  `NotImplementedError`), and `server.signal_handler_interrupt()`, the handler Granian installs
  for SIGINT/SIGTERM in `AbstractServer.startup` (undocumented, but not underscored). Ours
  replace Granian's handlers from an `on_startup` hook, relying on `startup` running the hooks
  after it installed its handlers, and call it to stop gracefully.
- **Silencing one warning**: `MPServer.serve` logs "Configuration allows spawning up to N Python
  threads …" on the `_granian` logger; only its text identifies it.

Checked against Granian 2.8.0 and 2.8.9 (the newest release on 2026-12-02): all of the above is
the same in both. pyproject.toml keeps Granian below 2.9 for that reason, and
`tests/unit/test_granian_internals.py` fails on an installed Granian where any of it changed;
raise the bound only with that test passing on the new version (and this list updated).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

# Called in Granian's main process for each worker that exited without being asked to, before
# it is replaced: (its name as Granian logs it, its PID or thread id, its exit code or None).
CrashReport = Callable[[str, int | None, int | None], None]

GRANIAN_LOGGER = "_granian"
THREAD_WARNING_PREFIX = "Configuration allows spawning up to"


def respawning_server_class(on_crash: CrashReport) -> type[Any]:
    """`granian.Granian`, reporting each worker it replaces after a crash to `on_crash`."""
    from granian import Granian

    class RespawningServer(Granian):  # type: ignore[misc, valid-type]
        def _respawn_workers(self, workers: list[int], *args: Any, **kwargs: Any) -> Any:
            for idx in workers:
                if (report := crashed_worker(self, idx)) is not None:
                    on_crash(*report)
            return super()._respawn_workers(workers, *args, **kwargs)

    return RespawningServer


def crashed_worker(server: Any, idx: int) -> tuple[str, int | None, int | None] | None:
    """What to report about worker `idx` about to be respawned, or None when it is still alive
    (a reload, a lifetime or an RSS respawn, not a crash)."""
    worker = server.wrks[idx] if idx < len(server.wrks) else None
    if worker is None or worker.is_alive():
        return None
    return f"worker-{idx + 1}", worker._id(), getattr(worker.inner, "exitcode", None)


def kill_workers(server: Any) -> bool:
    """Kills every worker at once. False when they are threads: Granian cannot kill one, and
    only ending the whole process ends them."""
    try:
        for worker in list(server.wrks):
            worker.kill()
    except NotImplementedError:
        return False
    return True


def interrupt(server: Any) -> None:
    """Granian's own graceful stop: stop accepting, tell the workers to stop, let in-flight
    requests finish (process workers: at most `workers_kill_timeout`)."""
    server.signal_handler_interrupt()


class ThreadWarningFilter(logging.Filter):
    """Drops Granian's warning about more than 2 x cores + 1 Python threads: right for a
    CPU-bound app, not for a gateway whose threads wait on SAP AI Core with the GIL released (see
    `plan.machine_defaults`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(THREAD_WARNING_PREFIX)


def quiet_thread_warning() -> None:
    logging.getLogger(GRANIAN_LOGGER).addFilter(ThreadWarningFilter())
