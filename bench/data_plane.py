"""Issue 11's data-plane targets (item 6), each as measured, against the direct call, pass or miss.

Issue 11 asks for every figure as a ratio to the direct call in the same run, so each entry
carries the mode's own figure (`measured`), the direct call's (`direct`), their ratio, and the
figure the target is about (`value`: an added latency, a ratio, a CPU time...). A miss says by
how much. Computed from results.json alone, like `bench.criteria`, so `--report-only` rebuilds it.
"""

from __future__ import annotations

from typing import Any

from bench.criteria import level, ok_runs
from bench.stats import median_of

STREAMS_TARGET = 1000


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    comp = results["comparisons"]
    lim = results["limit"]["scenarios"]
    ref = results["settings"]["reference_connections"]
    top_level = max(results["settings"].get("max_stream_levels") or [0])
    out: list[dict[str, Any]] = []
    for run in ok_runs(results):
        c, rid, scn = comp[run["id"]], run["id"], run["scenarios"]
        at_ref, lim_ref = level(scn["throughput"], ref), level(lim["throughput"], ref)
        p50, p50_d = median_of(scn["overhead"]["p50_ms"]), median_of(lim["overhead"]["p50_ms"])
        p99, p99_d = median_of(scn["overhead"]["p99_ms"]), median_of(lim["overhead"]["p99_ms"])
        ttft, ttft_d = median_of(scn["streaming"]["ttft_p50_ms"]), median_of(lim["streaming"]["ttft_p50_ms"])
        gap = median_of(scn["streaming"].get("stream_max_gap_p99_ms"))
        gap_d = median_of(lim["streaming"].get("stream_max_gap_p99_ms"))
        streams = _target(
            "streams_1000",
            "concurrent streams without a stall",
            rid,
            "streams",
            c["max_streams"],
            c["max_streams"],
            c["max_streams_direct"],
            ">=",
            STREAMS_TARGET,
        )
        if top_level < STREAMS_TARGET:
            streams |= {
                "status": "n/a",
                "note": f"this preset stops at {top_level} streams; the full preset goes to {STREAMS_TARGET}",
            }
        memory = _target(
            "rss_after_streams",
            "RSS after the stream test (whole server tree)",
            rid,
            "MiB",
            c["rss_after_mib"],
            c["rss_after_mib"],
            None,
            "<=",
            100.0,
        )
        if c.get("pss_after_mib") is not None:
            # A sum of RSS counts the pages a forked worker shares with its supervisor twice.
            pss = f"PSS (shared pages counted once): {c['pss_after_mib']:.0f} MiB"
            memory["note"] = f"{memory['note']}; {pss}" if memory["note"] else pss
        out += [
            _target(
                "added_p50_c1",
                "added latency p50, concurrency 1, zero-latency upstream",
                rid,
                "ms",
                c["added_p50_ms"],
                p50,
                p50_d,
                "<=",
                0.25,
            ),
            _target(
                "added_p99_c1",
                "added latency p99, concurrency 1, zero-latency upstream",
                rid,
                "ms",
                c["added_p99_ms"],
                p99,
                p99_d,
                "<=",
                0.5,
            ),
            _target(
                "rps_ratio_64",
                f"req/s at {ref} connections, 20 ms upstream, as a ratio to direct",
                rid,
                "x direct",
                c["rps_ratio_at_reference"],
                at_ref["rps"]["median"],
                lim_ref["rps"]["median"],
                ">=",
                0.88,
            ),
            _target(
                "p99_64",
                f"p99 at {ref} connections, 20 ms upstream",
                rid,
                "ms",
                c["p99_ms_at_reference"],
                at_ref["p99_ms"]["median"],
                lim_ref["p99_ms"]["median"],
                "<=",
                30.0,
            ),
            _target(
                "errors_64",
                f"errors at {ref} connections",
                rid,
                "%",
                c["errors_pct_at_reference"],
                c["errors_pct_at_reference"],
                lim_ref["errors_pct"]["median"],
                "<=",
                0.0,
            ),
            _target(
                "cpu_per_request_64",
                f"proxy CPU per non-streamed request at {ref} connections (direct: the simulator's)",
                rid,
                "ms",
                c["cpu_ms_per_request"],
                c["cpu_ms_per_request"],
                c["direct_cpu_ms_per_request"],
                "<=",
                0.30,
            ),
            _target(
                "cpu_growth",
                f"CPU per request at {ref} connections / at concurrency 1 (reference: the mode's c=1 figure)",
                rid,
                "x c=1",
                c["cpu_growth_ratio"],
                c["cpu_ms_per_request"],
                c["cpu_ms_per_request_c1"],
                "<=",
                1.2,
                direct_is_reference=False,
            ),
            _target(
                "added_ttft_32",
                "added time to first chunk, 32 streams x 20 chunks at 20 ms (p50)",
                rid,
                "ms",
                c["added_ttft_ms"],
                ttft,
                ttft_d,
                "<=",
                1.0,
            ),
            _target(
                "added_max_gap_32",
                "added largest gap between chunks, p99 over the 32 streams",
                rid,
                "ms",
                c["added_max_gap_p99_ms"],
                gap,
                gap_d,
                "<=",
                5.0,
            ),
            streams,
            memory,
        ]
    for bc in results.get("both_cores", []):
        entry = _target(
            "both_cores",
            f"{bc['connections']} connections, 20 ms upstream: process workers on every core "
            "/ 1 worker on one core",
            f"{bc['interpreter']}-{bc['variant']}",
            "x one core",
            bc.get("rps_ratio", 0.0),
            median_of(bc.get("both_cores", {}).get("rps")),
            median_of(bc.get("one_core", {}).get("rps")),
            ">=",
            1.8,
            direct_is_reference=False,
        )
        if bc["status"] != "ok":
            entry |= {"status": "n/a", "value": None, "note": bc.get("error") or bc.get("note", "")}
        else:
            entry["note"] = (entry["note"] + "; " if entry["note"] else "") + bc["note"]
        out.append(entry)
    return out


def _target(
    tid: str,
    text: str,
    run: str,
    unit: str,
    value: float,
    measured: float,
    direct: float | None,
    op: str,
    threshold: float,
    *,
    direct_is_reference: bool = True,
) -> dict[str, Any]:
    """`direct` is the direct call's figure; for the two ratios that compare a mode with itself
    (CPU growth, both cores) it is the figure the ratio divides by, and `reference` says so."""
    ok = value >= threshold if op == ">=" else value <= threshold
    return {
        "id": tid,
        "description": text,
        "run": run,
        "unit": unit,
        "value": value,
        "measured": measured,
        "direct": direct,
        "reference": "direct" if direct_is_reference else "self",
        "ratio_to_direct": round(measured / direct, 4) if direct else None,
        "op": op,
        "threshold": threshold,
        "status": "pass" if ok else "miss",
        "note": "" if ok else _miss(value, op, threshold, unit),
    }


def _miss(value: float, op: str, threshold: float, unit: str) -> str:
    gap = abs(value - threshold)
    times = f" ({value / threshold:.1f}x the target)" if threshold and op == "<=" else ""
    if op == ">=" and threshold:
        times = f" ({value / threshold:.0%} of the target)"
    return f"misses by {gap:.3g} {unit}{times}"
