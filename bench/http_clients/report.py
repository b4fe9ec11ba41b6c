"""The markdown report."""

from __future__ import annotations

from typing import Any

from bench.http_clients.candidates import BY_NAME


def _fmt(value: float | None, digits: int) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def markdown(results: dict[str, Any]) -> str:
    s = results["settings"]
    lines = [
        "# Upstream HTTP clients: cost per call",
        "",
        f"POST {s['request_bytes']} B JSON → {s['response_bytes']} B JSON, keep-alive, 127.0.0.1. "
        f"Client pinned to CPU {s['client_cpu']}, upstream to CPU {s['upstream_cpu']}; "
        f"{s['duration_s']} s per cell after {s['warmup_s']} s warm-up, median of {s['repeats']} runs. "
        "CPU/call = client process CPU time / calls. "
        f"Load average before/after: {_load(results['machine'].get('loadavg_before'))} / "
        f"{_load(results['machine'].get('loadavg_after'))}.",
        "",
        "| Python | client | version | 1 thread: ms CPU/call | 1 thread: calls/s "
        "| 64 threads, 20 ms: req/s | 64 threads: ms CPU/call | 64 threads: p99 ms | errors | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for interp in results["interpreters"]:
        tag = interp["python"]["tag"]
        for name, c in interp["candidates"].items():
            if not c.get("ok"):
                lines.append(
                    f"| {tag} | {name} | — | — | — | — | — | — | — | skipped: {_cell_text(c.get('error'))} |"
                )
                continue
            one = c["cells"]["single"]["median"]
            many = c["cells"]["c64"]["median"]
            errors = (one.get("errors") or 0) + (many.get("errors") or 0)
            notes = [BY_NAME[name].setup]
            for m in (one, many):
                if not m.get("ok"):
                    notes.append("failed: " + _cell_text(m.get("error")))
                elif m.get("first_error"):
                    notes.append("first error: " + _cell_text(m["first_error"]))
            gil_back = c.get("gil") or one.get("gil_enabled") or many.get("gil_enabled")
            if gil_back and interp["python"]["free_threaded"]:
                notes.append("**re-enabled the GIL**")
            lines.append(
                f"| {tag} | {name} | {c.get('version', '?')} | {_fmt(one.get('cpu_ms_per_call'), 3)} "
                f"| {_fmt(one.get('calls_per_s'), 0)} | {_fmt(many.get('calls_per_s'), 0)} "
                f"| {_fmt(many.get('cpu_ms_per_call'), 3)} | {_fmt(many.get('p99_ms'), 1)} | {errors} "
                f"| {'; '.join(notes)} |"
            )
    lines.append("")
    for interp in results["interpreters"]:
        if interp.get("loadavg"):
            before, after = interp["loadavg"]
            lines.append(
                f"Load average during {interp['python']['tag']}: {_load(before)} → {_load(after)}.  "
            )
    lines.append("")
    lines += _extensions_table(results)
    if results.get("wheels"):
        lines += _wheels_table(results["wheels"])
    if results.get("proxies"):
        lines += _proxies_table(results["proxies"])
    return "\n".join(lines) + "\n"


def _extensions_table(results: dict[str, Any]) -> list[str]:
    rows = {}
    for interp in results["interpreters"]:
        for name, c in interp["candidates"].items():
            if c.get("ok") and name not in rows:
                rows[name] = ", ".join(f"`{e}`" for e in c.get("extensions", [])) or "none (pure Python)"
    if not rows:
        return []
    lines = [
        "Non-stdlib C extensions each candidate loads (what the free-threaded import probe,",
        "tests/unit/test_free_threaded_imports.py, must find in FREE_THREADING_READY):",
        "",
        "| client | extensions loaded |",
        "|---|---|",
    ]
    lines += [f"| {name} | {exts} |" for name, exts in rows.items()]
    return [*lines, ""]


def _wheels_table(wheels: dict[str, Any]) -> list[str]:
    lines = [
        "cp314t wheels (pip download --python-version 3.14 --abi cp314t, manylinux x86_64):",
        "",
        "| client | cp314t wheel | extension modules: what they declare about the GIL |",
        "|---|---|---|",
    ]
    for name, w in wheels.items():
        if not w.get("wheel"):
            lines.append(f"| {name} | none: {_cell_text(w.get('error'))} | — |")
            continue
        exts = w.get("extensions") or {}
        described = "; ".join(f"`{m.rsplit('/', 1)[-1]}`: {v}" for m, v in exts.items())
        described = described or "none (pure Python)"
        lines.append(f"| {name} | `{w['wheel']}` | {described} |")
    return [*lines, ""]


def _proxies_table(proxies: dict[str, dict[str, str]]) -> list[str]:
    lines = [
        "Proxy variables from the environment (a listener plays the proxy; http:// and https:// URLs):",
        "",
        "| client | HTTP_PROXY | HTTPS_PROXY | NO_PROXY |",
        "|---|---|---|---|",
    ]
    for name, r in proxies.items():
        lines.append(f"| {name} | {r['HTTP_PROXY']} | {r['HTTPS_PROXY']} | {_cell_text(r['NO_PROXY'])} |")
    return [*lines, ""]


def ran(results: dict[str, Any], name: str) -> bool:
    return any(i["candidates"].get(name, {}).get("ok") for i in results["interpreters"])


def _cell_text(text: object) -> str:
    return str(text).replace("|", "/").replace("\n", " ")[:160]


def _load(values: object) -> str:
    return "?" if not values else " ".join(f"{v:.2f}" for v in values)  # type: ignore[union-attr]
