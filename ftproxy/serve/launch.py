"""`ftproxy serve`: carry the plan out. Re-execute for the GIL if asked, load and check the
configuration once, import what the workers import and apply the start-up guard, claim the port,
then hand over to the Granian or Gunicorn glue with a drain file for graceful stops.

The decision itself is pure and lives in `plan.py`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ftproxy import runtime
from ftproxy.serve import lifecycle, ports
from ftproxy.serve.plan import (
    REEXEC_ENV,
    LaunchError,
    ServeOptions,
    ServePlan,
    banner,
    plan,
    reexec_argv,
    replan_after_imports,
)


def switch_gil_if_asked(options: ServeOptions) -> None:
    """Re-executes this interpreter when --gil asks for the other GIL state. Returns otherwise.

    Called before anything else is started (the demo's simulator, the drain folder), because
    `os.execv` replaces the process and would orphan them.
    """
    chosen = plan(runtime.current(), options)
    if chosen.reexec_gil is None:
        os.environ.pop(REEXEC_ENV, None)
        return
    if os.environ.get(REEXEC_ENV):
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
    os.environ[REEXEC_ENV] = "1"
    os.execv(sys.executable, argv)


def prepare(options: ServeOptions, *, check_config: bool = True) -> ServePlan:
    """Decides, loads the config once, imports what workers import, and applies the guard."""
    from ftproxy.config import load_config

    before = runtime.current()
    chosen = plan(before, options)
    if check_config:  # fail here, once, with a clear message, not in every worker
        load_config(options.config_path)
    # Import everything the workers will before the guard, the server included.
    import ftproxy.web.app  # noqa: F401

    if chosen.server == "granian":
        import granian.server  # noqa: F401
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
    chosen = prepare(options)
    if not options.reuse_port:
        try:
            ports.check_free(options.host, options.port)
        except ports.PortBusy as exc:
            raise LaunchError(str(exc)) from None
    from ftproxy.web.app import BLOCKING_THREADS_ENV, CONFIG_ENV  # after the guard's "before" facts

    os.environ[CONFIG_ENV] = os.path.abspath(options.config_path)
    os.environ[BLOCKING_THREADS_ENV] = str(chosen.threads)
    with lifecycle.private_drain_file() as drain_file:
        if chosen.mode == "processes" and chosen.workers > 1:
            _sum_metrics_over_workers(drain_file.parent / "metrics")
        text = banner(runtime.current(), chosen, options, drain_file=str(drain_file))
        print(text, file=sys.stderr, flush=True)
        drain = lifecycle.Drain(drain_file, options.drain_delay_s)
        if chosen.server == "gunicorn":
            from ftproxy.serve.gunicorn import serve_with_gunicorn

            return serve_with_gunicorn(chosen, options, drain)
        from ftproxy.serve.granian import serve_with_granian

        return serve_with_granian(chosen, options, drain)


def _sum_metrics_over_workers(folder: Path) -> None:
    """Each worker process sees a share of the requests: their metrics are kept in files and
    summed at scrape time (see ftproxy.observe.metrics). Must run before the workers start."""
    from ftproxy.observe import metrics

    if metrics.multiprocess_directory() is None:  # an operator's PROMETHEUS_MULTIPROC_DIR wins
        metrics.prepare_multiprocess(folder)
