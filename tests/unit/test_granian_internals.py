"""Granian's internals that ftproxy relies on (`ftproxy/serve/granian_internals.py`), checked on the
installed Granian with its real classes: each test fails on a Granian release that changed one of
them, so respawn counting, the forced stop or the log filter cannot break silently. Passing here
is what allows raising the `granian<…` bound in pyproject.toml."""

from __future__ import annotations

import inspect
import logging
import os
import threading
import time
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from granian import Granian, __version__
from granian import log as granian_log
from granian.server import common, mp, mt
from packaging.requirements import Requirement

from ftproxy.serve import granian_internals

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 30.0  # bounds every wait on a worker; a passing run needs milliseconds


def source(function: object) -> str:
    return inspect.getsource(function)  # type: ignore[arg-type]


def test_the_installed_granian_is_within_the_checked_bound() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (granian,) = [Requirement(d) for d in project["dependencies"] if d.startswith("granian")]
    assert any(s.operator == "<" for s in granian.specifier), "Granian needs an upper bound"
    assert granian.specifier.contains(__version__), f"Granian {__version__} is outside {granian.specifier}"


# ---- counting a crashed worker ----


def test_the_serve_loop_hands_crashed_workers_to_the_respawn_method() -> None:
    parameters = list(inspect.signature(common.AbstractServer._respawn_workers).parameters)
    assert parameters == ["self", "workers", "spawn_target", "target_loader", "delay"]
    assert Granian in (mp.MPServer, mt.MTServer)
    for server in (mp.MPServer, mt.MTServer):
        assert server._respawn_workers is common.AbstractServer._respawn_workers  # not overridden
    loop = source(common.AbstractServer._serve_loop)
    assert "workers = list(self.interrupt_children)" in loop
    assert "self._respawn_workers(workers, spawn_target, target_loader)" in loop
    # A worker that exits unasked is what lands in interrupt_children, by its index.
    for worker in (common.AbstractWorker, mt.WorkerThread):
        watcher = source(worker._watcher)
        assert "if not self.interrupt_by_parent:" in watcher
        assert "self.parent.interrupt_children.append(self.idx)" in watcher


def test_the_server_keeps_its_workers_in_wrks_by_index() -> None:
    assert "self.wrks" in source(common.AbstractServer.__init__)
    assert "self.wrks.append(wrk)" in source(common.AbstractServer._spawn_workers)
    respawn = source(common.AbstractServer._respawn_workers)
    assert "old_wrk = self.wrks.pop(idx)" in respawn and "self.wrks.insert(idx, wrk)" in respawn


def test_a_crashed_process_worker_is_reported_with_its_pid_and_exit_code() -> None:
    worker = mp.WorkerProcess(parent=None, idx=1, target=os._exit, args=(3,))
    worker.inner.start()  # not worker.start(): its watcher thread would report to a parent
    worker.join(DEADLINE_S)
    server = SimpleNamespace(wrks=[None, worker])
    assert granian_internals.crashed_worker(server, 1) == ("worker-2", worker.inner.pid, 3)
    assert isinstance(worker._id(), int)
    assert granian_internals.crashed_worker(server, 2) is None  # not a worker of this server


def test_a_live_thread_worker_is_not_a_crash_and_cannot_be_killed() -> None:
    release = threading.Event()
    worker = mt.WorkerThread(parent=None, idx=0, target=release.wait, args=(DEADLINE_S,), sig=None)
    worker.inner.start()
    try:
        server = SimpleNamespace(wrks=[worker])
        assert granian_internals.crashed_worker(server, 0) is None  # a reload's respawn, say
        assert worker._id() == worker.inner.native_id and worker._id() is not None
        assert granian_internals.kill_workers(server) is False  # thread workers: end the process
    finally:
        release.set()
        worker.join(DEADLINE_S)
    # Ended (unasked, as far as Granian knows): a crash with a thread id and no exit code.
    assert granian_internals.crashed_worker(server, 0) == ("worker-1", worker.inner.native_id, None)


def test_process_workers_are_killed_at_once() -> None:
    worker = mp.WorkerProcess(parent=None, idx=0, target=time.sleep, args=(DEADLINE_S,))
    worker.inner.start()
    try:
        assert granian_internals.kill_workers(SimpleNamespace(wrks=[worker])) is True
        worker.join(DEADLINE_S)
        assert worker.inner.exitcode == -9 and worker.interrupt_by_parent  # not counted as a crash
    finally:
        if worker.inner.is_alive():
            worker.inner.kill()
            worker.join(DEADLINE_S)


# ---- stopping: Granian's handlers, then ours; its graceful interrupt ----


def test_startup_hooks_run_after_granian_installed_its_signal_handlers() -> None:
    startup = source(common.AbstractServer.startup)
    installed = startup.index("set_main_signals(self.signal_handler_interrupt")
    assert installed < startup.index("self._call_hooks(self.hooks_startup)")
    assert "self.hooks_startup.append(hook)" in source(common.AbstractServer.on_startup)


def test_interrupt_is_granians_graceful_stop() -> None:
    parameters = inspect.signature(common.AbstractServer.signal_handler_interrupt).parameters
    assert [p.kind for p in parameters.values()][1:] == [
        inspect.Parameter.VAR_POSITIONAL,
        inspect.Parameter.VAR_KEYWORD,
    ]
    server = object.__new__(Granian)  # only the two attributes the handler touches
    server.interrupt_signal = False
    server.main_loop_interrupt = threading.Event()
    granian_internals.interrupt(server)
    assert server.interrupt_signal and server.main_loop_interrupt.is_set()
    assert "if self.interrupt_signal:\n                break" in source(common.AbstractServer._serve_loop)


# ---- the thread warning ----


def test_granians_thread_warning_is_the_one_filtered(caplog: pytest.LogCaptureFixture) -> None:
    warning = source(mp.MPServer.serve)
    # Granian's own threshold: more than 2 x cores + 1 blocking threads warns, with this text.
    assert "self.blocking_threads > (multiprocessing.cpu_count() * 2 + 1)" in warning
    assert f"f'{granian_internals.THREAD_WARNING_PREFIX} {{self.blocking_threads}} Python threads" in warning
    assert granian_log.logger.name == granian_internals.GRANIAN_LOGGER
    logger = logging.getLogger(granian_internals.GRANIAN_LOGGER)
    before = list(logger.filters)
    try:
        granian_internals.quiet_thread_warning()
        logger.warning("Configuration allows spawning up to 128 Python threads, which seems quite high")
        logger.warning("another warning")
    finally:
        logger.filters[:] = before
    messages = [r.getMessage() for r in caplog.records if r.name == granian_internals.GRANIAN_LOGGER]
    assert messages == ["another warning"]
