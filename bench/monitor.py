"""CPU per core and the server's memory, sampled with psutil while a load runs.

The seed plan's "CPU > 70%" criterion and SPEC §9's "CPU per request" need the server's own
cores' utilisation and the server tree's CPU time over exactly the measured window; the memory
criteria need the peak RSS under load. A background thread samples every `interval_s`; the
window's numbers are computed when it stops.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil

from bench.processes import Started


@dataclass(frozen=True)
class Window:
    seconds: float
    cpu_per_core_pct: list[float]  # whole machine, each core's busy share over the window
    server_cpu_s: float  # CPU time of the server tree (all its processes) during the window
    server_system_s: float  # the kernel's part of it (system time)
    server_rss_peak_bytes: int
    server_rss_end_bytes: int


class Monitor:
    """`with Monitor(server) as m: ...` then `m.window`."""

    def __init__(self, server: Started | None, interval_s: float = 0.2) -> None:
        self.server = server
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-monitor", daemon=True)
        self._peak = 0
        self.window: Window | None = None

    def __enter__(self) -> Monitor:
        self._t0 = time.perf_counter()
        self._cpu0 = psutil.cpu_times(percpu=True)
        self._server_cpu0 = self.server.cpu_split() if self.server else (0.0, 0.0)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        cpu1 = psutil.cpu_times(percpu=True)
        rss_end = self.server.rss_bytes() if self.server else 0
        cpu = self.server.cpu_split() if self.server else (0.0, 0.0)
        self.window = Window(
            seconds=time.perf_counter() - self._t0,
            cpu_per_core_pct=[_busy_pct(a, b) for a, b in zip(self._cpu0, cpu1, strict=False)],
            server_cpu_s=sum(cpu) - sum(self._server_cpu0),
            server_system_s=cpu[1] - self._server_cpu0[1],
            server_rss_peak_bytes=max(self._peak, rss_end),
            server_rss_end_bytes=rss_end,
        )

    def _sample(self) -> None:
        while not self._stop.wait(self.interval_s):
            if self.server is not None:
                self._peak = max(self._peak, self.server.rss_bytes())


def _busy_pct(before: object, after: object) -> float:
    total = sum(after) - sum(before)  # type: ignore[call-overload]
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (before.idle + getattr(before, "iowait", 0.0))  # type: ignore[attr-defined]
    return round(100.0 * (total - idle) / total, 1) if total > 0 else 0.0
