"""`ftproxy serve`: carry the plan out. Re-execute for the GIL if asked, choose where metrics are
counted (before anything imports prometheus_client), load and check the configuration once, import
what the workers import and apply the start-up guard, claim the port, then hand over to the
Granian or Gunicorn glue with a drain file for graceful stops.

The decision itself is pure and lives in `plan.py`.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

from ftproxy import runtime
from ftproxy.environment import (
    FTPROXY_BLOCKING_THREADS,
    FTPROXY_CONFIG,
    FTPROXY_GIL_REEXEC,
    PROMETHEUS_MULTIPROC_DIR,
)
from ftproxy.serve import lifecycle, ports
from ftproxy.serve.plan import (
    LaunchError,
    ServeOptions,
    ServePlan,
    banner,
    plan,
    reexec_argv,
    replan_after_imports,
    with_installed_server,
)


def switch_gil_if_asked(options: ServeOptions) -> None:
    """Re-executes this interpreter when --gil asks for the other GIL state. Returns otherwise.

    Called before anything else is started (the demo's simulator, the drain folder), because
    `os.execv` replaces the process and would orphan them.
    """
    chosen = plan(runtime.current(), options)
    if chosen.reexec_gil is None:
        os.environ.pop(FTPROXY_GIL_REEXEC, None)
        return
    if os.environ.get(FTPROXY_GIL_REEXEC):
        raise LaunchError(
            f"re-executed with -X gil={chosen.reexec_gil} but the GIL state still differs from --gil "
            f"{options.gil}; start the interpreter with -X gil={chosen.reexec_gil} yourself"
        )
    argv = reexec_argv(sys.executable, sys.orig_argv, chosen.reexec_gil)
    print(
        f"ftproxy: --gil {options.gil}: re-executing this interpreter with -X gil={chosen.reexec_gil} "
        "so the GIL state is fixed from start-up",
        file=sys.stderr,
        flush=True,
    )
    sys.stdout.flush()
    os.environ[FTPROXY_GIL_REEXEC] = "1"
    os.execv(sys.executable, argv)


SERVERS = ("granian", "gunicorn")


def installed_servers() -> frozenset[str]:
    """The servers this interpreter can import, found without importing them (Granian's import
    must come after the guard's "before" facts, and prometheus_client's choice)."""
    found = set()
    for name in SERVERS:
        try:
            if importlib.util.find_spec(name) is not None:
                found.add(name)
        except (ImportError, ValueError):  # ValueError: blocked (sys.modules[name] is None)
            pass
    return frozenset(found)


def decide(options: ServeOptions) -> ServePlan:
    """The plan for this interpreter, with a server it has installed (`with_installed_server`)."""
    return with_installed_server(
        plan(runtime.current(), options), options, installed_servers(), sys.executable
    )


def prepare(options: ServeOptions, *, check_config: bool = True) -> ServePlan:
    """Decides, loads the config once, imports what workers import, and applies the guard."""
    from ftproxy.config_env import load

    before = runtime.current()
    chosen = decide(options)
    if check_config:  # fail here, once, with a clear message, not in every worker
        load(options.config_path)
    # Import everything the workers will before the guard, the server included.
    import ftproxy.web.app  # noqa: F401

    if chosen.server == "granian":
        try:
            import granian.server  # noqa: F401
        except ImportError as exc:  # installed, but broken for this interpreter
            raise LaunchError(
                f"Granian is installed but cannot be imported ({exc}): run {sys.executable} -m pip "
                "install --force-reinstall granian, or serve with --server gunicorn"
            ) from None
    # Gunicorn is pure Python: importing it cannot switch the GIL on, before or after the guard.
    return replan_after_imports(before, runtime.current(), chosen, options)


def dry_run(options: ServeOptions, *, check_config: bool = True) -> int:
    """What `serve` would do, up to and including the start-up guard, without serving."""
    chosen = prepare(options, check_config=check_config)
    print(banner(runtime.current(), chosen, options, dry_run=True))
    return 0


def serve(options: ServeOptions) -> int:
    """Serves until stopped; returns the exit status (1 when a second signal cut the drain)."""
    switch_gil_if_asked(options)
    with lifecycle.private_drain_file() as drain_file:
        # Before `prepare` imports the app, and with it prometheus_client, which reads the choice
        # once at import. The folder goes with the drain file's when serving ends.
        share_metrics_between_workers(decide(options), options, drain_file.parent / "metrics")
        chosen = prepare(options)
        if not options.reuse_port:
            try:
                ports.check_free(options.host, options.port)
            except ports.PortBusy as exc:
                raise LaunchError(str(exc)) from None
        from ftproxy.config_env import ENVIRONMENT

        # The environment's service key: each worker reads the environment it inherits again.
        source = options.config_path
        os.environ[FTPROXY_CONFIG] = source if source == ENVIRONMENT else os.path.abspath(source)
        os.environ[FTPROXY_BLOCKING_THREADS] = str(chosen.threads)
        text = banner(runtime.current(), chosen, options, drain_file=str(drain_file))
        print(text, file=sys.stderr, flush=True)
        drain = lifecycle.Drain(drain_file, options.drain_delay_s, options.drain_timeout_s)
        if chosen.server == "gunicorn":
            from ftproxy.serve.gunicorn import serve_with_gunicorn

            return serve_with_gunicorn(chosen, options, drain)
        from ftproxy.serve.granian import serve_with_granian

        return serve_with_granian(chosen, options, drain)


def may_serve_with_processes(chosen: ServePlan, options: ServeOptions) -> bool:
    """Whether several worker processes may serve: the plan's own, or the Gunicorn processes the
    start-up guard falls back to (`replan_after_imports`) if importing the app switches the GIL on
    under --on-gil-reenabled fallback. Known only after that import, which is too late to choose
    where metrics are counted, so the fallback counts as possible."""
    if chosen.workers < 2:
        return False
    if chosen.mode == "processes":
        return True
    falls_back = options.on_gil_reenabled == "fallback" and options.server != "granian"
    return chosen.reexec_gil is None and falls_back


def share_metrics_between_workers(chosen: ServePlan, options: ServeOptions, folder: Path) -> str | None:
    """Exports PROMETHEUS_MULTIPROC_DIR=`folder` (created, emptied) when several worker processes
    may serve, so that each counts in files that a scrape of any of them sums (see
    ftproxy.observe.metrics). Returns the directory exported, or None.

    prometheus_client chooses memory or files once, when it is imported, from this variable: so
    this runs before anything imports it, and refuses to go on if something already did. An
    operator's own PROMETHEUS_MULTIPROC_DIR wins and is left as it is.
    """
    if os.environ.get(PROMETHEUS_MULTIPROC_DIR) or not may_serve_with_processes(chosen, options):
        return None
    if "prometheus_client" in sys.modules:
        raise LaunchError(
            f"prometheus_client was imported before {PROMETHEUS_MULTIPROC_DIR} was set, so each of the "
            f"{chosen.workers} worker processes would count metrics for itself and a scrape would see one "
            "of them; the launcher must set it before anything imports prometheus_client (or set "
            f"{PROMETHEUS_MULTIPROC_DIR} to an empty directory yourself before starting ftproxy)"
        )
    folder.mkdir(exist_ok=True)
    for stale in folder.glob("*.db"):  # a previous run's values would be summed in
        stale.unlink()
    directory = os.path.abspath(folder)
    os.environ[PROMETHEUS_MULTIPROC_DIR] = directory  # inherited by the workers, forked or spawned
    return directory
