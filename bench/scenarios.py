"""The SPEC §9 scenarios, each run the same way against a server mode and against the limit.

A `Target` is something to send requests to: ftproxy in some mode, or the simulator called
directly with the same (converted) requests. Every scenario returns plain dicts of numbers;
repeated measurements become `stats.stat` entries (median, min, max). Ratios between targets are
computed later (`bench.criteria`), never here, so each scenario's output stands on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import cpu_profile, payloads, streams, wrk
from bench.machine import Pinning
from bench.monitor import Monitor
from bench.payloads import HttpRequest
from bench.processes import Started
from bench.settings import Settings
from bench.stats import mib, percentile, stat

Progress = Callable[[str], None]


@dataclass
class Target:
    name: str
    url: str
    process: Started  # the server tree measured for CPU and RSS (the simulator for the limit)
    request: Callable[[dict[str, Any]], HttpRequest]  # client body -> the request this target gets
    pinning: Pinning


def settle(t: Target, *, max_s: float = 5.0, idle_share: float = 0.05) -> None:
    """Waits (bounded) until the target's processes stop using CPU: a server that answered an
    overload still drains queued requests after the load generator stopped, and the next
    measurement must not inherit that backlog."""
    deadline = time.monotonic() + max_s
    before = t.process.cpu_seconds()
    while time.monotonic() < deadline:
        time.sleep(0.1)  # sampling interval; the deadline bounds the wait
        now = t.process.cpu_seconds()
        if now - before < 0.1 * idle_share:
            return
        before = now


def warm_up(t: Target, s: Settings) -> None:
    """Connections, lazily imported code paths and the upstream token, before anything counts."""
    bodies = [payloads.chat_body(payloads.GPT), payloads.large_conversation(payloads.CLAUDE)]
    wrk.run(t.url, [t.request(b) for b in bodies], connections=8, duration_s=s.warmup_s, pinning=t.pinning)
    streams.run(
        t.url,
        t.request(payloads.chat_body(payloads.GPT, stream=True, tokens=3)),
        4,
        open_over_s=0.0,
        stall_gap_s=5.0,
        timeout_s=10.0,
    )


def prime(t: Target) -> None:
    """A few large requests before a short-lived server is measured: connections to the upstream
    and first-call costs are paid outside the window (cheaper than a full warm-up)."""
    bodies = [payloads.large_conversation(m) for m in (payloads.CLAUDE, payloads.GEMINI)]
    wrk.run(t.url, [t.request(b) for b in bodies], connections=4, duration_s=1, pinning=t.pinning)


def overhead(t: Target, s: Settings, say: Progress) -> dict[str, Any]:
    """Concurrency 1 against a zero-latency upstream: what the proxy adds to one request, and
    its CPU per request when nothing else competes (issue 11 compares this with 64 connections)."""
    say("overhead at concurrency 1")
    req = t.request(payloads.chat_body(payloads.GPT, latency_ms=0))
    runs, windows = [], []
    for _ in range(s.repeats):
        settle(t)
        with Monitor(t.process) as m:
            runs.append(wrk.run(t.url, [req], connections=1, duration_s=s.overhead_s, pinning=t.pinning))
        assert m.window is not None
        windows.append(m.window)
    return {
        "rps": stat([r.rps for r in runs]),
        "p50_ms": stat([r.p50_ms for r in runs]),
        "p90_ms": stat([r.p90_ms for r in runs]),
        "p99_ms": stat([r.p99_ms for r in runs]),
        "errors_pct": stat([r.errors_pct for r in runs]),
        **_cpu(windows, [r.requests for r in runs]),
    }


def throughput(t: Target, s: Settings, say: Progress) -> dict[str, Any]:
    """A ramp of connections with a fixed-latency upstream; `sustained` is the best level that
    keeps p99 and errors under the limits."""
    req = t.request(payloads.chat_body(payloads.GPT, latency_ms=s.upstream_latency_ms))
    levels = []
    for connections in s.ramp:
        say(f"throughput, {connections} connections, {s.upstream_latency_ms} ms upstream")
        levels.append(load_level(t, s, req, connections))
    ok = [
        lv
        for lv in levels
        if lv["p99_ms"]["median"] < s.p99_limit_ms and lv["errors_pct"]["median"] < s.error_limit_pct
    ]
    best = max(ok or levels, key=lambda lv: lv["rps"]["median"])
    return {
        "levels": levels,
        "sustained": {
            "connections": best["connections"],
            "within_limits": bool(ok),
            "rps": best["rps"]["median"],
            "p99_ms": best["p99_ms"]["median"],
        },
        "rss_peak_mib": max(lv["rss_peak_mib"] for lv in levels),
    }


def load_level(t: Target, s: Settings, req: HttpRequest, connections: int) -> dict[str, Any]:
    """One wrk level, repeated: rates, percentiles, errors, and the server tree's CPU over exactly
    the measured windows."""
    runs, windows = [], []
    for _ in range(s.repeats):
        settle(t)
        with Monitor(t.process) as m:
            runs.append(
                wrk.run(t.url, [req], connections=connections, duration_s=s.throughput_s, pinning=t.pinning)
            )
        assert m.window is not None
        windows.append(m.window)
    return {
        "connections": connections,
        "rps": stat([r.rps for r in runs]),
        "p50_ms": stat([r.p50_ms for r in runs]),
        "p90_ms": stat([r.p90_ms for r in runs]),
        "p99_ms": stat([r.p99_ms for r in runs]),
        "errors_pct": stat([r.errors_pct for r in runs]),
        **_cpu(windows, [r.requests for r in runs]),
    }


def streaming(t: Target, s: Settings, say: Progress) -> dict[str, Any]:
    """N concurrent streams at a fixed upstream pace: time to first token and per-chunk gaps."""
    say(f"streaming, {s.stream_concurrency} concurrent streams")
    pace = 1.0 / s.stream_tps
    body = payloads.chat_body(payloads.GPT, stream=True, tokens=s.stream_tokens, tps=s.stream_tps)
    runs = []
    for _ in range(s.repeats):
        settle(t)
        runs.append(
            streams.run(
                t.url,
                t.request(body),
                s.stream_concurrency,
                open_over_s=0.1,
                stall_gap_s=s.stall_factor * pace,
                timeout_s=10 + 2 * s.stream_tokens * pace,
            )
        )
    return {
        "streams": s.stream_concurrency,
        "upstream_pace_ms": round(pace * 1000, 3),
        "ttft_p50_ms": stat([percentile(r.ttft_ms, 50) for r in runs]),
        "ttft_p99_ms": stat([percentile(r.ttft_ms, 99) for r in runs]),
        "gap_p50_ms": stat([percentile(r.gaps_ms, 50) for r in runs]),
        "gap_p99_ms": stat([percentile(r.gaps_ms, 99) for r in runs]),
        "gap_max_ms": stat([r.max_gap_ms for r in runs]),
        # Issue 11's "largest added gap": each stream's largest gap, p99 over the streams.
        "stream_max_gap_p99_ms": stat([percentile(r.stream_max_gaps_ms, 99) for r in runs]),
        "stalls": stat([r.stalls for r in runs]),
        "errors": stat([r.errors for r in runs]),
    }


def max_streams(t: Target, s: Settings, idle_rss: int, say: Progress) -> dict[str, Any]:
    """Rising numbers of concurrent slow streams until one stalls (a gap > 10x the pace) or
    fails; memory per stream is the peak RSS above idle at the largest clean level."""
    pace = 1.0 / s.max_stream_tps
    body = payloads.chat_body(payloads.GPT, stream=True, tokens=s.max_stream_tokens, tps=s.max_stream_tps)
    levels: list[dict[str, Any]] = []
    for n in s.max_stream_levels:
        say(f"concurrent streams: {n}")
        settle(t)
        with Monitor(t.process, interval_s=0.1) as m:
            r = streams.run(
                t.url,
                t.request(body),
                n,
                open_over_s=s.max_stream_open_s,
                stall_gap_s=s.stall_factor * pace,
                timeout_s=5 + 3 * s.max_stream_tokens * pace,
            )
        assert m.window is not None
        levels.append(
            {
                "streams": n,
                "completed": r.completed,
                "stalls": r.stalls,
                "errors": r.errors,
                "ttft_p50_ms": percentile(r.ttft_ms, 50),
                "gap_p99_ms": percentile(r.gaps_ms, 99),
                "max_gap_ms": round(r.max_gap_ms, 3),
                "rss_peak_mib": mib(m.window.server_rss_peak_bytes),
                "error_samples": r.error_samples,
            }
        )
        if r.stalls or r.errors:
            break  # the next level would only fail harder
    clean = [lv for lv in levels if lv["completed"] == lv["streams"]]
    top = clean[-1] if clean else None
    per_stream = (top["rss_peak_mib"] - mib(idle_rss)) * 1024 / top["streams"] if top else 0.0
    return {
        "levels": levels,
        "max_without_stall": top["streams"] if top else 0,
        "memory_per_stream_kib": round(max(per_stream, 0.0), 2),
        "upstream_pace_ms": round(pace * 1000, 3),
    }


def cpu_heavy(t: Target, s: Settings, say: Progress, threads: int) -> dict[str, Any]:
    """Large Claude and Gemini conversations (about 100 kB each) converted both ways: the path
    where Python work, not waiting, dominates, so parallel threads could matter."""
    say(f"CPU-heavy conversions, {threads} threads")
    reqs = [t.request(payloads.large_conversation(m)) for m in (payloads.CLAUDE, payloads.GEMINI)]
    runs, windows = [], []
    for _ in range(s.repeats):
        settle(t)
        with Monitor(t.process) as m:
            runs.append(
                wrk.run(
                    t.url,
                    reqs,
                    connections=s.cpu_heavy_connections,
                    duration_s=s.cpu_heavy_s,
                    pinning=t.pinning,
                    timeout_s=10,
                )
            )
        assert m.window is not None
        windows.append(m.window)
    return {
        "threads": threads,
        "connections": s.cpu_heavy_connections,
        "rps": stat([r.rps for r in runs]),
        "p50_ms": stat([r.p50_ms for r in runs]),
        "p99_ms": stat([r.p99_ms for r in runs]),
        "errors_pct": stat([r.errors_pct for r in runs]),
        **_cpu(windows, [r.requests for r in runs]),
    }


def profile(t: Target, s: Settings, say: Progress, folder: Path, *, gil_only: bool) -> dict[str, Any]:
    """A py-spy CPU profile of the server at the reference load (20 ms upstream), in an extra pass
    whose numbers are not used: the sampler runs on the load cores and would otherwise slow the
    load generator and simulator during a measured level."""
    ref = s.reference_connections
    facts = {"connections": ref, "seconds": s.profile_s, "rate_hz": s.profile_rate_hz}
    tool = cpu_profile.find()
    if tool is None:
        return {
            **facts,
            **cpu_profile.empty("unavailable", "py-spy is not installed (pip install py-spy): no profile"),
        }
    say(f"CPU profile (py-spy), {ref} connections")
    req = t.request(payloads.chat_body(payloads.GPT, latency_ms=s.upstream_latency_ms))
    settle(t)
    out = folder / f"profile-{t.name.replace('/', '_')}.txt"
    rec = cpu_profile.Recording(
        tool, t.process.process.pid, s.profile_s, s.profile_rate_hz, t.pinning, out, gil_only=gil_only
    )
    try:
        with rec:
            # The load outlasts the recording: py-spy needs a moment to attach before it samples.
            wrk.run(t.url, [req], connections=ref, duration_s=s.profile_s + 1, pinning=t.pinning)
    except OSError as exc:  # py-spy could not be started: the profile is missing, the run goes on
        return {**facts, **cpu_profile.empty("failed", f"py-spy could not run: {exc}")}
    return {**facts, "tool": cpu_profile.version(tool), **rec.result()}


def load_generator_ceiling(t: Target, s: Settings, say: Progress) -> dict[str, Any]:
    """What wrk and the simulator reach together on their core, with no proxy at all: the most
    any mode could show. A mode near this number is limited by the harness, not by itself."""
    say("load generator ceiling")
    health = HttpRequest("GET", "/healthz", {}, b"")
    zero = t.request(payloads.chat_body(payloads.GPT, latency_ms=0))
    ref = s.reference_connections
    h, z = [], []
    for _ in range(s.repeats):
        settle(t)
        h.append(wrk.run(t.url, [health], connections=ref, duration_s=s.throughput_s, pinning=t.pinning))
        settle(t)
        z.append(wrk.run(t.url, [zero], connections=ref, duration_s=s.throughput_s, pinning=t.pinning))
    return {
        "connections": ref,
        "wrk_healthz_rps": stat([r.rps for r in h]),
        "direct_zero_latency_rps": stat([r.rps for r in z]),
        "direct_zero_latency_p99_ms": stat([r.p99_ms for r in z]),
    }


def _cpu(windows: list[Any], requests: list[int]) -> dict[str, Any]:
    cores = len(windows[0].cpu_per_core_pct)
    per_core = [stat([w.cpu_per_core_pct[c] for w in windows])["median"] for c in range(cores)]
    return {
        "cpu_per_core_pct": per_core,
        "server_cpu_pct": stat([100.0 * w.server_cpu_s / w.seconds for w in windows]),
        "cpu_ms_per_request": stat(
            [1000.0 * w.server_cpu_s / max(1, n) for w, n in zip(windows, requests, strict=False)]
        ),
        "rss_peak_mib": mib(max(w.server_rss_peak_bytes for w in windows)),
    }
