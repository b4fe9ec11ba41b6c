"""Issue 25's per-core figures from measured numbers: the criteria, the ratios, perf's count and
the report's table. Pure functions (no processes), so tests/bench checks them directly.

A level counts only within the public benchmarks' rule: p99 under 1 s and no error at all. The
ratios put ftproxy beside the instant upstream called directly and beside a trivial WSGI app on
the same Granian settings, all measured in the same run on the same core, and beside a trivial
blocking proxy on those settings (the floor any Python proxy on Granian pays for the second hop).
"""

from __future__ import annotations

import re
from typing import Any

P99_LIMIT_MS = 1000.0
# The target names the figures look up (bench.per_core measures them under these names).
TRIVIAL_APP = "trivial WSGI app on Granian"
PROXY_FLOOR = "trivial WSGI proxy on Granian (GPT request)"

# Issue 25: published 4-core runs of compiled gateways, divided by 4 (req/s per core).
PUBLIC_PER_CORE = (
    ("Bifrost (Go)", 1560),
    ("Helicone (Rust)", 2570),
    ("Kong (Lua)", 3580),
    ("APISIX (Lua)", 5010),
    ("agentgateway (Rust)", 7430),
)


def within_limits(level: dict[str, Any]) -> bool:
    """p99 < 1 s and 0 errors (not "few": the public runs count any error as a failed level)."""
    return float(level["p99_ms"]) < P99_LIMIT_MS and int(level["errors"]) == 0


def ratio(value: float | None, base: float | None) -> float | None:
    if value is None or not base:
        return None
    return round(value / base, 4)


def parse_perf_stat(text: str, event: str = "instructions") -> int | None:
    """The count of `event` from `perf stat -x,` output (CSV: value,unit,event,...); None when
    perf could not count it (`<not supported>`, `<not counted>`, or no such line)."""
    for line in text.splitlines():
        fields = line.split(",")
        if len(fields) >= 3 and fields[2].split(":")[0] == event:
            try:
                return int(float(fields[0]))
            except ValueError:
                return None
    return None


def per_request(total: float | None, requests: int) -> float | None:
    return None if total is None or requests <= 0 else total / requests


def events_per_s(events: int, wall_s: float) -> float:
    return round(events / wall_s, 1) if wall_s > 0 else 0.0


def compare(
    proxy: dict[str, Any],
    direct: dict[str, Any],
    trivial: dict[str, Any],
    floor: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One route's figures beside its direct call (same upstream request), the trivial app and,
    when measured, the trivial proxy (`floor`): the added latency at concurrency 1 split into
    what the floor adds over the direct call (Granian, the second hop, the kernel's wake-ups) and
    what the route adds over the floor (ftproxy's own work)."""
    p64, d64, t64 = proxy["c64"], direct["c64"], trivial["c64"]
    split: dict[str, Any] = {}
    if floor is not None:
        split = {
            "floor_added_p50_c1_ms": round(floor["c1"]["p50_ms"] - direct["c1"]["p50_ms"], 3),
            "added_p50_c1_over_floor_ms": round(proxy["c1"]["p50_ms"] - floor["c1"]["p50_ms"], 3),
            "cpu_ms_per_request_over_floor": _minus(
                p64["cpu_ms_per_request"], floor["c64"]["cpu_ms_per_request"]
            ),
        }
    return {
        "rps": p64["rps"],
        "within_limits": within_limits(p64),
        "rps_vs_direct": ratio(p64["rps"], d64["rps"]),
        "rps_vs_trivial": ratio(p64["rps"], t64["rps"]),
        "cpu_ms_per_request": p64["cpu_ms_per_request"],
        "direct_cpu_ms_per_request": d64["cpu_ms_per_request"],
        "instructions_per_request": p64.get("instructions_per_request"),
        "added_p50_c1_ms": round(proxy["c1"]["p50_ms"] - direct["c1"]["p50_ms"], 3),
        "added_p99_c1_ms": round(proxy["c1"]["p99_ms"] - direct["c1"]["p99_ms"], 3),
        "cpu_ms_per_request_c1": proxy["c1"]["cpu_ms_per_request"],
        **split,
    }


def _minus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 4)


def merge_instructions(data: dict[str, Any]) -> None:
    """callgrind's counts into the levels where perf had none, and into each route's figures:
    beside the direct call, and what ftproxy adds over the trivial app (its own Python, the
    upstream call, the conversion), at concurrency 1."""
    counted = data.get("instructions") or {}
    for key, levels in counted.items():
        for level, c in levels.items():
            target = data["targets"].get(key, {}).get(level)
            if target is not None and target.get("instructions_per_request") is None:
                target["instructions_per_request"] = c["per_request"]
    trivial = counted.get(TRIVIAL_APP, {}).get("c1", {}).get("per_request")
    floor = counted.get(PROXY_FLOOR, {}).get("c1", {}).get("per_request")
    for route, figures in data.get("routes", {}).items():
        mine = counted.get(f"ftproxy: {route}", {}).get("c1", {}).get("per_request")
        direct = counted.get(f"direct: {route}", {}).get("c1", {}).get("per_request")
        figures["instructions_c1"] = mine
        figures["instructions_c1_vs_direct"] = ratio(mine, direct)
        figures["instructions_c1_over_trivial"] = mine - trivial if mine and trivial else None
        figures["instructions_c1_over_floor"] = mine - floor if mine and floor else None


def problems(data: dict[str, Any]) -> list[str]:
    """What is missing from a per-core result (numbers, not their values): empty when complete.
    A level outside the limits is a finding, not a problem."""
    found = []
    for name, t in data.get("targets", {}).items():
        for level in ("c64", "c1"):
            if not t.get(level, {}).get("requests"):
                found.append(f"{name}: no request completed at {level}")
    for route in data.get("expected_routes", []):
        if route not in data.get("routes", {}):
            found.append(f"route {route!r}: no figures")
    streams = data.get("streams", {})
    for side in ("direct", "proxy"):
        if not streams.get(side, {}).get("events"):
            found.append(f"streams ({side}): no event relayed")
    return found


def _n(value: float | None, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}" if digits else f"{value:,.0f}"


def render(data: dict[str, Any]) -> str:
    """The report's "Per core, instant upstream" section."""
    s = data["settings"]
    lines = [
        "## Per core, instant upstream (issue 25)",
        "",
        f"Server on core(s) {data['server_cores']}, wrk and the upstream on {data['load_cores']}; "
        f"{s['connections']} connections, {s['seconds']} s per target, fixed level (no ramp); a level "
        "counts only with p99 < 1 s and 0 errors. CPU per request: the measured process tree's CPU "
        "time (user + system) over the window / requests completed. Instructions: "
        f"{data['perf']['note']}.",
        "",
        f"Machine at the start: per-core busy % {data.get('busy_before_pct', 'n/a')}, load average "
        f"{data.get('load_average', 'n/a')} (anything above 0 competes with the measured processes).",
        "",
        "| target | req/s | p99 ms | errors | within limits | CPU ms/req | instr/req "
        "| p50 c1 ms | p99 c1 ms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, t in data["targets"].items():
        c64, c1 = t["c64"], t["c1"]
        lines.append(
            f"| {name} | {_n(c64['rps'], 0)} | {_n(c64['p99_ms'], 2)} | {c64['errors']} | "
            f"{'yes' if within_limits(c64) else '**no**'} | {_n(c64['cpu_ms_per_request'])} | "
            f"{_n(c64.get('instructions_per_request'), 0)} | {_n(c1['p50_ms'])} | {_n(c1['p99_ms'])} |"
        )
    lines += [
        "",
        "| route | req/s | x direct | x trivial app | CPU ms/req (direct) "
        "| added p50 c1 ms (proxy floor + ftproxy's own) | added p99 c1 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for route, c in data["routes"].items():
        lines.append(
            f"| {route} | {_n(c['rps'], 0)} | {_n(c['rps_vs_direct'], 2)} | {_n(c['rps_vs_trivial'], 2)} | "
            f"{_n(c['cpu_ms_per_request'])} ({_n(c['direct_cpu_ms_per_request'])}) | "
            f"{_n(c['added_p50_c1_ms'])}{_split(c)} | {_n(c['added_p99_c1_ms'])} |"
        )
    st = data["streams"]
    lines += [
        "",
        f"Streams ({st['streams']} concurrent, {st['tokens']} events each, upstream as fast as possible): "
        f"ftproxy relays {_n(st['proxy']['events_per_s'], 0)} events/s "
        f"({_n(ratio(st['proxy']['events_per_s'], st['direct']['events_per_s']), 2)} x direct, "
        f"{_n(st['direct']['events_per_s'], 0)}); stalls {st['proxy']['stalls']}, "
        f"errors {st['proxy']['errors']}.",
        "",
        "Published per-core figures for context (4-core runs / 4): "
        + ", ".join(f"{n} ~{v:,}" for n, v in PUBLIC_PER_CORE)
        + ".",
    ]
    prof = data.get("profile") or {}
    if prof.get("top_self"):
        lines += [
            "",
            "CPU profile of ftproxy (GPT passthrough, 64 connections), top functions by own samples:",
            "",
        ]
        lines += [f"- {row['pct']} % {row['function']}" for row in prof["top_self"][:10]]
    elif prof:
        lines += ["", f"CPU profile: {prof.get('note', 'none')}"]
    lines += _instructions_table(data)
    if data.get("notes"):
        lines += ["", *[f"- {n}" for n in data["notes"]]]
    return "\n".join(lines) + "\n"


def _split(route: dict[str, Any]) -> str:
    if route.get("floor_added_p50_c1_ms") is None:
        return ""
    return f" ({_n(route['floor_added_p50_c1_ms'])} + {_n(route['added_p50_c1_over_floor_ms'])})"


def _instructions_table(data: dict[str, Any]) -> list[str]:
    counted = data.get("instructions")
    note = (data.get("callgrind") or {}).get("note", "not run")
    if not counted:
        return ["", f"Instructions per request (callgrind): {note}."]
    lines = [
        "",
        f"Instructions per request ({note}; concurrency 1: the median of three counts, each run "
        "listed; 64 connections: one count), split by binary at concurrency 1:",
        "",
        "| target | c1 | c1 runs | c64 | split at c1 |",
        "|---|---|---|---|---|",
    ]
    for key, levels in counted.items():
        c1, c64 = levels["c1"], levels["c64"]
        split = ", ".join(f"{_binary(name)} {v:,}" for name, v in c1["by_binary"].items())
        runs = " / ".join(f"{r:,}" for r in c1.get("runs", []))
        lines.append(f"| {key} | {c1['per_request']:,} | {runs} | {c64['per_request']:,} | {split} |")
    lines += [
        "",
        "| route | instr/req c1 | x direct | over the trivial app | over the proxy floor |",
        "|---|---|---|---|---|",
    ]
    for route, c in data.get("routes", {}).items():
        lines.append(
            f"| {route} | {_n(c.get('instructions_c1'), 0)} | {_n(c.get('instructions_c1_vs_direct'), 2)} | "
            f"{_n(c.get('instructions_c1_over_trivial'), 0)} | {_n(c.get('instructions_c1_over_floor'), 0)} |"
        )
    return lines


def _binary(file_name: str) -> str:
    """`libpython3.13.so.1.0` -> `libpython3.13`, `_granian.cpython-313-x86_64-linux-gnu.so` -> `_granian`."""
    return re.sub(r"(\.cpython-.*|\.so(\.\d+)*)$", "", file_name)
