# ruff: noqa: E501  (Markdown table rows and sentences read better unbroken)
"""report.md: the human report, rebuilt from results.json alone (`python -m bench --report-only`).

Order follows the questions ops ask: what was measured on what; the headline per mode; is the
harness itself the limit; each mode against the direct limit and against each other; the seed
plan's criteria and SPEC §9's targets; issue 11's targets (with CPU per request and the
both-cores ratio) right after the headline; then the detail tables, the CPU profiles and the plots.
"""

from __future__ import annotations

from typing import Any

from bench.criteria import level, ok_runs
from bench.stats import median_of

PLOTS = {
    "throughput_vs_threads.png": "CPU-heavy conversions: requests/s vs server threads",
    "latency_percentiles.png": "Latency percentiles (concurrency 1, zero-latency upstream; and at the reference load)",
    "streams_vs_memory.png": "Concurrent streams vs server RSS",
    "throughput_ramp.png": "Requests/s vs connections (20 ms upstream)",
}


def render(results: dict[str, Any], plots: list[str]) -> str:
    s = results["settings"]
    m = results["machine"]
    comp = results.get("comparisons", {})
    runs = ok_runs(results)
    out: list[str] = [
        "# ftproxy benchmark: GIL vs no-GIL, and ftproxy vs Gunicorn",
        "",
        f"Preset **{results['preset']}**, started {results['started_at']}, took {results['duration_s']:.0f} s. "
        f"Schema `{results['schema']}` v{results['schema_version']}.",
        "",
        f"Machine: {m['cpu_count']} x {m['cpu_model']}, {m['memory_bytes'] / 2**30:.1f} GiB, Linux {m['kernel']}. "
        f"Pinning: server on cores {_cores(m['pinning']['server_cores'])}, load generators and simulator on "
        f"cores {_cores(m['pinning']['load_cores'])} (taskset: {'yes' if m['pinning']['taskset'] else 'no'}). "
        f"wrk: {results['tools'].get('wrk')}.",
        "",
        "## Interpreters",
        "",
        "| key | version | build | path | granian | orjson | venv |",
        "|---|---|---|---|---|---|---|",
    ]
    for i in results["interpreters"]:
        build = "free-threaded" if i["free_threaded_build"] else "GIL"
        p = i["packages"]
        out.append(
            f"| {i['key']} | {i['version']} | {build} | `{i['real_path']}` | {p.get('granian')} | "
            f"{p.get('orjson') or '-'} | {'reused' if i['venv_reused'] else 'built'} |"
        )
    out += [""] + [f"> **Note:** {n}" for n in results["notes"]]
    foreign = _foreign_load(results)
    if foreign > 20:
        out.append(
            f"> **Warning:** while the direct limit was measured (nothing of this run on the server cores) the server "
            f"cores were {foreign:.0f}% busy on average: other processes shared the machine, so absolute numbers are "
            "noisy; compare ratios within this run and repeat on an idle machine before deciding."
        )
    out.append("")
    failed = [r for r in results.get("runs", []) if r.get("status") != "ok"]
    for r in failed:
        out.append(f"> **Failed:** {r['id']}: {str(r.get('error', ''))[:400]}")
    out += _headline(runs, comp, s, results)
    out += _data_plane(results)
    out += _cpu_per_request(runs, comp, s)
    out += _both_cores(results)
    out += _ceiling(results)
    out += _vs_limit(runs, comp, s)
    out += _matrix("Sustained requests/s (20 ms upstream), row / column", runs, comp, "sustained_rps")
    out += _matrix("CPU-heavy conversions, best requests/s, row / column", runs, comp, "cpu_heavy_best_rps")
    out += _criteria(results)
    out += _details(runs, results)
    out += _profiles(runs)
    out += ["## Plots", ""]
    for name in plots:
        out += [f"### {PLOTS.get(name, name)}", "", f"![{name}]({name})", ""]
    out += _reading(results)
    return "\n".join(out) + "\n"


def _headline(
    runs: list[dict[str, Any]], comp: dict[str, Any], s: dict[str, Any], results: dict[str, Any]
) -> list[str]:
    lim = results["limit"]["scenarios"]
    ref = s["reference_connections"]
    out = [
        "## Headline",
        "",
        f"Median of {s['repeats']} repeat(s). *Added* = this mode minus the direct call in the same run. "
        f"Throughput: {s['upstream_latency_ms']} ms upstream, {ref} connections; *sustained* = best ramp level "
        f"with p99 < {s['p99_limit_ms']:.0f} ms and < {s['error_limit_pct']}% errors.",
        "",
        "| run | GIL (server's /metrics) | server | added p50 / p99 ms (c=1) | req/s @64 | p99 ms @64 | sustained req/s "
        "| CPU ms/req | added TTFT ms | added gap p99 ms | streams w/o stall | RSS idle / after MiB | CPU-heavy req/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| **direct (limit)** | - | simulator | 0 / 0 | {level(lim['throughput'], ref)['rps']['median']:.0f} | "
        f"{level(lim['throughput'], ref)['p99_ms']['median']:.1f} | {lim['throughput']['sustained']['rps']:.0f} | - | 0 | 0 | "
        f"{lim['max_streams']['max_without_stall']} | - | {lim['cpu_heavy']['points'][0]['rps']['median']:.0f} |",
    ]
    for r in runs:
        c = comp[r["id"]]
        gil = {1.0: "on", 0.0: "off"}.get(r["server"]["gil_enabled"], "?")
        out.append(
            f"| {r['id']} | {gil} | {r['server']['launcher'].get('serving_with', r['mode'])} | "
            f"{c['added_p50_ms']:.3f} / {c['added_p99_ms']:.3f} | {c['rps_at_reference']:.0f} | "
            f"{c['p99_ms_at_reference']:.1f} | {c['sustained_rps']:.0f} | {c['cpu_ms_per_request']:.3f} | "
            f"{c['added_ttft_ms']:.2f} | {c['added_gap_p99_ms']:.2f} | {c['max_streams']} | "
            f"{c['rss_idle_mib']:.0f} / {c['rss_after_mib']:.0f} | {c['cpu_heavy_best_rps']:.0f} "
            f"({c['cpu_heavy_best_threads']} thr) |"
        )
    return [*out, ""]


def _data_plane(results: dict[str, Any]) -> list[str]:
    """Issue 11 item 6, one table per run: what the closing note quotes."""
    entries = results.get("data_plane", [])
    if not entries:
        return []
    mark = {"pass": "pass", "miss": "**MISS**", "n/a": "n/a"}
    out = [
        "## Data-plane targets (issue 11)",
        "",
        "Each figure next to the direct call's in this run (the simulator called without the proxy; for CPU, the "
        "simulator's own CPU per request; for CPU growth and both cores, the mode's own reference figure). "
        "*value* is what the target is about (an added latency, a ratio, a CPU time).",
        "",
    ]
    for run in dict.fromkeys(e["run"] for e in entries):
        out += [
            f"### {run}",
            "",
            "| target | value | mode | direct (or reference) | ratio | target | result | note |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for e in (x for x in entries if x["run"] == run):
            value = "-" if e["value"] is None else f"{_num(e['value'])} {e['unit']}"
            direct = "-" if e["direct"] is None else _num(e["direct"])
            direct += " (self)" if e.get("reference") == "self" and e["direct"] is not None else ""
            ratio = "-" if e["ratio_to_direct"] is None else f"{e['ratio_to_direct']:.2f}x"
            out.append(
                f"| {e['description']} | {value} | {_num(e['measured'])} | {direct} | {ratio} | "
                f"{e['op']} {e['threshold']:g} | {mark.get(e['status'], e['status'])} | {e['note']} |"
            )
        out.append("")
    return out


def _cpu_per_request(runs: list[dict[str, Any]], comp: dict[str, Any], s: dict[str, Any]) -> list[str]:
    ref = s["reference_connections"]
    out = [
        "## CPU per non-streamed request",
        "",
        "Server process tree CPU time over the measured window / requests completed. c=1: zero-latency upstream; "
        f"c={ref}: {s['upstream_latency_ms']} ms upstream. *Simulator* is the direct call's (the upstream's own cost).",
        "",
        f"| run | ms/req c=1 | ms/req c={ref} | c={ref} / c=1 | simulator c=1 | simulator c={ref} |",
        "|---|---|---|---|---|---|",
    ]
    for r in runs:
        c = comp[r["id"]]
        out.append(
            f"| {r['id']} | {c['cpu_ms_per_request_c1']:.3f} | {c['cpu_ms_per_request']:.3f} | "
            f"{c['cpu_growth_ratio']:.2f} | {c['direct_cpu_ms_per_request_c1']:.3f} | "
            f"{c['direct_cpu_ms_per_request']:.3f} |"
        )
    return [*out, ""]


def _both_cores(results: dict[str, Any]) -> list[str]:
    entries = results.get("both_cores", [])
    if not entries:
        return []
    out = [
        "## Both cores: process workers on every core vs one worker on one core",
        "",
        "GIL build, same load for both (20 ms upstream). wrk and the simulator stay on the load core(s), so with "
        "every core the server shares a core with them: on a 2-core machine this ratio is a floor.",
        "",
        "| interpreter | connections | one core: req/s, p99 ms, CPU ms/req | every core: workers, req/s, p99 ms, "
        "CPU ms/req | ratio | note |",
        "|---|---|---|---|---|---|",
    ]
    for bc in entries:
        if bc["status"] != "ok":
            out.append(
                f"| {bc['interpreter']} | {bc['connections']} | - | - | - | {bc['status']}: "
                f"{str(bc.get('error') or bc['note'])[:300]} |"
            )
            continue
        one, two = bc["one_core"], bc["both_cores"]
        out.append(
            f"| {bc['interpreter']} | {bc['connections']} | {one['rps']['median']:.0f}, "
            f"{one['p99_ms']['median']:.1f}, {one['cpu_ms_per_request']['median']:.3f} | {two['workers']} on "
            f"{_cores(two['server_cores'])}: {two['rps']['median']:.0f}, {two['p99_ms']['median']:.1f}, "
            f"{two['cpu_ms_per_request']['median']:.3f} | {bc['rps_ratio']:.2f}x | {bc['note']} |"
        )
    return [*out, ""]


def _profiles(runs: list[dict[str, Any]]) -> list[str]:
    out = [
        "## CPU profiles (py-spy, at the reference load)",
        "",
        "Whole server tree, taken in an extra pass of the reference load whose numbers are not used. GIL builds: "
        "the thread holding the GIL is sampled (who runs Python; py-spy reads the GIL's *last* holder, so a thread "
        "that released the GIL into a socket read shows there while the GIL is free); free-threaded builds: every "
        "running thread. *own*: the function was the innermost frame; *total*: anywhere on the stack, leaving out "
        'the frames every stack of a process shares. "native code only": the sampled thread had no Python frame '
        "(the server's Rust or C code holding the GIL). Raw collapsed stacks: `profiles/` beside this report.",
        "",
    ]
    for r in runs:
        p = r.get("profile")
        if not p:
            continue
        if p["status"] != "ok" or not p["top_self"]:
            out += [f"- **{r['id']}**: no profile ({p['status']}): {p['note']}", ""]
            continue
        out += [
            f"### {r['id']} ({p['samples']} samples, {p.get('seconds', '?')} s at {p.get('rate_hz', '?')} Hz, "
            f"{p.get('sampled', 'running threads')})",
            "",
            *([f"> {p['note']}", ""] if p.get("note") else []),
            "| # | own % | function (own) | total % | function (total) |",
            "|---|---|---|---|---|",
        ]
        for i in range(max(len(p["top_self"]), len(p["top_total"]))):
            a = p["top_self"][i] if i < len(p["top_self"]) else None
            b = p["top_total"][i] if i < len(p["top_total"]) else None
            out.append(
                f"| {i + 1} | {a['pct'] if a else ''} | {'`' + a['function'] + '`' if a else ''} | "
                f"{b['pct'] if b else ''} | {'`' + b['function'] + '`' if b else ''} |"
            )
        out.append("")
    return out


def _ceiling(results: dict[str, Any]) -> list[str]:
    lg = results["limit"]["load_generator"]
    best = max((c["rps_at_reference"] for c in results.get("comparisons", {}).values()), default=0.0)
    ceiling = median_of(lg["direct_zero_latency_rps"])
    share = best / ceiling if ceiling else 0.0
    verdict = (
        "**the load generator may be the limit**"
        if share > 0.8
        else "the load generator is not the bottleneck"
    )
    return [
        "## Is the load generator the bottleneck?",
        "",
        f"wrk alone against the simulator's /healthz: **{median_of(lg['wrk_healthz_rps']):.0f} req/s**; wrk + "
        f"simulator with a zero-latency chat answer: **{ceiling:.0f} req/s** (p99 "
        f"{median_of(lg['direct_zero_latency_p99_ms']):.1f} ms) at {lg['connections']} connections. The best mode "
        f"reached {best:.0f} req/s at the reference load ({share:.0%} of that ceiling): {verdict}. "
        "For streams, the direct column of the concurrent-streams table is the streaming client's own ceiling.",
        "",
    ]


def _vs_limit(runs: list[dict[str, Any]], comp: dict[str, Any], s: dict[str, Any]) -> list[str]:
    out = [
        "## Each mode against the direct limit",
        "",
        "| run | req/s @64 / direct | sustained / direct | CPU-heavy / direct | added gap p50 ms | memory/stream KiB "
        "| streams (direct) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        c = comp[r["id"]]
        out.append(
            f"| {r['id']} | {c['rps_ratio_at_reference']:.2f} | {c['sustained_ratio']:.2f} | "
            f"{c['cpu_heavy_ratio']:.2f} | {c['added_gap_p50_ms']:.2f} | {c['memory_per_stream_kib']:.0f} | "
            f"{c['max_streams']} ({c['max_streams_direct']}) |"
        )
    return [*out, ""]


def _matrix(title: str, runs: list[dict[str, Any]], comp: dict[str, Any], key: str) -> list[str]:
    if len(runs) < 2:
        return []
    ids = [r["id"] for r in runs]
    out = [f"## {title}", "", "| | " + " | ".join(ids) + " |", "|---" * (len(ids) + 1) + "|"]
    for a in ids:
        cells = [f"{comp[a][key] / comp[b][key]:.2f}" if comp[b][key] else "-" for b in ids]
        out.append(f"| **{a}** | " + " | ".join(cells) + " |")
    return [*out, ""]


def _criteria(results: dict[str, Any]) -> list[str]:
    mark = {"pass": "PASS", "fail": "FAIL", "n/a": "n/a"}
    out = [
        "## Seed plan success criteria",
        "",
        "| criterion | run | value | threshold | result | note |",
        "|---|---|---|---|---|---|",
    ]
    for c in results["criteria"]:
        value = "-" if c["value"] is None else f"{c['value']:.3f}"
        threshold = "-" if c["threshold"] is None else f"{c['op']} {c['threshold']:g}"
        out.append(
            f"| {c['description']} | {c['run'] or 'all'} | {value} | {threshold} | {mark[c['status']]} | "
            f"{c['note']} |"
        )
    out += ["", "## SPEC §9 targets (this 2-core machine)", ""]
    runs = list(dict.fromkeys(t["run"] for t in results["targets"]))
    names = list(
        dict.fromkeys((t["id"], t["description"], t["op"], t["threshold"]) for t in results["targets"])
    )
    out += ["| target | " + " | ".join(runs) + " |", "|---" * (len(runs) + 1) + "|"]
    for tid, text, op, threshold in names:
        cells = []
        for run in runs:
            t = next(x for x in results["targets"] if x["id"] == tid and x["run"] == run)
            cells.append(f"{t['value']:g} {mark[t['status']]}")
        out.append(f"| {text} {op} {threshold:g} | " + " | ".join(cells) + " |")
    return [*out, ""]


def _details(runs: list[dict[str, Any]], results: dict[str, Any]) -> list[str]:
    lim = results["limit"]["scenarios"]
    every = [("direct", lim), *[(r["id"], r["scenarios"]) for r in runs]]
    out = [
        "## Details",
        "",
        "### Throughput ramp (req/s, p99 ms, errors %, server-core CPU %)",
        "",
        "| run | " + " | ".join(f"c={lv['connections']}" for lv in lim["throughput"]["levels"]) + " |",
        "|---" * (len(lim["throughput"]["levels"]) + 1) + "|",
    ]
    cores = results["machine"]["pinning"]["server_cores"]
    for name, scn in every:
        cells = []
        for lv in scn["throughput"]["levels"]:
            busy = sum(lv["cpu_per_core_pct"][c] for c in cores) / len(cores)
            cells.append(
                f"{lv['rps']['median']:.0f} ({lv['rps']['min']:.0f}-{lv['rps']['max']:.0f}), "
                f"{lv['p99_ms']['median']:.1f}, {lv['errors_pct']['median']:g}, {busy:.0f}%"
            )
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    out += ["", "### Concurrent streams (completed/streams, stalls, max gap ms, peak RSS MiB)", ""]
    for name, scn in every:
        cells = [
            f"{lv['streams']}: {lv['completed']}/{lv['streams']}, {lv['stalls']} stalls, "
            f"{lv['max_gap_ms']:.0f} ms, {lv['rss_peak_mib']:.0f} MiB"
            for lv in scn["max_streams"]["levels"]
        ]
        out.append(f"- **{name}**: " + "; ".join(cells))
    out += ["", "### CPU-heavy conversions vs server threads (req/s, p99 ms)", ""]
    for name, scn in every:
        cells = [
            f"{p['threads']} thr: {p['rps']['median']:.0f}, {p['p99_ms']['median']:.0f} ms"
            for p in scn["cpu_heavy"]["points"]
            if "rps" in p
        ]
        out.append(f"- **{name}**: " + "; ".join(cells))
    return [*out, ""]


def _reading(results: dict[str, Any]) -> list[str]:
    return [
        "## How to read this",
        "",
        "- The server under test is pinned to its cores (SPEC §9): on a 2-core machine that is one core, so "
        "free threading cannot run Python in parallel there; its gain shows only with more server cores "
        "(`--server-cores`). Process workers on one core only add context switches and memory.",
        "- Each mode gets a fresh server; idle RSS is taken right after start-up, *after* 1 s after the "
        "concurrent-streams test. RSS is the whole process tree (Granian's main process and workers, or "
        "Gunicorn's arbiter and workers).",
        "- GIL state is what the server itself reports on /metrics (`python_gil_enabled`), not what the harness "
        "asked for.",
        "- Raw numbers, with min and max of the repeats, are in results.json (schema in docs/benchmarks.md).",
        "",
    ]


def _foreign_load(results: dict[str, Any]) -> float:
    """Busy share of the server cores during the direct throughput levels, when no process of
    this run was pinned there: anything above a few percent is someone else's work."""
    cores = results["machine"]["pinning"]["server_cores"]
    if not results["machine"]["pinning"]["taskset"]:
        return 0.0
    levels = results["limit"]["scenarios"]["throughput"]["levels"]
    values = [lv["cpu_per_core_pct"][c] for lv in levels for c in cores if c < len(lv["cpu_per_core_pct"])]
    return sum(values) / len(values) if values else 0.0


def _num(x: float) -> str:
    """Three significant decimals for small figures (ms, ratios), none for rates and counts."""
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.3f}"


def _cores(cores: list[int]) -> str:
    return ",".join(str(c) for c in cores)
