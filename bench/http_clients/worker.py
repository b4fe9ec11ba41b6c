"""The client worker: one process per (candidate, cell, repeat), pinned to its CPU."""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
import time
from typing import Any

from bench.http_clients.candidates import BY_NAME, candidate_version, make_client
from bench.http_clients.exchange import RESPONSE_BODY


def gil_enabled() -> bool | None:
    probe = getattr(sys, "_is_gil_enabled", None)
    return None if probe is None else bool(probe())


def run_cell(name: str, url: str, threads: int, duration: float, warmup: float) -> dict[str, Any]:
    call = make_client(name, url, threads)
    # On a free-threaded build, importing an extension that does not declare Py_mod_gil_not_used
    # switches the GIL back on: this is the real-interpreter version of the import probe.
    gil_after_import = gil_enabled()
    recording = False
    stop = False
    samples: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    first_error: list[str] = []

    def loop(index: int) -> None:
        mine = samples[index]
        clock = time.perf_counter
        while not stop:
            start = clock()
            try:
                status, body = call()
                ok = status == 200 and len(body) == len(RESPONSE_BODY)
                if not ok and not first_error:
                    first_error.append(f"status {status}, {len(body)} body bytes")
            except Exception as exc:  # any failure is counted and named once, never fatal
                ok = False
                if not first_error:
                    first_error.append(f"{type(exc).__name__}: {exc}"[:300])
            if recording:
                if ok:
                    mine.append(clock() - start)
                else:
                    errors[index] += 1

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(warmup)  # connections open, caches warm, pools full
    recording = True
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(duration)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    recording = False
    stop = True
    for worker in workers:
        worker.join(timeout=35)
    latencies = sorted(x for per_thread in samples for x in per_thread)
    calls = len(latencies)
    wall = wall1 - wall0
    return {
        "calls": calls,
        "errors": sum(errors),
        "first_error": first_error[0] if first_error else None,
        "wall_s": wall,
        "cpu_s": cpu1 - cpu0,
        "calls_per_s": calls / wall if wall else 0.0,
        "cpu_ms_per_call": (cpu1 - cpu0) * 1000 / calls if calls else None,
        "p50_ms": _percentile(latencies, 0.50) * 1000 if calls else None,
        "p99_ms": _percentile(latencies, 0.99) * 1000 if calls else None,
        "gil_enabled_after_import": gil_after_import,
        "gil_enabled_at_end": gil_enabled(),
    }


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def probe_candidate(name: str) -> dict[str, Any]:
    """Can this interpreter run the candidate? Which non-stdlib extensions does it load?"""
    import importlib
    import importlib.machinery

    if name == "ftproxy":
        # Count what the transport adds, not what the rest of ftproxy loads (orjson on GIL builds).
        importlib.import_module("ftproxy")
    before = set(sys.modules)
    try:
        importlib.import_module(BY_NAME[name].module)
        make_client(name, "http://127.0.0.1:9/x", 1)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    stdlib = sysconfig.get_paths()["stdlib"]
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    extensions = sorted(
        mod
        for mod in set(sys.modules) - before
        if (getattr(sys.modules[mod], "__file__", None) or "").endswith(suffixes)
        and not sys.modules[mod].__file__.startswith(stdlib)  # type: ignore[union-attr]
    )
    return {"ok": True, "version": candidate_version(name), "extensions": extensions, "gil": gil_enabled()}


def pin_to(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity") and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})
