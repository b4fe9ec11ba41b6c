"""Non-streamed load with wrk: throughput, latency percentiles and errors.

wrk (C, epoll) is an established load generator that costs far less CPU per request than any
Python client, so it can drive the proxy on one core while sharing the other with the
simulator. A generated Lua script supplies the POST requests (round robin over several bodies)
and prints wrk's own latency histogram percentiles and error counts as one JSON line, so
nothing is parsed from wrk's human output.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bench.machine import Pinning
from bench.payloads import HttpRequest

MARK = "BENCH_JSON "

_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


@dataclass(frozen=True)
class WrkResult:
    connections: int
    duration_s: float
    requests: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    errors: int
    errors_pct: float
    error_kinds: dict[str, int]


def lua_script(requests: list[HttpRequest]) -> str:
    """A wrk script sending `requests` round robin (pre-formatted once, in `init`)."""
    lines = ["local reqs = {}", "local n = 0", "local i = 0", "function init(args)"]
    for r in requests:
        headers = ", ".join(f"[ {_lua(k)} ] = {_lua(v)}" for k, v in r.headers.items())
        body = _lua(r.body.decode())
        lines.append(
            f"  n = n + 1; reqs[n] = wrk.format({_lua(r.method)}, {_lua(r.path)}, {{{headers}}}, {body})"
        )
    lines += ["end", "function request()", "  i = i % n + 1", "  return reqs[i]", "end", _DONE]
    return "\n".join(lines)


def run(
    base_url: str,
    requests: list[HttpRequest],
    *,
    connections: int,
    duration_s: float,
    pinning: Pinning,
    timeout_s: float = 5.0,
    threads: int = 1,
) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua_script(requests))
        script = f.name
    try:
        argv = [
            *pinning.prefix(pinning.load_cores),
            "wrk",
            f"-t{threads}",
            f"-c{max(connections, threads)}",
            f"-d{max(1, round(duration_s))}s",
            f"--timeout={max(1, round(timeout_s))}s",
            "-s",
            script,
            base_url,
        ]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration_s + timeout_s + 30)
    finally:
        Path(script).unlink(missing_ok=True)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(MARK)), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result (status {done.returncode}): {done.stderr.strip()[-800:]}")
    return _result(json.loads(line[len(MARK) :]), connections)


def _result(raw: dict[str, object], connections: int) -> WrkResult:
    lat = raw["latency_us"]
    errs = raw["errors"]
    assert isinstance(lat, dict) and isinstance(errs, dict)
    requests = int(raw["requests"])  # type: ignore[call-overload]
    seconds = int(raw["duration_us"]) / 1e6  # type: ignore[call-overload]
    total_errors = sum(int(v) for v in errs.values())
    # Timeouts and connect errors are requests that never completed: count them in the total.
    attempted = requests + int(errs["timeout"]) + int(errs["connect"])
    return WrkResult(
        connections=connections,
        duration_s=round(seconds, 3),
        requests=requests,
        rps=round(requests / seconds, 1) if seconds else 0.0,
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
        p999_ms=lat["p999"] / 1000,
        max_ms=lat["max"] / 1000,
        mean_ms=round(lat["mean"] / 1000, 4),
        errors=total_errors,
        errors_pct=round(100.0 * total_errors / attempted, 4) if attempted else 100.0,
        error_kinds={k: int(v) for k, v in errs.items()},
    )


def _lua(text: str) -> str:
    """A Lua long-bracket string literal that cannot be closed early by the text."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    # A long bracket drops a newline right after the opening bracket: keep a leading one.
    lead = "\n" if text.startswith("\n") else ""
    return f"[{eq}[{lead}{text}]{eq}]"
