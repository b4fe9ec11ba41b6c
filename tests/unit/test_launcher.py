"""The launcher's decisions (the GIL switch), for every interpreter, with injected facts; and the
drain sequence's parts, with fake servers."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ftproxy import environment, runtime
from ftproxy.runtime import RuntimeFacts
from ftproxy.serve import granian as serve_granian
from ftproxy.serve import launch, lifecycle
from ftproxy.serve import plan as serve_plan
from ftproxy.serve.plan import LaunchError, ServeOptions, ServePlan, plan, reexec_argv, replan_after_imports

OPTIONS = ServeOptions("config.json", "127.0.0.1", 3001, workers=2, threads=64)


def facts(free_threaded: bool, gil: bool, version: str = "3.14.0", asked: str = "") -> RuntimeFacts:
    """Interpreter facts; `asked` is "PYTHON_GIL=1", "-X gil=0", ... (what requested the GIL)."""
    requested = None if not asked else asked.endswith("1")
    return RuntimeFacts(version, "CPython", free_threaded, gil, "/usr/bin/python3.14t", requested, asked)


FT_OFF = facts(True, False)
FT_ENV_ON = facts(True, True, asked="PYTHON_GIL=1")
FT_X_ON = facts(True, True, asked="-X gil=1")
FT_IMPORT_ON = facts(True, True)  # nothing asked: an extension imported at start-up enabled it
GIL_313 = facts(False, True, "3.13.0")
GIL_311 = facts(False, True, "3.11.7")
GIL_312_ENV_OFF = facts(False, True, "3.12.4", asked="PYTHON_GIL=0")


# ---- plan: every branch of the decision table ----

# (facts, --gil, --server) -> (server, mode, re-exec with -X gil=...)
CHOSEN = [
    pytest.param(FT_OFF, "auto", "auto", ("granian", "threads", None), id="3.14t-gil-off"),
    pytest.param(FT_OFF, "off", "auto", ("granian", "threads", None), id="3.14t-gil-off--gil-off"),
    pytest.param(FT_OFF, "auto", "granian", ("granian", "threads", None), id="3.14t-gil-off--server-granian"),
    pytest.param(
        FT_OFF, "auto", "gunicorn", ("gunicorn", "processes", None), id="3.14t-gil-off--server-gunicorn"
    ),
    pytest.param(FT_OFF, "on", "auto", ("gunicorn", "processes", "1"), id="3.14t-gil-off--gil-on-reexecs"),
    pytest.param(
        FT_OFF, "on", "gunicorn", ("gunicorn", "processes", "1"), id="3.14t-gil-off--gil-on-gunicorn"
    ),
    pytest.param(FT_ENV_ON, "auto", "auto", ("gunicorn", "processes", None), id="3.14t-PYTHON_GIL=1"),
    pytest.param(FT_X_ON, "auto", "auto", ("gunicorn", "processes", None), id="3.14t-X-gil=1"),
    pytest.param(
        FT_ENV_ON, "on", "gunicorn", ("gunicorn", "processes", None), id="3.14t-PYTHON_GIL=1--gil-on"
    ),
    pytest.param(
        FT_ENV_ON, "off", "auto", ("granian", "threads", "0"), id="3.14t-PYTHON_GIL=1--gil-off-reexecs"
    ),
    pytest.param(FT_IMPORT_ON, "auto", "auto", ("gunicorn", "processes", None), id="3.14t-gil-on-by-import"),
    pytest.param(GIL_313, "auto", "auto", ("granian", "processes", None), id="3.13"),
    pytest.param(GIL_313, "on", "auto", ("granian", "processes", None), id="3.13--gil-on"),
    pytest.param(GIL_313, "auto", "granian", ("granian", "processes", None), id="3.13--server-granian"),
    pytest.param(GIL_313, "on", "gunicorn", ("gunicorn", "processes", None), id="3.13--server-gunicorn"),
    pytest.param(GIL_311, "auto", "auto", ("granian", "processes", None), id="3.11"),
    pytest.param(
        GIL_312_ENV_OFF, "auto", "auto", ("granian", "processes", None), id="3.12-PYTHON_GIL=0-ignored"
    ),
]


@pytest.mark.parametrize(("given", "gil", "server", "expected"), CHOSEN)
def test_plan_chooses_server_mode_and_reexec(
    given: RuntimeFacts, gil: str, server: str, expected: tuple[str, str, str | None]
) -> None:
    options = ServeOptions("c", "h", 1, workers=2, threads=64, gil=gil, server=server)  # type: ignore[arg-type]
    chosen = plan(given, options)
    assert (chosen.server, chosen.mode, chosen.reexec_gil) == expected
    assert (chosen.workers, chosen.threads) == (2, 64)  # the sizes are the operator's, on every path
    assert chosen.reason


# (facts, --gil, --server) -> a part of the refusal that names the problem or the way out
REFUSED = [
    pytest.param(GIL_313, "off", "auto", "--gil off needs a free-threaded", id="3.13--gil-off"),
    pytest.param(GIL_311, "off", "gunicorn", "python3.14t", id="3.11--gil-off-names-the-way-out"),
    pytest.param(
        FT_ENV_ON, "auto", "granian", "refuses to start with the GIL on", id="3.14t-PYTHON_GIL=1-granian"
    ),
    pytest.param(FT_X_ON, "on", "granian", "--server auto", id="3.14t-X-gil=1-granian-way-out"),
    pytest.param(FT_OFF, "on", "granian", "--server granian cannot serve", id="3.14t--gil-on-granian"),
]


@pytest.mark.parametrize(("given", "gil", "server", "message"), REFUSED)
def test_plan_refuses_what_cannot_work_and_says_why(
    given: RuntimeFacts, gil: str, server: str, message: str
) -> None:
    with pytest.raises(LaunchError, match=message):
        plan(given, ServeOptions("c", "h", 1, gil=gil, server=server))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (FT_ENV_ON, ["PYTHON_GIL=1", "Gunicorn"]),
        (FT_X_ON, ["-X gil=1"]),
        (FT_IMPORT_ON, ["extension imported at start-up"]),
        (GIL_312_ENV_OFF, ["PYTHON_GIL=0 is ignored"]),
    ],
)
def test_reason_names_what_asked_for_the_gil(given: RuntimeFacts, words: list[str]) -> None:
    reason = plan(given, OPTIONS).reason
    assert all(word in reason for word in words), reason


def test_reexec_is_said_in_the_reason() -> None:
    assert "re-executing with -X gil=1" in plan(FT_OFF, ServeOptions("c", "h", 1, gil="on")).reason


@pytest.mark.parametrize(
    "bad",
    [
        ServeOptions("c", "h", 1, workers=0),
        ServeOptions("c", "h", 1, threads=0),
        ServeOptions("c", "h", 1, drain_delay_s=-1),
        ServeOptions("c", "h", 1, drain_timeout_s=0),
        ServeOptions("c", "h", 1, gil="maybe"),  # type: ignore[arg-type]
        ServeOptions("c", "h", 1, server="uvicorn"),  # type: ignore[arg-type]
        ServeOptions("c", "h", 1, on_gil_reenabled="ignore"),  # type: ignore[arg-type]
    ],
)
def test_nonsense_options_are_refused(bad: ServeOptions) -> None:
    with pytest.raises(LaunchError):
        plan(GIL_313, bad)


# ---- the start-up guard: an import that switched the GIL back on ----


def test_guard_fails_by_default_and_names_the_way_out() -> None:
    chosen = plan(FT_OFF, OPTIONS)
    with pytest.raises(LaunchError, match="re-enabled the GIL") as raised:
        replan_after_imports(FT_OFF, FT_IMPORT_ON, chosen, OPTIONS)
    assert "PYTHONWARNINGS=always" in str(raised.value)
    assert "--on-gil-reenabled fallback" in str(raised.value)


def test_guard_falls_back_to_gunicorn_when_asked() -> None:
    options = ServeOptions("c", "h", 1, workers=2, threads=64, on_gil_reenabled="fallback")
    chosen = replan_after_imports(FT_OFF, FT_IMPORT_ON, plan(FT_OFF, options), options)
    assert (chosen.server, chosen.mode, chosen.workers, chosen.threads) == ("gunicorn", "processes", 2, 64)
    assert "re-enabled the GIL" in chosen.reason and "fallback" in chosen.reason


def test_guard_fallback_cannot_keep_a_forced_granian() -> None:
    options = ServeOptions("c", "h", 1, server="granian", on_gil_reenabled="fallback")
    with pytest.raises(LaunchError, match="--server granian"):
        replan_after_imports(FT_OFF, FT_IMPORT_ON, plan(FT_OFF, options), options)


@pytest.mark.parametrize(
    ("before", "after", "gil"),
    [
        pytest.param(FT_OFF, FT_OFF, "auto", id="still-off"),
        pytest.param(GIL_313, GIL_313, "auto", id="gil-build"),
        pytest.param(FT_ENV_ON, FT_ENV_ON, "auto", id="gil-was-on-already"),
        pytest.param(FT_OFF, FT_IMPORT_ON, "on", id="reexec-turns-it-on-anyway"),
    ],
)
def test_guard_leaves_other_cases_alone(before: RuntimeFacts, after: RuntimeFacts, gil: str) -> None:
    options = ServeOptions("c", "h", 1, gil=gil)  # type: ignore[arg-type]
    chosen = plan(before, options)
    assert replan_after_imports(before, after, chosen, options) == chosen


def test_import_guard_reads_the_live_gil_state(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "is_gil_enabled", lambda: True)
    monkeypatch.setattr(runtime, "is_free_threaded_build", lambda: True)
    with pytest.raises(LaunchError, match="re-enabled the GIL"):
        serve_plan.check_imports_kept_gil_off(FT_OFF)
    monkeypatch.setattr(runtime, "is_gil_enabled", lambda: False)
    serve_plan.check_imports_kept_gil_off(FT_OFF)  # still off: fine
    serve_plan.check_imports_kept_gil_off(GIL_313)  # GIL builds: nothing to check


# ---- what was requested: -X gil wins over PYTHON_GIL ----


@pytest.mark.parametrize(
    ("xoptions", "environ", "expected"),
    [
        ({}, {}, (None, "")),
        ({}, {"PYTHON_GIL": "1"}, (True, "PYTHON_GIL=1")),
        ({}, {"PYTHON_GIL": "0"}, (False, "PYTHON_GIL=0")),
        ({"gil": "0"}, {"PYTHON_GIL": "1"}, (False, "-X gil=0")),
        ({"gil": "1"}, {"PYTHON_GIL": "0"}, (True, "-X gil=1")),
        ({"gil": True}, {"PYTHON_GIL": "1"}, (True, "PYTHON_GIL=1")),  # bare -X gil: no value
        ({}, {"PYTHON_GIL": "yes"}, (None, "")),
    ],
)
def test_requested_gil(xoptions: dict[str, Any], environ: dict[str, str], expected: tuple[Any, str]) -> None:
    assert runtime.requested_gil(xoptions, environ) == expected


# ---- re-exec with -X gil ----


@pytest.mark.parametrize(
    ("orig", "gil", "expected"),
    [
        (["python", "-m", "ftproxy", "serve", "--gil", "on"], "1", ["-m", "ftproxy", "serve", "--gil", "on"]),
        (["/v/bin/python", "/v/bin/ftproxy", "serve"], "1", ["/v/bin/ftproxy", "serve"]),
        (["python", "-X", "gil=1", "-X", "dev", "-m", "ftproxy"], "0", ["-X", "dev", "-m", "ftproxy"]),
        (["python", "-Xgil=0", "-Im", "ftproxy", "serve"], "1", ["-Im", "ftproxy", "serve"]),
        (["python", "-W", "error", "-u", "-m", "ftproxy"], "1", ["-W", "error", "-u", "-m", "ftproxy"]),
    ],
)
def test_reexec_argv_keeps_the_command_line_and_sets_only_the_gil(
    orig: list[str], gil: str, expected: list[str]
) -> None:
    assert reexec_argv("/exe", orig, gil) == ["/exe", "-X", f"gil={gil}", *expected]


class Execed(Exception):
    pass


def test_gil_on_reexecs_a_free_threaded_interpreter_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, list[str]]] = []

    def fake_execv(path: str, argv: list[str]) -> None:
        calls.append((path, argv))
        raise Execed

    monkeypatch.setattr(runtime, "current", lambda: FT_OFF)
    monkeypatch.setattr(os, "execv", fake_execv)
    monkeypatch.setattr("sys.orig_argv", ["python3.14t", "-m", "ftproxy", "serve", "--gil", "on"])
    monkeypatch.setattr("sys.executable", "/opt/venv/bin/python")
    monkeypatch.delenv(environment.FTPROXY_GIL_REEXEC, raising=False)
    options = ServeOptions("c", "h", 1, gil="on")
    with pytest.raises(Execed):
        launch.switch_gil_if_asked(options)
    assert calls == [
        (
            "/opt/venv/bin/python",
            ["/opt/venv/bin/python", "-X", "gil=1", "-m", "ftproxy", "serve", "--gil", "on"],
        )
    ]
    # Started again, and the GIL is still off: a message, not a loop.
    assert os.environ[environment.FTPROXY_GIL_REEXEC] == "1"
    with pytest.raises(LaunchError, match="re-executed with -X gil=1"):
        launch.switch_gil_if_asked(options)
    assert len(calls) == 1


def test_no_reexec_when_the_gil_is_already_as_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "current", lambda: FT_ENV_ON)
    monkeypatch.setattr(os, "execv", lambda *args: pytest.fail("must not re-exec"))
    monkeypatch.setenv(environment.FTPROXY_GIL_REEXEC, "1")  # as after a successful re-exec
    launch.switch_gil_if_asked(ServeOptions("c", "h", 1, gil="on"))
    assert environment.FTPROXY_GIL_REEXEC not in os.environ  # not inherited by what it starts


# ---- where metrics are counted: chosen before anything imports prometheus_client ----


@pytest.mark.parametrize(
    ("chosen", "options", "expected"),
    [
        (ServePlan("granian", "processes", 2, 4, ""), ServeOptions("c", "h", 1), True),
        (ServePlan("gunicorn", "processes", 3, 4, ""), ServeOptions("c", "h", 1), True),
        (ServePlan("granian", "processes", 1, 4, ""), ServeOptions("c", "h", 1), False),
        (ServePlan("granian", "threads", 4, 4, ""), ServeOptions("c", "h", 1), False),
        # The start-up guard may fall back to Gunicorn processes: known only after the import.
        (
            ServePlan("granian", "threads", 4, 4, ""),
            ServeOptions("c", "h", 1, on_gil_reenabled="fallback"),
            True,
        ),
        (
            ServePlan("granian", "threads", 1, 4, ""),
            ServeOptions("c", "h", 1, on_gil_reenabled="fallback"),
            False,
        ),
        (
            ServePlan("granian", "threads", 4, 4, ""),
            ServeOptions("c", "h", 1, on_gil_reenabled="fallback", server="granian"),
            False,  # a forced Granian cannot fall back: the guard refuses instead
        ),
    ],
)
def test_metrics_are_shared_when_several_processes_may_serve(
    chosen: ServePlan, options: ServeOptions, expected: bool
) -> None:
    assert launch.may_serve_with_processes(chosen, options) is expected


def test_metrics_directory_is_left_alone_for_one_process_or_the_operators(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(environment.PROMETHEUS_MULTIPROC_DIR, raising=False)
    one = ServePlan("granian", "processes", 1, 4, "")
    assert launch.share_metrics_between_workers(one, ServeOptions("c", "h", 1), tmp_path / "m") is None
    assert environment.PROMETHEUS_MULTIPROC_DIR not in os.environ
    monkeypatch.setenv(
        environment.PROMETHEUS_MULTIPROC_DIR, str(tmp_path)
    )  # the operator's wins, kept as it is
    (tmp_path / "counter_1.db").write_bytes(b"")
    two = ServePlan("granian", "processes", 2, 4, "")
    assert launch.share_metrics_between_workers(two, ServeOptions("c", "h", 1), tmp_path / "m") is None
    assert (
        os.environ[environment.PROMETHEUS_MULTIPROC_DIR] == str(tmp_path)
        and (tmp_path / "counter_1.db").exists()
    )
    assert not (tmp_path / "m").exists()


def test_metrics_directory_is_refused_after_prometheus_client_was_imported(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import prometheus_client  # noqa: F401  (as a library imported by something earlier would)

    monkeypatch.delenv(environment.PROMETHEUS_MULTIPROC_DIR, raising=False)
    two = ServePlan("granian", "processes", 2, 4, "")
    with pytest.raises(LaunchError, match="prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR"):
        launch.share_metrics_between_workers(two, ServeOptions("c", "h", 1), tmp_path / "m")
    assert environment.PROMETHEUS_MULTIPROC_DIR not in os.environ and not (tmp_path / "m").exists()


# ---- what ops see: banner, dry run, info ----


@pytest.mark.parametrize(
    ("given", "words"),
    [
        (FT_OFF, ["free-threaded build: yes", "GIL enabled now:     no", "Granian WSGI, thread workers"]),
        (
            GIL_313,
            ["free-threaded build: no", "GIL enabled now:     yes", "Granian WSGI, process workers: 2"],
        ),
        (FT_ENV_ON, ["GIL requested by:    PYTHON_GIL=1", "Gunicorn gthread, process workers: 2 x 64"]),
    ],
)
def test_banner_states_build_gil_server_mode_and_reason(given: RuntimeFacts, words: list[str]) -> None:
    chosen = plan(given, OPTIONS)
    text = serve_plan.banner(given, chosen, OPTIONS, drain_file="/tmp/x/draining")
    assert all(word in text for word in words), text
    assert f"why:                 {chosen.reason}" in text
    assert "CPython 3." in text and "drain file:          /tmp/x/draining" in text
    assert text.startswith("ftproxy listening on http://127.0.0.1:3001")
    dry = serve_plan.banner(given, chosen, OPTIONS, dry_run=True)
    assert dry.startswith("ftproxy serve --dry-run: would listen on") and "drain file" not in dry


def test_what_if_covers_here_and_both_free_threaded_cases() -> None:
    answers = dict(serve_plan.what_if(OPTIONS))
    assert set(answers) == {"this interpreter", "python3.14t, GIL off", "python3.14t, PYTHON_GIL=1"}
    assert answers["python3.14t, GIL off"].startswith("Granian WSGI, thread workers in one process")
    assert answers["python3.14t, PYTHON_GIL=1"].startswith("Gunicorn gthread, process workers")


def test_what_if_reports_a_refusal_instead_of_raising() -> None:
    answers = dict(serve_plan.what_if(ServeOptions("c", "h", 1, server="granian")))
    assert answers["python3.14t, PYTHON_GIL=1"].startswith("refuses to start: --server granian")


# ---- drain: the file, the sequence, the Granian glue ----


def test_the_drain_watch_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "draining"
    watch = runtime.DrainWatch(str(path))
    watch.look()
    assert not watch.draining
    lifecycle.mark_draining(path)
    lifecycle.mark_draining(path)  # idempotent
    watch.look()
    assert watch.draining
    path.unlink()  # an operator's `rm` puts the instance back in rotation
    watch.look()
    assert not watch.draining


def test_the_drain_watch_thread_sees_the_file_come_and_go(tmp_path: Path) -> None:
    path = tmp_path / "draining"
    watch = runtime.DrainWatch(str(path), interval_s=0.01)
    watch.start()
    try:
        lifecycle.mark_draining(path)
        poll_until(lambda: watch.draining, "the watch sees the drain file")
        path.unlink()
        poll_until(lambda: not watch.draining, "the watch sees the drain file removed")
    finally:
        watch.stop()


def poll_until(condition: Callable[[], bool], what: str, deadline_s: float = 10.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"never happened within {deadline_s}s: {what}"
        time.sleep(0.005)  # polling interval; the deadline bounds the wait


def test_draining_is_the_process_watchs_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "draining"
    monkeypatch.setattr(runtime, "_process_watch", None)
    monkeypatch.delenv(environment.FTPROXY_DRAIN_FILE, raising=False)
    runtime.watch_drain()
    assert runtime._process_watch is None and not runtime.draining()  # no drain file: no watch
    lifecycle.mark_draining(path)
    monkeypatch.setenv(environment.FTPROXY_DRAIN_FILE, str(path))
    runtime.watch_drain()
    watch = runtime._process_watch
    assert watch is not None
    try:
        assert runtime.draining()  # its first look came before it was published: no 200 first
        # Read from the watch's state, not from the file: no stat() per GET /ready.
        watch.draining = False
        assert not runtime.draining()
        runtime.watch_drain()  # a second factory call (another thread worker): the same watch
        assert runtime._process_watch is watch
    finally:
        watch.stop()


def test_private_drain_file_is_exported_private_and_removed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(environment.FTPROXY_DRAIN_FILE, "/previous")
    with lifecycle.private_drain_file() as path:
        assert os.environ[environment.FTPROXY_DRAIN_FILE] == str(path)
        assert (path.parent.stat().st_mode & 0o777) == 0o700 and not path.exists()
        lifecycle.mark_draining(path)
    assert not path.parent.exists()
    assert os.environ[environment.FTPROXY_DRAIN_FILE] == "/previous"


def test_private_drain_file_survives_a_forked_child_leaving(monkeypatch: pytest.MonkeyPatch) -> None:
    # Gunicorn's workers are forked inside the block and unwind through it when they exit.
    real_pid = os.getpid()
    with lifecycle.private_drain_file() as path:
        monkeypatch.setattr(os, "getpid", lambda: real_pid + 1)
    assert path.parent.exists()
    monkeypatch.undo()
    lifecycle.remove_private_folder(path.parent)


def test_drain_first_signal_marks_second_forces(tmp_path: Path) -> None:
    drain = lifecycle.Drain(tmp_path / "draining", delay_s=3600)
    assert drain.begin() is True
    assert (tmp_path / "draining").exists() and not drain.forced
    assert drain.begin() is False
    assert drain.forced
    drain.wait_delay()  # cut short by the second signal: returns at once instead of in an hour


class FakeWorker:
    def __init__(self, killable: bool = True) -> None:
        self.killable = killable
        self.killed = False

    def kill(self) -> None:
        if not self.killable:
            raise NotImplementedError  # Granian's thread workers
        self.killed = True


class FakeGranian:
    def __init__(self, workers: list[FakeWorker]) -> None:
        self.wrks = workers
        self.interrupted = threading.Event()

    def signal_handler_interrupt(self, *args: Any) -> None:
        self.interrupted.set()


def stopper(tmp_path: Path, server: FakeGranian, threads_mode: bool = False) -> serve_granian.GranianStopper:
    return serve_granian.GranianStopper(server, lifecycle.Drain(tmp_path / "draining", 0), 30, threads_mode)


def test_granian_stopper_replaces_granians_handlers(tmp_path: Path) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    subject = stopper(tmp_path, FakeGranian([]))
    try:
        subject.install()
        assert signal.getsignal(signal.SIGTERM) == subject.on_signal
        assert signal.getsignal(signal.SIGINT) == subject.on_signal
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)


def test_granian_first_signal_drains_then_interrupts(tmp_path: Path) -> None:
    server = FakeGranian([FakeWorker()])
    subject = stopper(tmp_path, server)
    subject.on_signal(signal.SIGTERM, None)
    assert (tmp_path / "draining").exists()
    assert server.interrupted.wait(10), "Granian was never told to stop"
    assert not server.wrks[0].killed and not subject.drain.forced


def test_granian_second_signal_kills_process_workers(tmp_path: Path) -> None:
    server = FakeGranian([FakeWorker(), FakeWorker()])
    subject = stopper(tmp_path, server)
    subject.drain.delay_s = 3600  # still waiting for load balancers when the second signal comes
    subject.on_signal(signal.SIGTERM, None)
    subject.on_signal(signal.SIGTERM, None)
    assert all(w.killed for w in server.wrks) and server.interrupted.is_set() and subject.drain.forced


def test_granian_second_signal_ends_a_thread_workers_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exits: list[int] = []

    def fake_exit(status: int) -> None:
        exits.append(status)
        raise Execed

    monkeypatch.setattr(os, "_exit", fake_exit)
    folder = tmp_path / "private"
    folder.mkdir()
    server = FakeGranian([FakeWorker(killable=False)])
    subject = serve_granian.GranianStopper(server, lifecycle.Drain(folder / "draining", 3600), 30, True)
    subject.on_signal(signal.SIGTERM, None)
    with pytest.raises(Execed):
        subject.on_signal(signal.SIGTERM, None)
    assert exits == [1] and not folder.exists()  # the drain folder is cleaned up before _exit
    # The first signal's drain thread must not go on to its own exit later (it would end
    # whatever process runs this, e.g. the test runner, long after the fake _exit is gone).
    drain_threads = [t for t in threading.enumerate() if t.name == "ftproxy-drain"]
    for thread in drain_threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in drain_threads)
    assert not server.interrupted.is_set()


# ---- Gunicorn settings ----


def test_gunicorn_settings_follow_the_plan() -> None:
    from gunicorn.workers.gthread import ThreadWorker

    from ftproxy.serve import gunicorn as serve_gunicorn

    options = ServeOptions("c", "::1", 8080, workers=3, threads=16, server="gunicorn", drain_timeout_s=7)
    chosen = plan(GIL_313, options)
    settings = serve_gunicorn.settings(chosen, options)
    assert settings["bind"] == ["[::1]:8080"]
    assert (settings["workers"], settings["threads"], settings["graceful_timeout"]) == (3, 16, 7)
    app = serve_gunicorn.FtproxyGunicorn(settings, lifecycle.Drain(Path("/nonexistent"), 0))
    assert issubclass(app.cfg.worker_class, ThreadWorker)
    assert app.cfg.graceful_timeout == 7 and app.cfg.threads == 16


def test_drain_without_its_folder_still_stops(tmp_path: Path) -> None:
    drain = lifecycle.Drain(tmp_path / "gone" / "draining", delay_s=0)
    assert drain.begin() is True  # a message on stderr, no exception into the interrupted code


@pytest.mark.parametrize(
    ("threads", "max_connections", "fd_limit", "expected"),
    [
        (128, None, 1_048_576, serve_plan.DEFAULT_MAX_CONNECTIONS),  # far above the threads: slowloris
        (128, None, 1024, 1024 - 128 - serve_granian.FD_RESERVE),  # within the open-file limit
        (128, None, 300, 128),  # never below the threads, whatever the limit
        (128, 500, 1_048_576, 500),  # --max-connections
        (2048, None, 1_048_576, serve_plan.DEFAULT_MAX_CONNECTIONS),
    ],
)
def test_granian_connections_far_above_threads_within_the_fd_limit(
    threads: int, max_connections: int | None, fd_limit: int, expected: int
) -> None:
    assert serve_granian.granian_backpressure(threads, max_connections, fd_limit) == expected


# ---- sizes: defaults from the machine (issue 11, item 5) ----


@pytest.mark.parametrize("cpus", [1, 2, 16])
@pytest.mark.parametrize(
    ("facts_", "mode"), [(GIL_313, "processes"), (GIL_311, "processes"), (FT_OFF, "threads")]
)
def test_without_flags_one_worker_per_core_and_the_default_threads(
    facts_: RuntimeFacts, mode: str, cpus: int
) -> None:
    chosen = plan(facts_, ServeOptions("c", "h", 1), cpus=cpus)
    assert (chosen.mode, chosen.workers) == (mode, cpus)
    assert chosen.threads == max(128, 512 // cpus)  # 512 in all at least, 128 per worker at least


def test_a_free_threaded_build_with_the_gil_on_sizes_gunicorn_processes_to_the_cores() -> None:
    chosen = plan(FT_ENV_ON, ServeOptions("c", "h", 1), cpus=4)
    assert (chosen.server, chosen.mode, chosen.workers) == ("gunicorn", "processes", 4)


@pytest.mark.parametrize(("workers", "threads"), [(1, 8), (3, None), (None, 500)])
def test_flags_override_the_machine_defaults(workers: int | None, threads: int | None) -> None:
    chosen = plan(GIL_313, ServeOptions("c", "h", 1, workers=workers, threads=threads), cpus=8)
    assert chosen.workers == (workers or 8)
    assert chosen.threads == (threads or serve_plan.machine_defaults(workers or 8)[1])


def test_usable_cpus_follow_the_affinity_mask() -> None:
    assert serve_plan.usable_cpus() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (ServeOptions("c", "h", 1, header_timeout_s=0), "--header-timeout"),
        (
            ServeOptions("c", "h", 1, threads=64, max_connections=10),
            "--max-connections 10 is below --threads 64",
        ),
    ],
)
def test_protection_settings_are_checked(options: ServeOptions, problem: str) -> None:
    with pytest.raises(LaunchError, match=problem):
        plan(GIL_313, options, cpus=2)
