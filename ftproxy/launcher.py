"""`ftproxy serve`: decide how to serve on this interpreter, say so, and hand over to Granian.

The decision is a pure function of the interpreter's facts (`plan`), so every branch is tested
by injecting facts instead of needing each interpreter:

- free-threaded build, GIL off: Granian's thread workers in one process; every blocking thread
  runs Python in parallel. This is the configuration ftproxy exists for.
- GIL build: Granian's process workers, each with its own pool of blocking threads.
- free-threaded build with the GIL on: Granian's free-threaded build refuses to start
  (SPEC §2), so ftproxy refuses too, with the reason and the way out.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from ftproxy import runtime
from ftproxy.runtime import RuntimeFacts

DEFAULT_THREADS = 128


class LaunchError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ServeOptions:
    config_path: str
    host: str
    port: int
    workers: int = 1
    threads: int = DEFAULT_THREADS


@dataclass(frozen=True, slots=True)
class ServePlan:
    mode: str  # "threads" (one process) or "processes"
    workers: int
    threads: int
    reason: str


def plan(facts: RuntimeFacts, options: ServeOptions) -> ServePlan:
    if options.workers < 1 or options.threads < 1:
        raise LaunchError("--workers and --threads must be at least 1")
    if facts.free_threaded_build and facts.gil_enabled:
        raise LaunchError(
            "this is a free-threaded Python build but the GIL is enabled (PYTHON_GIL=1, -X gil=1, or an "
            "imported extension re-enabled it); Granian's free-threaded build cannot serve like that. "
            "Unset PYTHON_GIL, or run ftproxy with a GIL build of Python (e.g. python3.13)."
        )
    if facts.free_threaded_build:
        return ServePlan(
            "threads",
            options.workers,
            options.threads,
            "free-threaded build, GIL off: Granian thread workers share one process and run in parallel",
        )
    return ServePlan(
        "processes",
        options.workers,
        options.threads,
        "GIL build: Granian process workers, each with its own blocking threads",
    )


def banner(facts: RuntimeFacts, serve_plan: ServePlan, options: ServeOptions) -> str:
    yes_no = {True: "yes", False: "no"}
    return "\n".join(
        [
            f"ftproxy listening on http://{options.host}:{options.port}",
            f"  interpreter:         {facts.implementation} {facts.version} ({facts.executable})",
            f"  free-threaded build: {yes_no[facts.free_threaded_build]}",
            f"  GIL enabled now:     {yes_no[facts.gil_enabled]}",
            f"  serving with:        Granian WSGI, {serve_plan.workers} worker(s) "
            f"({serve_plan.mode}) x {serve_plan.threads} threads",
            f"  why:                 {serve_plan.reason}",
            f"  config:              {options.config_path}",
        ]
    )


def check_imports_kept_gil_off(before: RuntimeFacts) -> None:
    """Fails loudly when importing the app switched the GIL back on (SPEC §2)."""
    if before.free_threaded_build and not before.gil_enabled and runtime.is_gil_enabled():
        raise LaunchError(
            "importing ftproxy re-enabled the GIL (a C extension without free-threading support was loaded); "
            "refusing to run half-serialised. Run with PYTHONWARNINGS=always to see which module did it."
        )


def serve(options: ServeOptions) -> None:
    from granian.constants import Interfaces
    from granian.server import Server

    from ftproxy.app import CONFIG_ENV
    from ftproxy.config import load_config

    facts = runtime.current()
    serve_plan = plan(facts, options)
    load_config(options.config_path)  # fail here, once, with a clear message, not in every worker
    import ftproxy.app  # noqa: F401  (import everything the workers will, before the check)

    check_imports_kept_gil_off(facts)
    os.environ[CONFIG_ENV] = os.path.abspath(options.config_path)
    print(banner(runtime.current(), serve_plan, options), file=sys.stderr, flush=True)
    server = Server(
        "ftproxy.app:from_environment",
        address=options.host,
        port=options.port,
        interface=Interfaces.WSGI,
        workers=serve_plan.workers,
        blocking_threads=serve_plan.threads,
        factory=True,
        log_access=False,
    )
    server.serve()
