"""The plan of one benchmark run: venvs, the simulator, the limit, then every server mode.

One simulator (pinned to the load core, zero default latency; each request's directive sets
its upstream behaviour) serves the whole run, so every mode and interpreter meets the same
upstream. The direct limit is measured first, with the same client and the same converted
requests. Each (interpreter variant, mode) then gets a fresh server: idle RSS, warm-up, the
scenarios, RSS after; and, for the CPU-heavy scenario, one more short-lived server per thread
count. A mode that fails to start is recorded as failed and the run goes on.
"""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import SCHEMA, SCHEMA_VERSION, machine, payloads, processes, scenarios, venvs
from bench.discovery import Interpreter, Variant
from bench.machine import Pinning
from bench.payloads import direct_request, proxy_request
from bench.processes import MODE_LABELS, ServerSpec, Started, StartError
from bench.progress import Progress
from bench.scenarios import Target
from bench.settings import Settings
from bench.stats import mib
from ftproxy.simulator.testing import SimClient


def run(
    settings: Settings,
    interpreters: list[Interpreter],
    notes: list[str],
    *,
    output: Path,
    repo: Path,
    venv_cache: Path,
    pinning: Pinning,
    progress: Progress,
) -> dict[str, Any]:
    started = time.time()
    logs = output / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    machine.raise_open_files_limit()
    prepared: list[tuple[Interpreter, venvs.Venv]] = []
    for interp in interpreters:
        progress.phase(f"venv for {interp.key} ({interp.real_path})")
        try:
            prepared.append((interp, venvs.ensure(interp, repo, venv_cache)))
        except (venvs.VenvError, OSError) as exc:
            notes.append(f"{interp.key}: venv could not be built, interpreter skipped: {str(exc)[:300]}")
    busy = machine.busy_now()
    if max(busy) > 15:
        notes.append(
            f"the machine was not idle when the run started (per-core busy %: {busy}); other processes "
            "compete for the cores and the numbers are noisier than on an idle machine"
        )
    plan = [
        (i, v, var, mode) for i, v in prepared for var in i.variants() for mode in processes.modes_for(var)
    ]
    both = [(i, v) for i, v in prepared if not i.free_threaded_build]
    both = both if settings.both_cores_every_interpreter else both[:1]
    progress.set_total(len(plan) + 1 + len(both))
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "preset": settings.preset,
        "started_at": datetime.fromtimestamp(started, UTC).isoformat(timespec="seconds"),
        "settings": settings.as_dict(),
        "machine": {**machine.facts(), "pinning": pinning.as_dict(), "busy_before_pct": busy},
        "tools": {**machine.tools(), "harness_python": sys.version.split()[0]},
        "interpreters": [
            {**i.as_dict(), "venv": str(v.path), "venv_reused": v.reused, "packages": v.packages}
            for i, v in prepared
        ],
        "free_threaded_available": any(i.free_threaded_build for i, _ in prepared),
        "notes": notes,
    }
    sim = processes.start_simulator(sys.executable, pinning, logs)
    try:
        with httpx.Client(base_url=sim.url, timeout=10) as client:
            token = SimClient(sim.url, client).token()
        results["limit"] = _limit(sim, token, settings, pinning, progress)
        results["runs"] = [
            _server_run(
                ServerSpec(var, mode, _workers(mode, settings), settings.threads),
                v,
                i,
                sim,
                settings,
                pinning,
                logs,
                progress,
            )
            for i, v, var, mode in plan
        ]
        results["both_cores"] = [_both_cores(i, v, sim, settings, pinning, logs, progress) for i, v in both]
    finally:
        sim.stop()
    results["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["duration_s"] = round(time.time() - started, 1)
    return results


def _workers(mode: str, s: Settings) -> int:
    return 1 if mode == "granian-threads" else s.workers


def _limit(sim: Started, token: str, s: Settings, pinning: Pinning, progress: Progress) -> dict[str, Any]:
    progress.step("direct: the simulator called without the proxy (the limit)")
    t = Target("direct", sim.url, sim, lambda body: direct_request(body, token), pinning)
    scenarios.warm_up(t, s)
    say = progress.phase
    return {
        "label": "simulator called directly (the physical limit)",
        "load_generator": scenarios.load_generator_ceiling(t, s, say),
        "scenarios": {
            "overhead": scenarios.overhead(t, s, say),
            "throughput": scenarios.throughput(t, s, say),
            "streaming": scenarios.streaming(t, s, say),
            "max_streams": scenarios.max_streams(t, s, sim.rss_bytes(), say),
            "cpu_heavy": {"points": [scenarios.cpu_heavy(t, s, say, threads=0)]},
        },
    }


def _server_run(
    spec: ServerSpec,
    venv: venvs.Venv,
    interp: Interpreter,
    sim: Started,
    s: Settings,
    pinning: Pinning,
    logs: Path,
    progress: Progress,
) -> dict[str, Any]:
    progress.step(f"{spec.variant.label} · {MODE_LABELS[spec.mode]}")
    record: dict[str, Any] = {
        "id": spec.key,
        "interpreter": interp.key,
        "variant": spec.variant.name,
        "variant_label": spec.variant.label,
        "mode": spec.mode,
        "mode_label": MODE_LABELS[spec.mode],
        "status": "ok",
    }
    say = progress.phase
    try:
        server = processes.start_server(spec, venv.python, sim.url, pinning, logs)
    except StartError as exc:
        return {**record, "status": "failed", "error": str(exc)[-2000:]}
    try:
        record["server"] = _server_facts(spec, server)
        idle = server.rss_bytes()
        t = Target(spec.key, server.url, server, proxy_request, pinning)
        say("warm-up")
        scenarios.warm_up(t, s)
        found: dict[str, Any] = {
            "overhead": scenarios.overhead(t, s, say),
            "throughput": scenarios.throughput(t, s, say),
            "streaming": scenarios.streaming(t, s, say),
        }
        record["profile"] = scenarios.profile(
            t, s, say, logs.parent / "profiles", gil_only=spec.variant.name == "gil"
        )
        under_load = found["throughput"]["rss_peak_mib"]
        found["max_streams"] = scenarios.max_streams(t, s, idle, say)
        time.sleep(1.0)  # let the streams' threads and buffers be released before "after"
        after, after_pss = server.rss_bytes(), server.pss_bytes()
        streams_peak = max((lv["rss_peak_mib"] for lv in found["max_streams"]["levels"]), default=0.0)
        record["rss_mib"] = {
            "idle": mib(idle),
            "under_load": under_load,
            "streams_peak": streams_peak,
            "after": mib(after),
            "after_pss": mib(after_pss),
        }
    except Exception as exc:  # a crashed server must not end the whole run
        return {**record, "status": "failed", "error": f"{type(exc).__name__}: {exc}"[-2000:]}
    finally:
        server.stop()
    found["cpu_heavy"] = {"points": _thread_sweep(spec, venv, sim, s, pinning, logs, say)}
    record["scenarios"] = found
    if any(p.get("status") == "failed" for p in found["cpu_heavy"]["points"]):
        record["status"] = "failed"
        record["error"] = "a CPU-heavy thread-sweep server failed; see its point"
    return record


def _both_cores(
    interp: Interpreter,
    venv: venvs.Venv,
    sim: Started,
    s: Settings,
    pinning: Pinning,
    logs: Path,
    progress: Progress,
) -> dict[str, Any]:
    """Issue 11: a GIL build on one core with one worker, then with process workers on every
    core, at the same load (`both_cores_connections`, 20 ms upstream). wrk and the simulator stay
    on the load cores, so with both cores the server shares one of its cores with them: on two
    cores the ratio is a floor, not what two dedicated cores would give."""
    progress.step(f"{interp.key}: one core and one worker vs {s.workers} workers on every core")
    variant = interp.variants()[0]
    every = tuple(sorted({*pinning.server_cores, *pinning.load_cores}))
    record: dict[str, Any] = {
        "interpreter": interp.key,
        "variant": variant.name,
        "connections": s.both_cores_connections,
        "upstream_latency_ms": s.upstream_latency_ms,
        "status": "ok",
        "note": (
            f"wrk and the simulator stay on core(s) {','.join(map(str, pinning.load_cores))}: "
            "with every core the server shares those with them"
        ),
    }
    if not pinning.taskset or len(every) <= len(pinning.server_cores):
        return {**record, "status": "n/a", "note": "no spare core to give the server (or no taskset)"}
    req = proxy_request(payloads.chat_body(payloads.GPT, latency_ms=s.upstream_latency_ms))
    configs = (
        ("one_core", ServerSpec(variant, "granian-threads", 1, s.threads), pinning),
        (
            "both_cores",
            ServerSpec(variant, "granian-workers", s.workers, s.threads),
            replace(pinning, server_cores=every),
        ),
    )
    for name, spec, where in configs:
        progress.phase(
            f"{name}: {spec.workers} worker(s) on core(s) {','.join(map(str, where.server_cores))}"
        )
        try:
            server = processes.start_server(spec, venv.python, sim.url, where, logs)
        except StartError as exc:
            return {**record, "status": "failed", "error": str(exc)[-1000:]}
        try:
            t = Target(f"{spec.key}-{name}", server.url, server, proxy_request, pinning)
            scenarios.warm_up(t, s)
            record[name] = {
                "workers": spec.workers,
                "server_cores": list(where.server_cores),
                "processes": len(server.tree()),
                **scenarios.load_level(t, s, req, s.both_cores_connections),
            }
        except Exception as exc:  # a crashed server must not end the whole run
            return {**record, "status": "failed", "error": f"{type(exc).__name__}: {exc}"[-1000:]}
        finally:
            server.stop()
    one, two = record["one_core"]["rps"]["median"], record["both_cores"]["rps"]["median"]
    record["rps_ratio"] = round(two / one, 4) if one else 0.0
    return record


def _thread_sweep(
    spec: ServerSpec, venv: venvs.Venv, sim: Started, s: Settings, pinning: Pinning, logs: Path, say: Any
) -> list[dict[str, Any]]:
    points = []
    for threads in s.cpu_heavy_threads:
        sweep = ServerSpec(spec.variant, spec.mode, spec.workers, threads)
        try:
            server = processes.start_server(sweep, venv.python, sim.url, pinning, logs)
        except StartError as exc:
            points.append({"threads": threads, "status": "failed", "error": str(exc)[-1000:]})
            continue
        try:
            target = Target(sweep.key, server.url, server, proxy_request, pinning)
            scenarios.prime(target)
            points.append(scenarios.cpu_heavy(target, s, say, threads))
        finally:
            server.stop()
    return points


def _server_facts(spec: ServerSpec, server: Started) -> dict[str, Any]:
    gil = processes.scrape_gil(server.url)
    variant: Variant = spec.variant
    return {
        "workers": spec.workers,
        "threads": spec.threads,
        "gil_flag": variant.gil_flag,
        "env": variant.env,
        "processes": len(server.tree()),
        "gil_enabled": gil.get("python_gil_enabled"),
        "free_threaded_build": gil.get("python_free_threaded_build"),
        "launcher": processes.launcher_banner(server),
    }
