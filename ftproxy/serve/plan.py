"""How to serve on this interpreter: a pure function of its facts and the options.

The decision (`plan`, then `replan_after_imports`) needs no interpreter of each kind: every
branch is tested by injecting facts. `--gil auto|on|off` and `--server auto|granian|gunicorn`
feed it:

| build          | GIL wanted                  | server (auto)                          |
|----------------|-----------------------------|----------------------------------------|
| free-threaded  | off (auto with GIL off, off)| Granian, thread workers in one process |
| free-threaded  | on (PYTHON_GIL=1, -X gil=1, | Gunicorn gthread: process workers x    |
|                | --gil on)                   | threads (Granian's free-threaded build |
|                |                             | refuses to start with the GIL on)      |
| GIL (3.11-3.14)| on (auto, on); off = error  | Granian, process workers x threads     |

When `--gil` asks for the other state than the interpreter is in, `launch.switch_gil_if_asked`
re-executes the same command line with `-X gil=1` (or `-X gil=0`) before doing anything else.
After importing what the workers import, `replan_after_imports` checks that no extension
switched the GIL back on: by default that is fatal, with `--on-gil-reenabled fallback` ftproxy
serves with Gunicorn.

The side effects (re-exec, the drain file, the servers) are in `launch.py`; the servers' glue
in `granian.py` and `gunicorn.py`, side by side; the drain sequence in `lifecycle.py`.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from ftproxy import runtime
from ftproxy.runtime import RuntimeFacts

# Threads per worker: at least this many, and at least MIN_TOTAL_THREADS over all workers.
DEFAULT_THREADS = 128
MIN_TOTAL_THREADS = 512
DEFAULT_DRAIN_TIMEOUT_S = 30
# A client must send its request line and headers within this time (Granian's default is 30 s,
# which lets a trickle of header bytes hold a connection for half a minute: slowloris).
DEFAULT_HEADER_TIMEOUT_S = 10.0
# Connections each worker takes on at once (Granian's backpressure), before the fd limit: idle
# and trickling connections cost a few kB in Rust, not a thread, so this is well above the threads.
DEFAULT_MAX_CONNECTIONS = 4096

GilChoice = Literal["auto", "on", "off"]
ServerChoice = Literal["auto", "granian", "gunicorn"]
OnGilReenabled = Literal["fail", "fallback"]
GIL_CHOICES: tuple[GilChoice, ...] = ("auto", "on", "off")
SERVER_CHOICES: tuple[ServerChoice, ...] = ("auto", "granian", "gunicorn")
ON_GIL_REENABLED_CHOICES: tuple[OnGilReenabled, ...] = ("fail", "fallback")

SERVER_LABELS = {"granian": "Granian WSGI", "gunicorn": "Gunicorn gthread"}


class LaunchError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class ServeOptions:
    config_path: str
    host: str
    port: int
    workers: int | None = None  # None: sized to the machine (`machine_defaults`)
    threads: int | None = None
    gil: GilChoice = "auto"
    server: ServerChoice = "auto"
    on_gil_reenabled: OnGilReenabled = "fail"
    drain_delay_s: float = 0.0
    drain_timeout_s: int = DEFAULT_DRAIN_TIMEOUT_S
    reuse_port: bool = False  # share a port another process listens on (otherwise: refuse to start)
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    max_connections: int | None = None  # per worker; None: DEFAULT_MAX_CONNECTIONS within the fd limit


@dataclass(frozen=True, slots=True)
class ServePlan:
    server: str  # "granian" or "gunicorn"
    mode: str  # "threads" (thread workers, one process) or "processes" (process workers)
    workers: int
    threads: int
    reason: str
    # "1" or "0": re-execute this interpreter with `-X gil=<value>` before serving.
    reexec_gil: str | None = None

    def describe(self) -> str:
        workers = "thread workers in one process" if self.mode == "threads" else "process workers"
        return f"{SERVER_LABELS[self.server]}, {workers}: {self.workers} x {self.threads} threads"


# ---- the pure decision ----


def usable_cpus() -> int:
    """Cores this process may run on (its affinity mask, e.g. under taskset or a cpuset)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def machine_defaults(cpus: int) -> tuple[int, int]:
    """(workers, threads per worker) for `ftproxy serve` without --workers/--threads.

    One worker per usable core: process workers on a GIL build (one GIL each), thread workers in
    one process on a free-threaded build. Threads per worker are sized by what they wait on, not
    by cores: each in-flight request, and each open stream for its whole life, holds one, and
    nearly all of that time is spent waiting on SAP AI Core (or on a client's request body) with
    the GIL released. Granian starts them on demand and retires idle ones, so only the load's own
    concurrency ever runs, and a thread that waits does not take part in a GIL convoy. At least
    128 per worker and 512 in all: a small machine still holds 512 streams or slow uploads (a
    body cannot be read with a timeout under Granian, see docs/operations.md) before a client waits.
    """
    workers = max(1, cpus)
    return workers, max(DEFAULT_THREADS, -(-MIN_TOTAL_THREADS // workers))


def resolve_sizes(options: ServeOptions, cpus: int) -> tuple[int, int]:
    """The options' sizes; those left open are the machine's (threads sized to the workers)."""
    workers = options.workers if options.workers is not None else machine_defaults(cpus)[0]
    threads = options.threads if options.threads is not None else machine_defaults(workers)[1]
    return workers, threads


def plan(facts: RuntimeFacts, options: ServeOptions, cpus: int | None = None) -> ServePlan:
    """How to serve: a pure function of the interpreter's facts, the options and the usable cores
    (see the table); sizes the options leave open are the machine's (`machine_defaults`)."""
    workers, threads = resolve_sizes(options, usable_cpus() if cpus is None else cpus)
    options = replace(options, workers=workers, threads=threads)
    _check_options(options)
    if not facts.free_threaded_build:
        return _plan_gil_build(facts, options)
    wants_gil = {"auto": facts.gil_enabled, "on": True, "off": False}[options.gil]
    reexec = None if wants_gil == facts.gil_enabled else ("1" if wants_gil else "0")
    why_gil = _why_gil(facts, options, wants_gil)
    then = f"; re-executing with -X gil={reexec} first" if reexec else ""
    if not wants_gil:
        if options.server == "gunicorn":
            return _gunicorn(options, f"{why_gil}, --server gunicorn: Gunicorn gthread workers{then}", reexec)
        return ServePlan(
            "granian",
            "threads",
            *_sizes(options),
            f"{why_gil}: Granian thread workers share one process and run Python in parallel{then}",
            reexec,
        )
    if options.server == "granian":
        raise LaunchError(
            f"--server granian cannot serve here: {why_gil}, and Granian's free-threaded build refuses "
            "to start with the GIL on. Use --server auto (Gunicorn), or turn the GIL off: --gil off, "
            "or unset PYTHON_GIL / drop -X gil=1."
        )
    return _gunicorn(
        options,
        f"{why_gil}: Granian's free-threaded build refuses to start with the GIL on, so Gunicorn "
        f"gthread workers serve the same WSGI app{then}",
        reexec,
    )


def replan_after_imports(
    before: RuntimeFacts, after: RuntimeFacts, chosen: ServePlan, options: ServeOptions
) -> ServePlan:
    """The start-up guard: importing the app (and its C extensions) must not switch the GIL on.

    An extension that does not declare free-threading support re-enables the GIL when imported
    (SPEC §2). Granian would then refuse to start, and every thread would run serialised.
    """
    options = replace(options, workers=chosen.workers, threads=chosen.threads)  # the sizes decided
    # Only a plan that serves with the GIL as it is, off, can be spoilt: a re-exec to -X gil=1
    # turns it on anyway, and -X gil=0 keeps it off whatever is imported.
    if not (before.gil_disabled and chosen.reexec_gil is None and after.gil_enabled):
        return chosen
    found = (
        "importing ftproxy re-enabled the GIL (a C extension without free-threading support was "
        "loaded; run with PYTHONWARNINGS=always to see which module did it)"
    )
    if options.on_gil_reenabled == "fail":
        raise LaunchError(
            f"{found}; refusing to run half-serialised. Remove or replace that module, start with "
            "--on-gil-reenabled fallback to serve with Gunicorn and the GIL on, or force the GIL "
            "off with PYTHON_GIL=0 (only if that module is known to be thread-safe)."
        )
    if options.server == "granian":
        raise LaunchError(
            f"{found}; --server granian cannot serve with the GIL on (Granian's free-threaded build "
            "refuses to). Use --server auto to fall back to Gunicorn."
        )
    return _gunicorn(options, f"{found}; --on-gil-reenabled fallback: Gunicorn gthread workers", None)


def with_installed_server(
    chosen: ServePlan, options: ServeOptions, installed: Collection[str], executable: str
) -> ServePlan:
    """The plan when its server is installed for this interpreter; Gunicorn's, saying why, when
    Granian is missing under --server auto (e.g. an interpreter Granian has no wheel for); else a
    LaunchError naming the fix. `installed`: the server modules this interpreter can import."""
    if chosen.server in installed:
        return chosen
    install = f"{executable} -m pip install {chosen.server}"
    if chosen.server == "granian" and options.server == "auto" and "gunicorn" in installed:
        return _gunicorn(
            replace(options, workers=chosen.workers, threads=chosen.threads),
            f"{chosen.reason.split(':')[0]}; Granian is not installed for this interpreter ({install} "
            "to serve with it): Gunicorn gthread workers serve the same WSGI app instead",
            chosen.reexec_gil,
        )
    instead = ", or --server auto to serve with Gunicorn" if "gunicorn" in installed else ""
    raise LaunchError(
        f"{SERVER_LABELS[chosen.server]} is not installed for this interpreter ({executable}): "
        f"run {install}{instead if chosen.server == 'granian' else ''}"
    )


def check_imports_kept_gil_off(before: RuntimeFacts) -> None:
    """Fails loudly when importing the app switched the GIL back on (the default policy)."""
    options = ServeOptions("", "", 1)
    replan_after_imports(before, runtime.current(), plan(before, options), options)


def what_if(options: ServeOptions) -> list[tuple[str, str]]:
    """What `serve` would choose here and on a free-threaded 3.14t, GIL off and PYTHON_GIL=1."""
    here = runtime.current()
    nogil = RuntimeFacts("3.14", "CPython", True, False, "python3.14t")
    gil_env = RuntimeFacts("3.14", "CPython", True, True, "python3.14t", True, "PYTHON_GIL=1")
    cases = [
        ("this interpreter", here),
        ("python3.14t, GIL off", nogil),
        ("python3.14t, PYTHON_GIL=1", gil_env),
    ]
    answers = []
    for label, facts in cases:
        try:
            chosen = plan(facts, options)
            answers.append((label, f"{chosen.describe()} ({chosen.reason})"))
        except LaunchError as exc:
            answers.append((label, f"refuses to start: {exc}"))
    return answers


def reexec_argv(executable: str, orig_argv: Sequence[str], gil: str) -> list[str]:
    """The same command line run by `executable` with `-X gil=<gil>` instead of any other -X gil.

    `orig_argv` is `sys.orig_argv`: the interpreter, its options, then the script or -m/-c and
    their arguments. The new option goes first, so combined flags such as `-Im` keep their
    argument next to them.
    """
    options: list[str] = []
    i = 1
    while i < len(orig_argv):
        arg = orig_argv[i]
        if arg == "-X" and i + 1 < len(orig_argv):
            if not orig_argv[i + 1].startswith("gil"):
                options += [arg, orig_argv[i + 1]]
            i += 2
        elif arg.startswith("-X"):
            if not arg[2:].startswith("gil"):
                options.append(arg)
            i += 1
        elif arg in ("-W", "--check-hash-based-pycs") and i + 1 < len(orig_argv):
            options += [arg, orig_argv[i + 1]]
            i += 2
        elif arg.startswith("-") and arg not in ("-", "-m", "-c") and not _takes_argument(arg):
            options.append(arg)
            i += 1
        else:
            break
    return [executable, "-X", f"gil={gil}", *options, *orig_argv[i:]]


def banner(
    facts: RuntimeFacts,
    serve_plan: ServePlan,
    options: ServeOptions,
    *,
    drain_file: str | None = None,
    dry_run: bool = False,
) -> str:
    yes_no = {True: "yes", False: "no"}
    address = f"http://{options.host}:{options.port}"
    listening = f"would listen on {address}" if dry_run else f"listening on {address}"
    asked = facts.gil_request_source or "nothing (the build's default)"
    if options.gil != "auto":
        asked += f"; --gil {options.gil}"
    lines = [
        f"ftproxy{' serve --dry-run:' if dry_run else ''} {listening}",
        f"  interpreter:         {facts.implementation} {facts.version} ({facts.executable})",
        f"  free-threaded build: {yes_no[facts.free_threaded_build]}",
        f"  GIL enabled now:     {yes_no[facts.gil_enabled]}",
        f"  GIL requested by:    {asked}",
        f"  serving with:        {serve_plan.describe()}",
        f"  why:                 {serve_plan.reason}",
        f"  on SIGTERM/SIGINT:   drain (/ready 503), stop accepting after {options.drain_delay_s:g} s, "
        f"let in-flight requests finish within {options.drain_timeout_s} s; a second signal stops at once",
    ]
    lines.append(
        f"  protections:         headers within {options.header_timeout_s:g} s; connections per worker: "
        f"{options.max_connections or DEFAULT_MAX_CONNECTIONS}; {serve_plan.workers * serve_plan.threads} "
        "threads in all (a slow request body holds one); crashed workers respawned; "
        + ("port shared (--reuse-port)" if options.reuse_port else "a busy port is refused")
    )
    if drain_file:
        lines.append(f"  drain file:          {drain_file} (create it to drain without stopping)")
    lines.append(f"  config:              {options.config_path}")
    return "\n".join(lines)


def _check_options(options: ServeOptions) -> None:
    workers, threads = _sizes(options)
    if workers < 1 or threads < 1:
        raise LaunchError("--workers and --threads must be at least 1")
    if options.header_timeout_s <= 0:
        raise LaunchError("--header-timeout must be above 0 seconds")
    if options.max_connections is not None and options.max_connections < threads:
        raise LaunchError(
            f"--max-connections {options.max_connections} is below --threads {threads}: threads would sit "
            "idle while clients wait; use at least as many connections as threads"
        )
    if options.drain_delay_s < 0 or options.drain_timeout_s < 1:
        raise LaunchError("--drain-delay must be 0 or more and --drain-timeout at least 1 (seconds)")
    if options.gil not in GIL_CHOICES or options.server not in SERVER_CHOICES:
        raise LaunchError(f"--gil must be one of {GIL_CHOICES} and --server one of {SERVER_CHOICES}")
    if options.on_gil_reenabled not in ON_GIL_REENABLED_CHOICES:
        raise LaunchError(f"--on-gil-reenabled must be one of {ON_GIL_REENABLED_CHOICES}")


def _plan_gil_build(facts: RuntimeFacts, options: ServeOptions) -> ServePlan:
    if options.gil == "off":
        raise LaunchError(
            f"--gil off needs a free-threaded Python build (e.g. python3.14t), and {facts.implementation} "
            f"{facts.version} at {facts.executable} is a GIL build: its GIL cannot be turned off. Use "
            "--gil auto (or on) here, or start ftproxy with a free-threaded interpreter."
        )
    ignored = " (PYTHON_GIL=0 is ignored by a GIL build)" if facts.gil_requested is False else ""
    if options.server == "gunicorn":
        return _gunicorn(options, f"GIL build{ignored}, --server gunicorn: Gunicorn gthread workers", None)
    return ServePlan(
        "granian",
        "processes",
        *_sizes(options),
        f"GIL build{ignored}: Granian process workers, each with its own blocking threads",
    )


def _gunicorn(options: ServeOptions, reason: str, reexec: str | None) -> ServePlan:
    return ServePlan("gunicorn", "processes", *_sizes(options), reason, reexec)


def _sizes(options: ServeOptions) -> tuple[int, int]:
    assert options.workers is not None and options.threads is not None, "plan() resolves the sizes first"
    return options.workers, options.threads


def _why_gil(facts: RuntimeFacts, options: ServeOptions, wants_gil: bool) -> str:
    state = "on" if wants_gil else "off"
    if options.gil != "auto":
        return f"free-threaded build, --gil {options.gil}"
    if facts.gil_request_source:
        return f"free-threaded build with the GIL {state} ({facts.gil_request_source})"
    if wants_gil:  # nothing asked for it: something imported at start-up switched it on
        return "free-threaded build with the GIL on (an extension imported at start-up enabled it)"
    return f"free-threaded build, GIL {state}"


def _takes_argument(arg: str) -> bool:
    # Combined short flags ending in m or c (e.g. -Im) take the next word: that is the script part.
    return not arg.startswith("--") and arg[-1] in "mc"
