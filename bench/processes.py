"""The processes under test: the simulator and ftproxy in each server mode, pinned and bounded.

Every process is started here, remembered by PID (with its children, for process-worker
servers) and stopped here by PID: SIGTERM, a bounded wait, then SIGKILL of exactly the PIDs it
owned. Servers are started through `ftproxy serve` itself, so the launcher's decision (Granian
or Gunicorn, threads or processes, the GIL switch) is what gets measured, and its banner is kept.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.discovery import Variant
from bench.machine import Pinning
from ftproxy.demo import write_demo_config
from ftproxy.simulator.settings import SimulatorSettings
from ftproxy.simulator.testing import command as simulator_command
from ftproxy.simulator.testing import free_port

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0

# Server modes. "direct" (the simulator itself) is the limit and is not a server mode.
MODES = ("granian-threads", "granian-workers", "gunicorn")
MODE_LABELS = {
    "granian-threads": "ftproxy on Granian, 1 worker x N threads",
    "granian-workers": "ftproxy on Granian, W workers x N threads",
    "gunicorn": "ftproxy on Gunicorn gthread, W workers x N threads",
}


class StartError(RuntimeError):
    pass


@dataclass
class Started:
    """A running child: its PID, log, and every PID seen in its tree (for a sure stop)."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str
    pids: set[int] = field(default_factory=set)

    def tree(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.process.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        self.pids.update(p.pid for p in procs)
        return procs

    def rss_bytes(self) -> int:
        """Resident memory of the whole tree (process workers included)."""
        total = 0
        for p in self.tree():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def pss_bytes(self) -> int:
        """Proportional set size of the whole tree: like `rss_bytes`, but a page shared by the
        forked workers and their supervisor is counted once, not once per process."""
        total = 0
        for p in self.tree():
            with contextlib.suppress(psutil.Error, AttributeError):
                total += p.memory_full_info().pss
        return total

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def cpu_split(self) -> tuple[float, float]:
        """User and system (kernel) CPU seconds of the whole tree."""
        user = system = 0.0
        for p in self.tree():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                user += t.user
                system += t.system
        return user, system

    def stop(self) -> None:
        self.tree()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_TIMEOUT_S)
        # Workers that outlived their parent: only the PIDs this harness saw in its own tree.
        for pid in self.pids - {self.process.pid}:
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                    p.kill()


@dataclass(frozen=True)
class ServerSpec:
    variant: Variant
    mode: str  # one of MODES
    workers: int
    threads: int

    @property
    def key(self) -> str:
        return f"{self.variant.key}/{self.mode}"

    def server_flag(self) -> str:
        if self.mode == "gunicorn":
            return "gunicorn"
        return "granian"


def modes_for(variant: Variant) -> list[str]:
    """Granian's free-threaded build cannot run with the GIL on: that variant only has Gunicorn
    (which `--gil on` selects by itself, as the rollback switch does)."""
    if variant.interpreter.free_threaded_build and variant.name == "gil":
        return ["gunicorn"]
    return list(MODES)


def start_simulator(python: str, pinning: Pinning, folder: Path, *, wrap: Wrap | None = None) -> Started:
    port = free_port()
    argv = simulator_command(SimulatorSettings(port=port), python)
    log = folder / f"simulator-{port}.log" if wrap else folder / "simulator.log"
    return _start(
        "simulator",
        [*pinning.prefix(pinning.load_cores), *_wrapped(wrap, argv)],
        log,
        f"http://127.0.0.1:{port}",
        "/healthz",
        {},
        wrap,
    )


def start_server(
    spec: ServerSpec,
    python: str,
    simulator_url: str,
    pinning: Pinning,
    folder: Path,
    *,
    discover: bool = False,
    wrap: Wrap | None = None,
) -> Started:
    """`discover`: the config names no deployment, so the proxy finds the simulator's (its
    orchestration deployment included, which serves the models that have none of their own)."""
    port = free_port()
    config = write_demo_config(folder, simulator_url, host="127.0.0.1", port=port, discover=discover)
    argv = [
        python,
        "-m",
        "ftproxy",
        "serve",
        "--config",
        str(config),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(spec.workers),
        "--threads",
        str(spec.threads),
        "--gil",
        spec.variant.gil_flag,
        "--drain-timeout",
        "2",
    ]
    if not (spec.variant.interpreter.free_threaded_build and spec.variant.name == "gil"):
        argv += ["--server", spec.server_flag()]
    log = folder / f"server-{spec.key.replace('/', '_')}-t{spec.threads}-{port}.log"
    argv = [*pinning.prefix(pinning.server_cores), *_wrapped(wrap, argv)]
    return _start(spec.key, argv, log, f"http://127.0.0.1:{port}", "/health", spec.variant.env, wrap)


def start_wsgi_app(
    app: str,
    python: str,
    threads: int,
    pinning: Pinning,
    folder: Path,
    *,
    wrap: Wrap | None = None,
    env: dict[str, str] | None = None,
) -> Started:
    """A WSGI app (`module:callable`, importable from the checkout) under Granian with ftproxy's
    own Granian settings: one worker, `threads` blocking threads, HTTP/1.1, no access log; `env`
    added to its environment."""
    port = free_port()
    argv = [
        python,
        "-m",
        "granian",
        "--interface",
        "wsgi",
        "--http",
        "1",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--blocking-threads",
        str(threads),
        "--backpressure",
        str(max(threads, 1024)),
        app,
    ]
    name = app.replace(":", "_")
    environment = {**(env or {}), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    argv = [*pinning.prefix(pinning.server_cores), *_wrapped(wrap, argv)]
    log = folder / f"wsgi-{name}-{port}.log"
    return _start(name, argv, log, f"http://127.0.0.1:{port}", "/", environment, wrap)


def launcher_banner(started: Started) -> dict[str, str]:
    """The launcher's own account of how it serves (`serving with:`, `why:` ...)."""
    found: dict[str, str] = {}
    text = started.log.read_text(errors="replace") if started.log.exists() else ""
    for key in ("serving with", "why", "free-threaded build", "GIL enabled now", "GIL requested by"):
        m = re.search(rf"^\s*{re.escape(key)}:\s*(.+)$", text, re.MULTILINE)
        if m:
            found[key.replace(" ", "_").replace("-", "_").lower()] = m.group(1).strip()
    return found


def scrape_gil(url: str) -> dict[str, float]:
    """GIL facts as the server itself reports them on GET /metrics (not as the harness assumes)."""
    text = httpx.get(url + "/metrics", timeout=10).text
    out: dict[str, float] = {}
    for name in ("python_gil_enabled", "python_free_threaded_build"):
        m = re.search(rf"^{name}(?:{{[^}}]*}})? ([0-9.eE+-]+)$", text, re.MULTILINE)
        if m:
            out[name] = float(m.group(1))
    return out


@dataclass(frozen=True)
class Wrap:
    """A tool the child runs under (valgrind, for instruction counts): its argv prefix, and how
    long the child may take to answer its health check under it."""

    argv: tuple[str, ...]
    start_timeout_s: float


def _wrapped(wrap: Wrap | None, argv: list[str]) -> list[str]:
    return [*wrap.argv, *argv] if wrap else argv


def _start(
    name: str,
    argv: list[str],
    log: Path,
    url: str,
    health: str,
    env: dict[str, str],
    wrap: Wrap | None = None,
) -> Started:
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    if "PYTHON_GIL" not in env:  # a PYTHON_GIL of the caller must not change the variant measured
        environment.pop("PYTHON_GIL", None)
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=environment)
    started = Started(name, process, log, url)
    timeout_s = wrap.start_timeout_s if wrap else START_TIMEOUT_S
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while True:
            if process.poll() is not None:
                raise StartError(f"{name} exited with {process.returncode}:\n{_tail(log)}")
            try:
                if client.get(url + health).status_code == 200:
                    started.tree()
                    return started
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                started.stop()
                raise StartError(f"{name} not healthy within {timeout_s:.0f} s:\n{_tail(log)}")
            time.sleep(0.05)  # readiness poll interval; the deadline bounds the wait


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no log)"
