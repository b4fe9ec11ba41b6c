"""Machine facts and the CPU pinning plan.

Numbers from one machine mean nothing without the machine: the report records the CPU model,
core count, memory, kernel and the tools' versions. Pinning (SPEC §9) keeps the server under
test from sharing cores with the load generator and the simulator, so the server's CPU share is
measurable and the direct baseline is not slowed by the server: the server gets the first half
of the cores (core 0 on a 2-core machine), everything else the rest (core 1).
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass

import psutil


@dataclass(frozen=True)
class Pinning:
    server_cores: tuple[int, ...]
    load_cores: tuple[int, ...]  # load generators and the simulator
    taskset: bool  # False when taskset is missing or there is one core: nothing is pinned

    def prefix(self, cores: tuple[int, ...]) -> list[str]:
        """The argv prefix that pins a child (and, by inheritance, its children)."""
        if not self.taskset:
            return []
        return ["taskset", "-c", ",".join(str(c) for c in cores)]

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "server_cores": list(self.server_cores), "load_cores": list(self.load_cores)}


def pinning(server_cores: str | None = None) -> Pinning:
    cores = (
        sorted(os.sched_getaffinity(0))
        if hasattr(os, "sched_getaffinity")
        else list(range(os.cpu_count() or 1))
    )
    have_taskset = shutil.which("taskset") is not None and len(cores) > 1
    if not have_taskset:
        return Pinning(tuple(cores), tuple(cores), False)
    if server_cores:
        chosen = tuple(int(c) for c in server_cores.split(",") if c.strip())
    else:
        chosen = tuple(cores[: max(1, len(cores) // 2)])
    rest = tuple(c for c in cores if c not in chosen) or tuple(cores)
    return Pinning(chosen, rest, True)


def facts() -> dict[str, object]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "cpu_mhz": _cpu_mhz(),
        "memory_bytes": psutil.virtual_memory().total,
        "kernel": platform.release(),
        "system": platform.system(),
        "machine": platform.machine(),
        "hostname_hash": hex(hash(platform.node()) & 0xFFFF),  # tells runs apart, names nothing
        "open_files_limit": _nofile(),
    }


def busy_now(seconds: float = 1.0) -> list[float]:
    """Per-core busy share right now. Benchmarks on a shared machine are noisy: the report says
    when something else was using the CPU when the run started."""
    return [float(x) for x in psutil.cpu_percent(interval=seconds, percpu=True)]


def tools() -> dict[str, str | None]:
    return {"wrk": _version(["wrk", "--version"]), "taskset": _version(["taskset", "--version"])}


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _cpu_mhz() -> float:
    freq = psutil.cpu_freq()
    return float(freq.current) if freq else 0.0


def _nofile() -> int:
    import resource

    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def raise_open_files_limit(wanted: int = 20000) -> int:
    """Thousands of concurrent streams need thousands of sockets in every process; children
    inherit the limit set here."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def _version(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"
