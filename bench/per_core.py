"""Issue 25's scenario: the most requests per second per core, with an instant upstream.

The server under test (ftproxy, or the trivial WSGI app) gets the server core; wrk and the
upstream share the load core. The upstream is the simulator with no latency (every request's
`[[sim:latency_ms=0]]`); it is also called directly with the request the proxy would send, which
is the route's "direct" figure. Two floors share ftproxy's Granian settings: a trivial WSGI app
(fixed answer) and a trivial blocking proxy forwarding the GPT route's direct request to the same
upstream (`bench.trivial_app`), which separates what any Python proxy on Granian pays for the
second hop from ftproxy's own work. Each target runs one fixed level (64 connections; no ramp, which
the report says) and one at concurrency 1 (added latency). ftproxy runs four routes: GPT
passthrough, a model only the Orchestration Service serves (`/v2/completion`), and a Claude
request converted to Bedrock Converse from Chat Completions and from the Messages API. Then
streams (many small events, upstream as fast as it can) and a py-spy profile of the GPT route
in an extra, unmeasured pass.

CPU per request is the measured process tree's CPU time over the window (and its kernel
share). Instructions per request, the stable measure, come from `perf stat` on the same PIDs when
the machine's counters allow it, and from a separate pass under valgrind's callgrind (each target
restarted under it, after the wall-clock levels so that it perturbs none of them) with their
split by binary: interpreter, Granian, orjson, the C library (`bench.instructions`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import (
    cpu_profile,
    discovery,
    instructions,
    machine,
    payloads,
    processes,
    streams,
    trivial_app,
    wrk,
)
from bench import per_core_figures as figures
from bench.machine import Pinning
from bench.monitor import Monitor
from bench.payloads import HttpRequest, direct_request, proxy_request
from bench.scenarios import Target, settle
from ftproxy.simulator.testing import SimClient
from ftproxy.wire.apis import ClientApi

CONNECTIONS = 64
SECONDS = 3
C1_SECONDS = 2
THREADS = 64  # server threads: one per connection, for ftproxy and the trivial app alike
STREAMS = 32
STREAM_TOKENS = 2000  # 64,000 events: long enough (about a second) for a rate
PROFILE_S = 2
# Under callgrind (about 50x slower): a warm-up, then three counts at concurrency 1 (their
# median is the figure: a full garbage collection can land in any one of them) and one at 64.
CALLGRIND_WARMUP = 300
CALLGRIND_C1 = 200
CALLGRIND_C1_RUNS = 3
CALLGRIND_C64 = 640
ROUTES = {
    "GPT passthrough": (payloads.GPT, ClientApi.OPENAI_CHAT),
    "Orchestration Service": (payloads.ORCHESTRATED, ClientApi.OPENAI_CHAT),
    "Claude from Chat Completions": (payloads.CLAUDE, ClientApi.OPENAI_CHAT),
    "Claude from Messages": (payloads.CLAUDE, ClientApi.ANTHROPIC_MESSAGES),
}


def run(output: Path, pinning: Pinning, say: Any, *, callgrind: bool = True) -> dict[str, Any]:
    logs = output / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    perf = _perf_probe()
    counter = instructions.probe() if callgrind else {"available": False, "note": "not asked for"}
    data: dict[str, Any] = {
        "scenario": "per_core",
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": {"connections": CONNECTIONS, "seconds": SECONDS, "threads": THREADS, "level": "fixed"},
        "server_cores": ",".join(map(str, pinning.server_cores)),
        "load_cores": ",".join(map(str, pinning.load_cores)),
        "perf": perf,
        "callgrind": counter,
        # A shared machine makes every figure noisier: the report says how busy it was.
        "busy_before_pct": machine.busy_now(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "expected_routes": list(ROUTES),
        "targets": {},
        "notes": [],
    }
    if not pinning.taskset:
        data["notes"].append("no taskset (or one core): server, wrk and upstream share every core")
    sim = processes.start_simulator(sys.executable, pinning, logs)
    try:
        with httpx.Client(base_url=sim.url, timeout=10) as client:
            token = SimClient(sim.url, client).token()
        for route, (model, client) in ROUTES.items():
            say(f"direct: {route}")
            to_sim = partial(_direct, token=token, client=client)
            direct = Target(f"direct {route}", sim.url, sim, to_sim, pinning)
            data["targets"][f"direct: {route}"] = _measure(direct, model, perf)
        data["targets"][figures.TRIVIAL_APP] = _trivial(pinning, logs, perf, say)
        data["targets"][figures.PROXY_FLOOR] = _proxy_floor(sim, token, pinning, logs, perf, say)
        found = _ftproxy(sim, token, pinning, logs, perf, output, say)
        data["targets"].update(found.pop("targets"))
        data.update(found)
        if counter["available"]:
            data["instructions"] = _callgrind(sim, token, pinning, output, say)
    finally:
        sim.stop()
    data["routes"] = {
        route: figures.compare(
            data["targets"][f"ftproxy: {route}"],
            data["targets"][f"direct: {route}"],
            data["targets"][figures.TRIVIAL_APP],
            data["targets"][figures.PROXY_FLOOR],
        )
        for route in ROUTES
        if f"ftproxy: {route}" in data["targets"]
    }
    figures.merge_instructions(data)
    data["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return data


def write(data: dict[str, Any], output: Path) -> None:
    (output / "per_core.json").write_text(json.dumps(data, indent=2) + "\n")
    (output / "report.md").write_text("# ftproxy benchmark: per core\n\n" + figures.render(data))


def _trivial(pinning: Pinning, logs: Path, perf: dict[str, Any], say: Any) -> dict[str, Any]:
    say(figures.TRIVIAL_APP)
    app = processes.start_wsgi_app("bench.trivial_app:app", sys.executable, THREADS, pinning, logs)
    try:
        return _measure(Target("trivial", app.url, app, proxy_request, pinning), payloads.GPT, perf)
    finally:
        app.stop()


def _proxy_floor(
    sim: processes.Started, token: str, pinning: Pinning, logs: Path, perf: dict[str, Any], say: Any
) -> dict[str, Any]:
    say(figures.PROXY_FLOOR)
    app = _start_proxy_floor(sim, pinning, logs)
    try:
        target = Target("proxy floor", app.url, app, partial(_direct, token=token), pinning)
        return _measure(target, payloads.GPT, perf)
    finally:
        app.stop()


def _start_proxy_floor(
    sim: processes.Started, pinning: Pinning, logs: Path, wrap: processes.Wrap | None = None
) -> processes.Started:
    env = {trivial_app.UPSTREAM_ENV: sim.url}
    return processes.start_wsgi_app(
        "bench.trivial_app:proxy", sys.executable, THREADS, pinning, logs, wrap=wrap, env=env
    )


def _ftproxy(
    sim: processes.Started,
    token: str,
    pinning: Pinning,
    logs: Path,
    perf: dict[str, Any],
    output: Path,
    say: Any,
) -> dict[str, Any]:
    interp = discovery.probe(sys.executable, "harness")
    assert interp is not None, "the harness's own interpreter is a CPython >= 3.11"
    spec = processes.ServerSpec(interp.variants()[0], "granian-threads", 1, THREADS)
    say("ftproxy: starting (discovery config)")
    server = processes.start_server(spec, sys.executable, sim.url, pinning, logs, discover=True)
    found: dict[str, Any] = {"targets": {}}
    try:
        for route, (model, client) in ROUTES.items():
            say(f"ftproxy: {route}")
            speaking = Target("ftproxy", server.url, server, partial(proxy_request, client=client), pinning)
            found["targets"][f"ftproxy: {route}"] = _measure(speaking, model, perf)
        t = Target("ftproxy", server.url, server, proxy_request, pinning)
        say("streams: direct and ftproxy")
        direct = Target("direct", sim.url, sim, partial(_direct, token=token), pinning)
        found["streams"] = {
            "streams": STREAMS,
            "tokens": STREAM_TOKENS,
            "direct": _streams(direct),
            "proxy": _streams(t),
        }
        say("ftproxy: CPU profile (py-spy)")
        found["profile"] = _profile(t, output / "profiles")
    finally:
        server.stop()
    return found


def _measure(t: Target, model: str, perf: dict[str, Any]) -> dict[str, Any]:
    """Warm-up, then the 64-connection level and concurrency 1, each with its CPU window."""
    req = t.request(payloads.chat_body(model, latency_ms=0))
    wrk.run(t.url, [req], connections=8, duration_s=1, pinning=t.pinning)
    return {"c64": _level(t, req, CONNECTIONS, SECONDS, perf), "c1": _level(t, req, 1, C1_SECONDS, None)}


def _level(
    t: Target, req: HttpRequest, connections: int, seconds: int, perf: dict[str, Any] | None
) -> dict[str, Any]:
    settle(t)
    counter = _perf_start(t, seconds) if perf and perf["available"] else None
    with Monitor(t.process) as m:
        r = wrk.run(t.url, [req], connections=connections, duration_s=seconds, pinning=t.pinning)
    assert m.window is not None
    instructions = _perf_finish(counter) if counter else None
    return {
        "connections": connections,
        "requests": r.requests,
        "rps": r.rps,
        "p50_ms": r.p50_ms,
        "p99_ms": r.p99_ms,
        "errors": r.errors,
        "errors_pct": r.errors_pct,
        "server_cpu_pct": round(100.0 * m.window.server_cpu_s / m.window.seconds, 1),
        "system_cpu_share": figures.ratio(m.window.server_system_s, m.window.server_cpu_s),
        "cpu_ms_per_request": figures.per_request(1000.0 * m.window.server_cpu_s, r.requests),
        "instructions_per_request": figures.per_request(instructions, r.requests),
    }


def _streams(t: Target) -> dict[str, Any]:
    body = payloads.chat_body(payloads.GPT, stream=True, tokens=STREAM_TOKENS, tps=0)
    body["max_tokens"] = STREAM_TOKENS  # the simulator stops an answer at max_tokens
    settle(t)
    r = streams.run(t.url, t.request(body), STREAMS, open_over_s=0.0, stall_gap_s=1.0, timeout_s=30.0)
    events = len(r.gaps_ms) + len(r.ttft_ms)  # the first event of each stream, then one per gap
    return {
        "events": events,
        "wall_s": round(r.wall_s, 3),
        "events_per_s": figures.events_per_s(events, r.wall_s),
        "completed": r.completed,
        "stalls": r.stalls,
        "errors": r.errors,
    }


def _profile(t: Target, folder: Path) -> dict[str, Any]:
    tool = cpu_profile.find()
    if tool is None:
        return cpu_profile.empty("unavailable", "py-spy is not installed (pip install py-spy): no profile")
    req = t.request(payloads.chat_body(payloads.GPT, latency_ms=0))
    settle(t)
    rec = cpu_profile.Recording(
        tool, t.process.process.pid, PROFILE_S, 250, t.pinning, folder / "profile-per-core.txt", gil_only=True
    )
    try:
        with rec:
            wrk.run(t.url, [req], connections=CONNECTIONS, duration_s=PROFILE_S + 1, pinning=t.pinning)
    except OSError as exc:
        return cpu_profile.empty("failed", f"py-spy could not run: {exc}")
    return {"tool": cpu_profile.version(tool), **rec.result()}


def _callgrind(
    sim: processes.Started, token: str, pinning: Pinning, output: Path, say: Any
) -> dict[str, Any]:
    """Every target again under callgrind: instructions per request and their split by binary.
    The upstream for ftproxy is the simulator of the wall-clock run (not counted); the direct
    figures count a second simulator, started under callgrind, called with the same requests."""
    folder, logs = output / "callgrind", output / "logs"
    wrap = instructions.wrap(folder)
    found: dict[str, Any] = {}

    def measure(started: processes.Started, key: str, req: HttpRequest) -> None:
        say(f"callgrind: {key}")
        found[key] = _count(started, req, folder)

    say("callgrind: the simulator (direct calls)")
    counted_sim = processes.start_simulator(sys.executable, pinning, logs, wrap=wrap)
    try:
        with httpx.Client(base_url=counted_sim.url, timeout=60) as client:
            sim_token = SimClient(counted_sim.url, client).token()
        for route, (model, client) in ROUTES.items():
            measure(
                counted_sim,
                f"direct: {route}",
                direct_request(payloads.chat_body(model, latency_ms=0), sim_token, client),
            )
    finally:
        counted_sim.stop()
    say("callgrind: the trivial WSGI app")
    app = processes.start_wsgi_app("bench.trivial_app:app", sys.executable, THREADS, pinning, logs, wrap=wrap)
    try:
        measure(app, figures.TRIVIAL_APP, proxy_request(payloads.chat_body(payloads.GPT, latency_ms=0)))
    finally:
        app.stop()
    # The floor's upstream is the wall-clock run's simulator (not counted), as ftproxy's is.
    floor = _start_proxy_floor(sim, pinning, logs, wrap)
    try:
        measure(
            floor, figures.PROXY_FLOOR, direct_request(payloads.chat_body(payloads.GPT, latency_ms=0), token)
        )
    finally:
        floor.stop()
    say("callgrind: ftproxy (discovery config)")
    interp = discovery.probe(sys.executable, "harness")
    assert interp is not None
    spec = processes.ServerSpec(interp.variants()[0], "granian-threads", 1, THREADS)
    server = processes.start_server(spec, sys.executable, sim.url, pinning, logs, discover=True, wrap=wrap)
    try:
        for route, (model, client) in ROUTES.items():
            measure(
                server, f"ftproxy: {route}", proxy_request(payloads.chat_body(model, latency_ms=0), client)
            )
    finally:
        server.stop()
    return found


def _count(started: processes.Started, req: HttpRequest, folder: Path) -> dict[str, Any]:
    instructions.drive(started.url, req, connections=1, requests=CALLGRIND_WARMUP)
    c1 = [
        instructions.count(started, req, connections=1, requests=CALLGRIND_C1, folder=folder)
        for _ in range(CALLGRIND_C1_RUNS)
    ]
    c64 = instructions.count(started, req, connections=CONNECTIONS, requests=CALLGRIND_C64, folder=folder)
    median = sorted(c1, key=instructions.Count.per_request)[len(c1) // 2]
    return {
        "c1": {**median.as_dict(), "runs": [round(c.per_request()) for c in c1]},
        "c64": c64.as_dict(),
    }


def _direct(body: dict[str, Any], *, token: str, client: ClientApi = ClientApi.OPENAI_CHAT) -> HttpRequest:
    return direct_request(body, token, client)


def _perf_probe() -> dict[str, Any]:
    """Whether `perf stat` can count instructions here (a VM often exposes no counters)."""
    if shutil.which("perf") is None:
        return {"available": False, "note": "perf is not installed: no instruction counts"}
    try:
        done = subprocess.run(
            ["perf", "stat", "-x,", "-e", "instructions", "true"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return {"available": False, "note": f"perf stat could not run ({exc}): no instruction counts"}
    if figures.parse_perf_stat(done.stderr) is None:
        why = done.stderr.strip().splitlines()[-1:] or ["no output"]
        return {
            "available": False,
            "note": f"perf stat cannot count instructions on this machine ({why[0][:120]}): n/a",
        }
    return {"available": True, "note": "perf stat -e instructions on the measured process tree"}


def _perf_start(t: Target, seconds: int) -> subprocess.Popen[str]:
    pids = ",".join(str(p.pid) for p in t.process.tree())
    argv = [*t.pinning.prefix(t.pinning.load_cores), "perf", "stat", "-x,", "-e", "instructions"]
    argv += ["-p", pids, "--", "sleep", str(seconds)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _perf_finish(counter: subprocess.Popen[str]) -> int | None:
    try:
        _, err = counter.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            counter.kill()
        counter.communicate()
        return None
    return figures.parse_perf_stat(err)
