"""Ratios to the limit, mode-vs-mode ratios, and the pass/fail lists people decide from.

Two lists are evaluated: the seed plan's success criteria (3x throughput, -30% latency, CPU > 70%,
< 0.1% errors under 2x load) and SPEC §9's targets for this 2-core machine. Both are computed
from results.json alone, so the report can be rebuilt from a saved file. A criterion that
cannot be evaluated (no free-threaded interpreter) says "n/a" and why, never a made-up number.
"""

from __future__ import annotations

from typing import Any

from bench.stats import median_of


def level(throughput: dict[str, Any], connections: int) -> dict[str, Any]:
    return next(lv for lv in throughput["levels"] if lv["connections"] == connections)


def best_cpu_heavy(scn: dict[str, Any]) -> dict[str, Any]:
    points = [p for p in scn["cpu_heavy"]["points"] if "rps" in p]
    return max(points, key=lambda p: p["rps"]["median"]) if points else {"threads": 0, "rps": {"median": 0.0}}


def comparisons(results: dict[str, Any]) -> dict[str, Any]:
    """Each run against the direct limit (differences for latencies, ratios for rates)."""
    s = results["settings"]
    ref = s["reference_connections"]
    lim = results["limit"]["scenarios"]
    out: dict[str, Any] = {}
    for run in ok_runs(results):
        scn = run["scenarios"]
        at_ref, lim_ref = level(scn["throughput"], ref), level(lim["throughput"], ref)
        out[run["id"]] = {
            "added_p50_ms": _r(median_of(scn["overhead"]["p50_ms"]) - median_of(lim["overhead"]["p50_ms"])),
            "added_p99_ms": _r(median_of(scn["overhead"]["p99_ms"]) - median_of(lim["overhead"]["p99_ms"])),
            "rps_at_reference": at_ref["rps"]["median"],
            "rps_ratio_at_reference": _ratio(at_ref["rps"]["median"], lim_ref["rps"]["median"]),
            "p99_ms_at_reference": at_ref["p99_ms"]["median"],
            "errors_pct_at_2x": level(scn["throughput"], 2 * ref)["errors_pct"]["median"],
            "sustained_rps": scn["throughput"]["sustained"]["rps"],
            "sustained_ratio": _ratio(
                scn["throughput"]["sustained"]["rps"], lim["throughput"]["sustained"]["rps"]
            ),
            "cpu_ms_per_request": at_ref["cpu_ms_per_request"]["median"],
            # Issue 11: CPU per request at concurrency 1 (zero-latency upstream) and how much it
            # grows at the reference load; the simulator's own figures are the direct reference.
            "cpu_ms_per_request_c1": _cpu_c1(scn),
            "cpu_growth_ratio": _ratio(at_ref["cpu_ms_per_request"]["median"], _cpu_c1(scn)),
            "direct_cpu_ms_per_request": lim_ref["cpu_ms_per_request"]["median"],
            "direct_cpu_ms_per_request_c1": _cpu_c1(lim),
            "errors_pct_at_reference": at_ref["errors_pct"]["median"],
            "p99_ratio_at_reference": _ratio(at_ref["p99_ms"]["median"], lim_ref["p99_ms"]["median"]),
            "p50_ratio_c1": _ratio(
                median_of(scn["overhead"]["p50_ms"]), median_of(lim["overhead"]["p50_ms"])
            ),
            "p99_ratio_c1": _ratio(
                median_of(scn["overhead"]["p99_ms"]), median_of(lim["overhead"]["p99_ms"])
            ),
            "server_cores_busy_pct": _server_busy(at_ref, results),
            # The server tree's own CPU time over the window, per server core: unlike the cores'
            # busy share it does not count other processes that happen to share the machine.
            "server_cpu_share_pct": _r(
                at_ref["server_cpu_pct"]["median"] / len(results["machine"]["pinning"]["server_cores"])
            ),
            "added_ttft_ms": _r(
                median_of(scn["streaming"]["ttft_p50_ms"]) - median_of(lim["streaming"]["ttft_p50_ms"])
            ),
            "added_gap_p50_ms": _r(
                median_of(scn["streaming"]["gap_p50_ms"]) - median_of(lim["streaming"]["gap_p50_ms"])
            ),
            "added_gap_p99_ms": _r(
                median_of(scn["streaming"]["gap_p99_ms"]) - median_of(lim["streaming"]["gap_p99_ms"])
            ),
            "added_ttft_p99_ms": _r(
                median_of(scn["streaming"]["ttft_p99_ms"]) - median_of(lim["streaming"]["ttft_p99_ms"])
            ),
            "ttft_ratio": _ratio(
                median_of(scn["streaming"]["ttft_p50_ms"]), median_of(lim["streaming"]["ttft_p50_ms"])
            ),
            "added_max_gap_p99_ms": _r(_max_gap(scn) - _max_gap(lim)),
            "max_gap_ratio": _ratio(_max_gap(scn), _max_gap(lim)),
            "max_streams": scn["max_streams"]["max_without_stall"],
            "max_streams_direct": lim["max_streams"]["max_without_stall"],
            "memory_per_stream_kib": scn["max_streams"]["memory_per_stream_kib"],
            "cpu_heavy_best_rps": best_cpu_heavy(scn)["rps"]["median"],
            "cpu_heavy_best_threads": best_cpu_heavy(scn)["threads"],
            "cpu_heavy_ratio": _ratio(
                best_cpu_heavy(scn)["rps"]["median"], best_cpu_heavy(lim)["rps"]["median"]
            ),
            "rss_idle_mib": run["rss_mib"]["idle"],
            "rss_after_mib": run["rss_mib"]["after"],
            "pss_after_mib": run["rss_mib"].get("after_pss"),
        }
    return out


def _cpu_c1(scn: dict[str, Any]) -> float:
    """CPU per request at concurrency 1; 0 in results written before the overhead scenario had it."""
    return median_of(scn["overhead"].get("cpu_ms_per_request"))


def _max_gap(scn: dict[str, Any]) -> float:
    """p99 over the streams of each stream's largest gap (0 in results written before it existed)."""
    return median_of(scn["streaming"].get("stream_max_gap_p99_ms"))


def seed_criteria(results: dict[str, Any], comp: dict[str, Any]) -> list[dict[str, Any]]:
    runs = ok_runs(results)
    nogil = [r for r in runs if r["variant"] == "nogil"]
    gil = [r for r in runs if r["variant"] == "gil"]
    out: list[dict[str, Any]] = []
    if nogil and gil:
        best_ft = max(nogil, key=lambda r: comp[r["id"]]["sustained_rps"])
        best_gil = max(gil, key=lambda r: comp[r["id"]]["sustained_rps"])
        ratio = _ratio(comp[best_ft["id"]]["sustained_rps"], comp[best_gil["id"]]["sustained_rps"])
        out.append(
            _crit(
                "throughput_3x",
                "no-GIL sustained requests/s >= 3x the best GIL mode",
                None,
                ratio,
                ">=",
                3.0,
                f"{best_ft['id']} vs {best_gil['id']}",
            )
        )
        lat = _ratio(comp[best_ft["id"]]["p99_ms_at_reference"], comp[best_gil["id"]]["p99_ms_at_reference"])
        out.append(
            _crit(
                "latency_minus_30pct",
                "no-GIL p99 at the reference load <= 0.7x the GIL mode's",
                None,
                lat,
                "<=",
                0.7,
                f"{best_ft['id']} vs {best_gil['id']}",
            )
        )
    else:
        why = "no free-threaded interpreter was benchmarked" if not nogil else "no GIL run to compare with"
        out.append(_na("throughput_3x", "no-GIL sustained requests/s >= 3x the best GIL mode", why))
        out.append(_na("latency_minus_30pct", "no-GIL p99 at the reference load <= 0.7x the GIL mode's", why))
    for r in runs:
        c = comp[r["id"]]
        out.append(
            _crit(
                "cpu_over_70pct",
                "server CPU (own process tree) > 70% of its cores at the reference load",
                r["id"],
                c["server_cpu_share_pct"],
                ">",
                70.0,
            )
        )
        out.append(
            _crit(
                "errors_under_2x_load",
                "< 0.1% errors at twice the reference connections",
                r["id"],
                c["errors_pct_at_2x"],
                "<",
                0.1,
            )
        )
    return out


def spec_targets(results: dict[str, Any], comp: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in ok_runs(results):
        c, rid = comp[r["id"]], r["id"]
        out += [
            _crit("added_p50", "added latency p50 at concurrency 1 (ms)", rid, c["added_p50_ms"], "<=", 0.25),
            _crit("added_p99", "added latency p99 at concurrency 1 (ms)", rid, c["added_p99_ms"], "<=", 0.5),
            _crit(
                "rps_ratio_64",
                "requests/s at 64 connections vs direct",
                rid,
                c["rps_ratio_at_reference"],
                ">=",
                0.88,
            ),
            _crit(
                "p99_64",
                "p99 at 64 connections, 20 ms upstream (ms)",
                rid,
                c["p99_ms_at_reference"],
                "<=",
                30.0,
            ),
            _crit(
                "cpu_per_request",
                "proxy CPU per non-streamed request (ms)",
                rid,
                c["cpu_ms_per_request"],
                "<=",
                0.30,
            ),
            _crit(
                "added_ttft", "added time to first chunk, 32 streams (ms)", rid, c["added_ttft_ms"], "<=", 1.0
            ),
            _crit(
                "added_gap",
                "added p99 gap between chunks, 32 streams (ms)",
                rid,
                c["added_gap_p99_ms"],
                "<=",
                5.0,
            ),
            _crit("streams_1000", "concurrent streams without a stall", rid, c["max_streams"], ">=", 1000),
            _crit("rss_idle", "RSS idle (MiB, whole server tree)", rid, c["rss_idle_mib"], "<=", 60.0),
            _crit("rss_after", "RSS after the streaming test (MiB)", rid, c["rss_after_mib"], "<=", 100.0),
        ]
    return out


def ok_runs(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in results.get("runs", []) if r.get("status") == "ok"]


def evaluate(results: dict[str, Any]) -> dict[str, Any]:
    """Adds comparisons, criteria and targets to `results` (in place) and returns it."""
    comp = comparisons(results)
    results["comparisons"] = comp
    results["criteria"] = seed_criteria(results, comp)
    results["targets"] = spec_targets(results, comp)
    return results


def _server_busy(at_ref: dict[str, Any], results: dict[str, Any]) -> float:
    cores = results["machine"]["pinning"]["server_cores"]
    per_core = at_ref["cpu_per_core_pct"]
    values = [per_core[c] for c in cores if c < len(per_core)]
    return _r(sum(values) / len(values)) if values else 0.0


def _crit(
    cid: str, text: str, run: str | None, value: float, op: str, threshold: float, note: str = ""
) -> dict[str, Any]:
    ok = {">=": value >= threshold, "<=": value <= threshold, ">": value > threshold, "<": value < threshold}[
        op
    ]
    return {
        "id": cid,
        "description": text,
        "run": run,
        "value": value,
        "op": op,
        "threshold": threshold,
        "status": "pass" if ok else "fail",
        "note": note,
    }


def _na(cid: str, text: str, why: str) -> dict[str, Any]:
    return {
        "id": cid,
        "description": text,
        "run": None,
        "value": None,
        "op": "",
        "threshold": None,
        "status": "n/a",
        "note": why,
    }


def _ratio(a: float, b: float) -> float:
    return round(a / b, 4) if b else 0.0


def _r(x: float) -> float:
    return round(x, 4)
