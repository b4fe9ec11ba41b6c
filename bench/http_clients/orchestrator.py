"""The orchestrator: interpreters, venvs, cells, medians."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.http_clients import REPO, SCHEMA
from bench.http_clients.candidates import BY_NAME
from bench.http_clients.exchange import PATH, REQUEST_BODY, RESPONSE_BODY


@dataclass(frozen=True)
class Cell:
    key: str
    threads: int
    latency_ms: int


CELLS = (Cell("single", 1, 0), Cell("c64", 64, 20))


def interpreter_facts(python: str) -> dict[str, Any]:
    code = (
        "import json, platform, sys, sysconfig; print(json.dumps({'version': platform.python_version(),"
        " 'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED')), 'executable': sys.executable}))"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    facts = json.loads(done.stdout)
    facts["tag"] = ".".join(facts["version"].split(".")[:2]) + ("t" if facts["free_threaded"] else "")
    return facts


def ensure_venv(
    python: str, tag: str, venvs: Path, names: list[str], log: Callable[[str], None]
) -> tuple[str, dict]:
    """A throwaway venv for `python`, with ftproxy and each candidate that has a wheel for it."""
    path = venvs / f"venv-{tag}"
    venv_python = str(path / "bin" / "python")
    if not os.path.exists(venv_python):
        log(f"creating {path}")
        subprocess.run([python, "-m", "venv", str(path)], check=True, capture_output=True, timeout=300)
    install_notes: dict[str, str] = {}

    def importable(module: str) -> bool:
        return (
            subprocess.run(
                # Run from the venv, not the checkout: `import ftproxy` must find the install.
                [venv_python, "-c", f"import {module}"],
                capture_output=True,
                timeout=120,
                cwd=path,
            ).returncode
            == 0
        )

    if not importable("ftproxy"):
        log(f"{tag}: pip install -e {REPO}")
        done = subprocess.run(
            [venv_python, "-m", "pip", "install", "--quiet", "-e", str(REPO)], capture_output=True, text=True
        )
        if done.returncode != 0:
            install_notes["ftproxy"] = "pip install -e failed: " + last_line(done.stderr)
    for name in names:
        candidate = BY_NAME[name]
        if candidate.dist is None or importable(candidate.module):
            continue
        log(f"{tag}: pip install {candidate.dist}")
        # Wheels only: "no wheel for this interpreter" must be a finding, not a compiler run.
        done = subprocess.run(
            [venv_python, "-m", "pip", "install", "--quiet", "--only-binary=:all:", candidate.dist],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            install_notes[name] = f"no installable wheel for {tag}: " + last_line(done.stderr)
    return venv_python, install_notes


def last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith("WARNING")]
    return (lines[-1] if lines else text.strip())[:300]


def self_command(python: str, *args: str) -> list[str]:
    return [python, "-m", "bench.http_clients", *args]


def run_json(argv: list[str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"ok": False, "error": last_line(done.stderr or done.stdout) or f"exit {done.returncode}"}
    return json.loads(lines[-1])


def start_upstream(python: str, cpu: int | None) -> tuple[subprocess.Popen[str], int]:
    argv = self_command(python, "--serve-upstream", "--port", "0")
    if cpu is not None:
        argv += ["--cpu", str(cpu)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        raise SystemExit("the upstream server did not start")
    return proc, int(line)


def cpus() -> tuple[int | None, int | None]:
    """(client CPU, upstream CPU): 0 and 1 when both are available, else no pinning."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return (0, 1) if {0, 1} <= set(available) else (None, None)


def benchmark(args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    names = args.candidates
    client_cpu, upstream_cpu = cpus()
    pythons = args.python or [sys.executable]
    interpreters = []
    for python in pythons:
        facts = interpreter_facts(python)
        facts["requested"] = python
        if args.python:
            facts["venv_python"], facts["install_notes"] = ensure_venv(
                python, facts["tag"], args.venvs, names, log
            )
        else:
            facts["venv_python"], facts["install_notes"] = sys.executable, {}
        interpreters.append(facts)

    upstream, port = start_upstream(sys.executable, upstream_cpu)
    results: dict[str, Any] = {
        "schema": SCHEMA,
        "settings": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "repeats": args.repeats,
            "cells": [cell.__dict__ for cell in CELLS],
            "request_bytes": len(REQUEST_BODY),
            "response_bytes": len(RESPONSE_BODY),
            "client_cpu": client_cpu,
            "upstream_cpu": upstream_cpu,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "loadavg_before": os.getloadavg(),
        },
        "interpreters": [],
    }
    try:
        for facts in interpreters:
            results["interpreters"].append(_bench_interpreter(facts, names, port, client_cpu, args, log))
    finally:
        upstream.terminate()
        try:
            upstream.wait(timeout=10)
        except subprocess.TimeoutExpired:
            upstream.kill()
    results["machine"]["loadavg_after"] = os.getloadavg()
    return results


def _bench_interpreter(
    facts: dict[str, Any],
    names: list[str],
    port: int,
    client_cpu: int | None,
    args: argparse.Namespace,
    log: Callable[[str], None],
) -> dict[str, Any]:
    python = facts["venv_python"]
    tag = facts["tag"]
    # Other people's work on a shared machine shows here: read the figures with it.
    load_before = os.getloadavg()
    candidates: dict[str, Any] = {}
    runnable = []
    for name in names:
        if name in facts["install_notes"]:
            candidates[name] = {"ok": False, "error": facts["install_notes"][name]}
            continue
        probe = run_json(self_command(python, "--probe", name), timeout=120)
        if not probe.get("ok"):
            probe["error"] = "cannot import or build it: " + probe.get("error", "?")
        candidates[name] = probe
        if probe.get("ok"):
            probe["cells"] = {cell.key: {"runs": []} for cell in CELLS}
            runnable.append(name)
    for repeat in range(args.repeats):
        for cell in CELLS:
            for name in runnable:
                argv = self_command(
                    python,
                    "--worker",
                    name,
                    "--url",
                    f"http://127.0.0.1:{port}{PATH}&latency_ms={cell.latency_ms}",
                    "--threads",
                    str(cell.threads),
                    "--duration",
                    str(args.duration),
                    "--warmup",
                    str(args.warmup),
                )
                if client_cpu is not None:
                    argv += ["--cpu", str(client_cpu)]
                run = run_json(argv, timeout=args.duration + args.warmup + 120)
                candidates[name]["cells"][cell.key]["runs"].append(run)
                log(f"{tag} {name:<11} {cell.key:<6} run {repeat + 1}/{args.repeats}: {_brief(run)}")
    for name in runnable:
        for cell in candidates[name]["cells"].values():
            cell["median"] = _median(cell["runs"])
    return {"python": facts, "candidates": candidates, "loadavg": [load_before, os.getloadavg()]}


def _brief(run: dict[str, Any]) -> str:
    if "calls" not in run:
        return "failed: " + str(run.get("error"))
    cpu = run["cpu_ms_per_call"]
    p99 = run["p99_ms"]
    return (
        f"{run['calls_per_s']:,.0f} calls/s, "
        + (f"{cpu:.3f} ms CPU/call" if cpu is not None else "no calls")
        + (f", p99 {p99:.1f} ms" if p99 is not None else "")
        + (f", {run['errors']} errors ({run['first_error']})" if run["errors"] else "")
    )


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    good = [r for r in runs if r.get("calls")]
    if not good:
        errors = [r.get("first_error") or r.get("error") for r in runs]
        return {"ok": False, "error": next((e for e in errors if e), "no successful call")}
    out: dict[str, Any] = {"ok": True, "runs": len(good)}
    for key in ("calls_per_s", "cpu_ms_per_call", "p50_ms", "p99_ms"):
        out[key] = statistics.median(r[key] for r in good)
    out["errors"] = sum(r.get("errors", 0) for r in runs)
    out["first_error"] = next((r["first_error"] for r in runs if r.get("first_error")), None)
    out["gil_enabled"] = (
        any(r.get("gil_enabled_at_end") for r in good)
        if good[0].get("gil_enabled_at_end") is not None
        else None
    )
    return out
