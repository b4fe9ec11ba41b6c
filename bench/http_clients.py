"""Which HTTP client should ftproxy use upstream? Measured, not guessed (issue 11, item 2).

`python -m bench.http_clients [--quick] [--python PATH ...] [--output DIR] [--candidates a,b]
[--wheel-check] [--proxy-check]`

Every candidate does what ftproxy does upstream: POST a ~1 kB JSON chat body to a local
upstream on 127.0.0.1 and read a ~1 kB JSON answer over keep-alive connections. Two cells:

* `single`: 1 thread, zero-latency upstream: CPU ms per call and calls/s (the cost floor);
* `c64`: 64 threads, 20 ms upstream latency: req/s, CPU ms per call and p99 latency (the
  shape of a busy gateway: many threads, each mostly waiting).

CPU per call is the client process's CPU time (all its threads, Rust runtimes included) over
the calls completed in the measured window. The upstream is a tiny asyncio server of this
module rather than `ftproxy simulate`: the simulator's own CPU (auth, routing, answers) would
compete with the client for the machine and it is not what is being measured here. The upstream
is pinned to CPU 1 and the client process to CPU 0 when both exist. Each cell runs `--repeats`
times (interleaved across candidates, so a noisy neighbour hurts all alike) and the median of
each figure is reported.

With `--python PATH`, each interpreter gets a throwaway venv under `--venvs` (outside the repo)
with ftproxy and each third-party candidate installed from wheels only; a candidate without a
wheel for that interpreter (e.g. no cp314t wheel) is reported as such, never fatal. Without
`--python`, the current interpreter runs whatever candidates it can import. `--wheel-check`
reads what each candidate's cp314t wheel declares about the GIL; `--proxy-check` tests whether
it honours HTTP(S)_PROXY and NO_PROXY. The figures and the choice: docs/architecture.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SCHEMA = "ftproxy-http-clients"

# ---------------------------------------------------------------------------------------------
# The exchange: a ~1 kB chat body out, a ~1 kB chat completion back.

_PROMPT = "Summarise the following notes for the weekly report, keeping every figure exact. " * 10
REQUEST_BODY = json.dumps(
    {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": _PROMPT.strip()},
        ],
        "max_tokens": 256,
        "temperature": 0.2,
        "stream": False,
    },
    separators=(",", ":"),
).encode()
_ANSWER = "The notes report steady progress; every figure is kept exactly as written. " * 9
RESPONSE_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": _ANSWER.strip()},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 212, "completion_tokens": 160, "total_tokens": 372},
    },
    separators=(",", ":"),
).encode()
HEADERS = {
    "content-type": "application/json",
    "authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.bench-token-of-a-realistic-length.signature-part",
    "ai-resource-group": "default",
}
PATH = "/v2/inference/deployments/d0123456789abcde/chat/completions?api-version=2024-10-21"

# ---------------------------------------------------------------------------------------------
# The upstream: keep-alive HTTP/1.1, answer after `latency_ms` (a query parameter) without
# blocking the loop, so 64 waiting calls cost it nothing but their bytes.

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(RESPONSE_BODY)
    + RESPONSE_BODY
)


class _Upstream(asyncio.Protocol):
    def __init__(self) -> None:
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].split(b"\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding":
                    # No candidate should chunk a bytes body; say so loudly instead of hanging.
                    self._send(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    return
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            target = head[0].split(b" ")[1]
            marker = target.find(b"latency_ms=")
            delay = float(target[marker + 11 :].split(b"&")[0]) / 1000 if marker >= 0 else 0.0
            if delay:
                asyncio.get_running_loop().call_later(delay, self._send, _RESPONSE)
            else:
                self._send(_RESPONSE)

    def _send(self, payload: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(payload)


def serve_upstream(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Upstream, "127.0.0.1", port, backlog=1024)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


# ---------------------------------------------------------------------------------------------
# The candidates. Each factory returns `call() -> (status, body)`, safe to call from many threads.

Call = Callable[[], tuple[int, bytes]]


@dataclass(frozen=True)
class Candidate:
    name: str
    setup: str  # how it is used, for the report
    dist: str | None  # the package to install; None: stdlib or this checkout
    module: str  # what must import for the candidate to run


CANDIDATES = (
    Candidate("httpx", "one shared Client, pool sized to the threads", "httpx", "httpx"),
    Candidate("urllib3", "one PoolManager, maxsize = threads", "urllib3", "urllib3"),
    Candidate("http.client", "one HTTPConnection per thread", None, "http.client"),
    Candidate("pycurl", "one Curl handle per thread", "pycurl", "pycurl"),
    Candidate("pyreqwest", "one SyncClient (defaults)", "pyreqwest", "pyreqwest"),
    Candidate("httpr", "one Client", "httpr", "httpr"),
    Candidate(
        "ftproxy", "one shared ftproxy.upstream.transport.Transport", None, "ftproxy.upstream.transport"
    ),
)
BY_NAME = {c.name: c for c in CANDIDATES}


def make_client(name: str, url: str, threads: int) -> Call:  # one branch per candidate
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, https = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    if name == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
        client = httpx.Client(limits=limits, timeout=30)

        def call_httpx() -> tuple[int, bytes]:
            r = client.post(url, content=REQUEST_BODY, headers=HEADERS)
            return r.status_code, r.content

        return call_httpx
    if name == "urllib3":
        import urllib3

        manager = urllib3.PoolManager(maxsize=threads, block=True, retries=False, timeout=30)

        def call_urllib3() -> tuple[int, bytes]:
            r = manager.request("POST", url, body=REQUEST_BODY, headers=HEADERS)
            return r.status, r.data

        return call_urllib3
    if name == "http.client":
        import http.client

        local = threading.local()
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection_class = http.client.HTTPSConnection if https else http.client.HTTPConnection

        def call_http_client() -> tuple[int, bytes]:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = connection_class(host, port, timeout=30)
            try:
                conn.request("POST", path, body=REQUEST_BODY, headers=HEADERS)
                r = conn.getresponse()
                return r.status, r.read()
            except Exception:
                conn.close()
                local.conn = None
                raise

        return call_http_client
    if name == "pycurl":
        import io

        import pycurl

        local = threading.local()
        # "Expect:" stops curl from waiting for a 100 Continue on larger bodies.
        curl_headers = [f"{k}: {v}" for k, v in HEADERS.items()] + ["Expect:"]

        def call_pycurl() -> tuple[int, bytes]:
            handle = getattr(local, "handle", None)
            if handle is None:
                handle = local.handle = pycurl.Curl()
                handle.setopt(pycurl.URL, url)
                handle.setopt(pycurl.NOSIGNAL, 1)  # required with threads
                handle.setopt(pycurl.TIMEOUT, 30)
                handle.setopt(pycurl.HTTPHEADER, curl_headers)
                handle.setopt(pycurl.POSTFIELDS, REQUEST_BODY)
            sink = io.BytesIO()
            handle.setopt(pycurl.WRITEDATA, sink)
            handle.perform()
            return handle.getinfo(pycurl.RESPONSE_CODE), sink.getvalue()

        return call_pycurl
    if name == "pyreqwest":
        from pyreqwest.client import SyncClientBuilder

        client = SyncClientBuilder().build()

        def call_pyreqwest() -> tuple[int, bytes]:
            r = client.post(url).headers(HEADERS).body_bytes(REQUEST_BODY).build().send()
            return r.status, bytes(r.bytes())

        return call_pyreqwest
    if name == "httpr":
        import httpr

        client = httpr.Client(timeout=30, cookie_store=False, referer=False)

        def call_httpr() -> tuple[int, bytes]:
            r = client.post(url, content=REQUEST_BODY, headers=HEADERS)
            return r.status_code, r.content

        return call_httpr
    if name == "ftproxy":
        from ftproxy.upstream.transport import Transport

        transport = Transport()

        def call_ftproxy() -> tuple[int, bytes]:
            r = transport.request("POST", url, headers=HEADERS, body=REQUEST_BODY)
            try:
                return r.status, r.read()
            finally:
                r.close()

        return call_ftproxy
    raise SystemExit(f"unknown candidate {name!r}; known: {', '.join(BY_NAME)}")


def candidate_version(name: str) -> str:
    import importlib.metadata as metadata

    if name == "http.client":
        return platform.python_version()
    if name == "ftproxy":
        try:
            rev = subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip()
            # The transport measured is the working tree's, which may be ahead of HEAD.
            dirty = subprocess.run(
                ["git", "-C", str(REPO), "status", "--porcelain", "--", "ftproxy/upstream"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            rev += "+dirty" if rev and dirty else ""
        except OSError:
            rev = ""
        return f"{metadata.version('ftproxy')}" + (f"@{rev}" if rev else "")
    return metadata.version(BY_NAME[name].dist or name)


# ---------------------------------------------------------------------------------------------
# The client worker: one process per (candidate, cell, repeat), pinned to its CPU.


def gil_enabled() -> bool | None:
    probe = getattr(sys, "_is_gil_enabled", None)
    return None if probe is None else bool(probe())


def run_cell(name: str, url: str, threads: int, duration: float, warmup: float) -> dict[str, Any]:
    call = make_client(name, url, threads)
    # On a free-threaded build, importing an extension that does not declare Py_mod_gil_not_used
    # switches the GIL back on: this is the real-interpreter version of the import probe.
    gil_after_import = gil_enabled()
    recording = False
    stop = False
    samples: list[list[float]] = [[] for _ in range(threads)]
    errors = [0] * threads
    first_error: list[str] = []

    def loop(index: int) -> None:
        mine = samples[index]
        clock = time.perf_counter
        while not stop:
            start = clock()
            try:
                status, body = call()
                ok = status == 200 and len(body) == len(RESPONSE_BODY)
                if not ok and not first_error:
                    first_error.append(f"status {status}, {len(body)} body bytes")
            except Exception as exc:  # any failure is counted and named once, never fatal
                ok = False
                if not first_error:
                    first_error.append(f"{type(exc).__name__}: {exc}"[:300])
            if recording:
                if ok:
                    mine.append(clock() - start)
                else:
                    errors[index] += 1

    workers = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    time.sleep(warmup)  # connections open, caches warm, pools full
    recording = True
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(duration)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    recording = False
    stop = True
    for worker in workers:
        worker.join(timeout=35)
    latencies = sorted(x for per_thread in samples for x in per_thread)
    calls = len(latencies)
    wall = wall1 - wall0
    return {
        "calls": calls,
        "errors": sum(errors),
        "first_error": first_error[0] if first_error else None,
        "wall_s": wall,
        "cpu_s": cpu1 - cpu0,
        "calls_per_s": calls / wall if wall else 0.0,
        "cpu_ms_per_call": (cpu1 - cpu0) * 1000 / calls if calls else None,
        "p50_ms": _percentile(latencies, 0.50) * 1000 if calls else None,
        "p99_ms": _percentile(latencies, 0.99) * 1000 if calls else None,
        "gil_enabled_after_import": gil_after_import,
        "gil_enabled_at_end": gil_enabled(),
    }


def _percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def probe_candidate(name: str) -> dict[str, Any]:
    """Can this interpreter run the candidate? Which non-stdlib extensions does it load?"""
    import importlib
    import importlib.machinery

    if name == "ftproxy":
        # Count what the transport adds, not what the rest of ftproxy loads (orjson on GIL builds).
        importlib.import_module("ftproxy")
    before = set(sys.modules)
    try:
        importlib.import_module(BY_NAME[name].module)
        make_client(name, "http://127.0.0.1:9/x", 1)
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    stdlib = sysconfig.get_paths()["stdlib"]
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    extensions = sorted(
        mod
        for mod in set(sys.modules) - before
        if (getattr(sys.modules[mod], "__file__", None) or "").endswith(suffixes)
        and not sys.modules[mod].__file__.startswith(stdlib)  # type: ignore[union-attr]
    )
    return {"ok": True, "version": candidate_version(name), "extensions": extensions, "gil": gil_enabled()}


def pin_to(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity") and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})


# ---------------------------------------------------------------------------------------------
# The orchestrator: interpreters, venvs, cells, medians, the report.


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
            install_notes["ftproxy"] = "pip install -e failed: " + _last_line(done.stderr)
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
            install_notes[name] = f"no installable wheel for {tag}: " + _last_line(done.stderr)
    return venv_python, install_notes


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip() and not line.startswith("WARNING")]
    return (lines[-1] if lines else text.strip())[:300]


def _self_command(python: str, *args: str) -> list[str]:
    return [python, "-m", "bench.http_clients", *args]


def run_json(argv: list[str], timeout: float) -> dict[str, Any]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=REPO)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"ok": False, "error": _last_line(done.stderr or done.stdout) or f"exit {done.returncode}"}
    return json.loads(lines[-1])


def start_upstream(python: str, cpu: int | None) -> tuple[subprocess.Popen[str], int]:
    argv = _self_command(python, "--serve-upstream", "--port", "0")
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
        probe = run_json(_self_command(python, "--probe", name), timeout=120)
        if not probe.get("ok"):
            probe["error"] = "cannot import or build it: " + probe.get("error", "?")
        candidates[name] = probe
        if probe.get("ok"):
            probe["cells"] = {cell.key: {"runs": []} for cell in CELLS}
            runnable.append(name)
    for repeat in range(args.repeats):
        for cell in CELLS:
            for name in runnable:
                argv = _self_command(
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


# ---------------------------------------------------------------------------------------------
# Wheels: does each third-party candidate publish a cp314t wheel, and what does it load?


def wheel_check(names: list[str], log: Callable[[str], None]) -> dict[str, Any]:
    """`pip download` the cp314t wheel of each compiled candidate and look inside.

    A free-threaded CPython keeps the GIL off only if every extension module declares
    `Py_mod_gil_not_used` (a `Py_mod_gil` slot, or `PyUnstable_Module_SetGIL()` for single-phase
    init). The slot is data and cannot be read without a free-threaded interpreter, so this
    reports the wheel tag and whether the binary calls `PyUnstable_Module_SetGIL` (what
    single-phase modules such as pycurl and PyO3 modules use); the verdict that counts is
    `gil_enabled_after_import` from a run on a real 3.14t.
    """
    out: dict[str, Any] = {}
    for name in names:
        dist = BY_NAME[name].dist
        if dist is None:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
            argv += ["--python-version", "3.14", "--abi", "cp314t", "--platform", "manylinux_2_28_x86_64"]
            argv += ["--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64"]
            argv += [dist, "-d", tmp]
            log(f"wheel check: {dist}")
            done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
            wheels = sorted(p.name for p in Path(tmp).glob("*.whl"))
            entry: dict[str, Any] = {"dist": dist, "wheel": wheels[0] if wheels else None}
            if not wheels:
                entry["error"] = _last_line(done.stderr)
            else:
                entry.update(_inspect_wheel(Path(tmp) / wheels[0]))
            out[name] = entry
    return out


def _inspect_wheel(wheel: Path) -> dict[str, Any]:
    import zipfile

    tag = wheel.name.rsplit("-", 3)[-2:]
    facts: dict[str, Any] = {"abi": tag[0], "pure_python": tag[0] == "none", "extensions": {}}
    with zipfile.ZipFile(wheel) as archive, tempfile.TemporaryDirectory() as tmp:
        for member in archive.namelist():
            if member.endswith(".so") and ".libs/" not in member:
                archive.extract(member, tmp)
                facts["extensions"][member] = gil_declaration(Path(tmp) / member)
    return facts


def gil_declaration(so: Path) -> str:
    """What a free-threaded extension binary declares about the GIL, read without loading it.

    Single-phase init (C modules such as pycurl, psutil) declares with a call
    `PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED)`: the disassembly shows the call and
    the constant 1 loaded as its second argument. Multi-phase init (PyO3 0.2x modules such as
    pyreqwest, httpr, granian) declares with a slot array `[{Py_mod_exec, fn}, {Py_mod_gil,
    value}, {0, NULL}]` in the data segment: slot id 4, value 1 (not used) or 0 (used). A
    heuristic; the verdict that counts is `sys._is_gil_enabled()` after import on a real 3.14t.
    """
    lines = subprocess.run(
        ["objdump", "-d", "--no-show-raw-insn", str(so)], capture_output=True, text=True
    ).stdout.splitlines()
    for index, line in enumerate(lines):
        if "call" in line and "<PyUnstable_Module_SetGIL@plt>" in line:
            before = " ".join(lines[max(0, index - 4) : index])
            if "$0x1,%esi" in before:
                return "not used: PyUnstable_Module_SetGIL(module, Py_MOD_GIL_NOT_USED) at init"
            return "PyUnstable_Module_SetGIL called; argument not recognised"
    data = so.read_bytes()
    found = {0: 0, 1: 0}
    for value in found:
        pattern = b"\x04" + b"\0" * 7 + bytes([value]) + b"\0" * 7 + b"\0" * 16
        at = data.find(pattern)
        while at >= 0:
            previous_is_exec = at >= 16 and data[at - 16] == 2 and data[at - 15 : at - 8] == b"\0" * 7
            if at % 8 == 0 and previous_is_exec:
                found[value] += 1
            at = data.find(pattern, at + 1)
    if found[1] and not found[0]:
        return f"not used: {found[1]} module slot array(s) with Py_mod_gil = Py_MOD_GIL_NOT_USED"
    if found[0]:
        return f"USED: {found[0]} module slot array(s) with Py_mod_gil = Py_MOD_GIL_USED"
    return "no declaration found by this static check (the GIL would come back on import)"


# ---------------------------------------------------------------------------------------------
# Proxies: does the candidate honour HTTP(S)_PROXY and NO_PROXY from the environment, as
# corporate networks need? A throwaway listener plays the proxy and records what it is asked.

_PROXY_CASES = (
    ("HTTP_PROXY", "http://upstream.invalid:8080/x", {"HTTP_PROXY": "P", "http_proxy": "P"}),
    ("HTTPS_PROXY", "https://upstream.invalid/x", {"HTTPS_PROXY": "P", "https_proxy": "P"}),
    (
        "NO_PROXY",
        "https://upstream.invalid/x",
        {
            "HTTPS_PROXY": "P",
            "https_proxy": "P",
            "NO_PROXY": "upstream.invalid",
            "no_proxy": "upstream.invalid",
        },
    ),
)


def proxy_check(python: str, names: list[str]) -> dict[str, dict[str, str]]:
    import socket

    out: dict[str, dict[str, str]] = {}
    for name in names:
        out[name] = {}
        for label, url, variables in _PROXY_CASES:
            seen: list[str] = []
            done = threading.Event()
            with socket.create_server(("127.0.0.1", 0)) as listener:
                listener.settimeout(0.1)
                proxy = f"http://127.0.0.1:{listener.getsockname()[1]}"
                env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
                env.update({k: proxy if v == "P" else v for k, v in variables.items()})
                thread = threading.Thread(target=_play_proxy, args=(listener, seen, done), daemon=True)
                thread.start()
                subprocess.run(
                    _self_command(python, "--proxy-probe", name, "--url", url),
                    env=env,
                    cwd=REPO,
                    capture_output=True,
                    timeout=60,
                )
                done.set()
                thread.join(timeout=10)
            if label == "NO_PROXY" and out[name]["HTTPS_PROXY"] == "ignored":
                out[name][label] = "n/a (no proxy support)"
            elif label == "NO_PROXY":
                out[name][label] = "honoured" if not seen else f"ignored (proxy asked: {seen[0]})"
            else:
                out[name][label] = f"honoured ({seen[0].split(' ')[0]})" if seen else "ignored"
    return out


def _play_proxy(listener: Any, seen: list[str], done: threading.Event) -> None:
    while True:
        try:
            peer, _ = listener.accept()
            break
        except TimeoutError:
            if done.is_set():
                return  # the client finished without asking the proxy anything
    with peer:
        peer.settimeout(5)
        try:
            seen.append(peer.recv(300).split(b"\r\n")[0].decode("latin-1"))
            peer.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
        except OSError:
            pass


# ---------------------------------------------------------------------------------------------
# The report.


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


def _ran(results: dict[str, Any], name: str) -> bool:
    return any(i["candidates"].get(name, {}).get("ok") for i in results["interpreters"])


def _cell_text(text: object) -> str:
    return str(text).replace("|", "/").replace("\n", " ")[:160]


def _load(values: object) -> str:
    return "?" if not values else " ".join(f"{v:.2f}" for v in values)  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.http_clients", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="1 s cells, 1 repeat (smoke test)")
    p.add_argument(
        "--python", action="append", help="interpreter to benchmark (repeatable); gets its own venv"
    )
    p.add_argument(
        "--output", type=Path, default=None, help="write http_clients.md and http_clients.json here"
    )
    p.add_argument("--candidates", default=",".join(BY_NAME), help="comma-separated subset")
    p.add_argument("--duration", type=float, default=None, help="seconds per cell (default 3, --quick 1)")
    p.add_argument("--warmup", type=float, default=None, help="seconds before measuring (default 0.5)")
    p.add_argument(
        "--repeats", type=int, default=None, help="runs per cell, median kept (default 3, --quick 1)"
    )
    p.add_argument("--venvs", type=Path, default=Path(tempfile.gettempdir()) / "clientbench")
    p.add_argument("--wheel-check", action="store_true", help="pip download each cp314t wheel and inspect it")
    # Internal roles of the same module (subprocesses of the orchestrator).
    p.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--proxy-check", action="store_true", help="check HTTP(S)_PROXY/NO_PROXY support")
    p.add_argument("--probe", help=argparse.SUPPRESS)
    p.add_argument("--proxy-probe", help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.candidates = [n.strip() for n in args.candidates.split(",") if n.strip()]
    unknown = [n for n in args.candidates if n not in BY_NAME]
    if unknown:
        p.error(f"unknown candidate(s) {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    args.duration = args.duration or (1.0 if args.quick else 3.0)
    args.warmup = args.warmup if args.warmup is not None else (0.3 if args.quick else 0.5)
    args.repeats = args.repeats or (1 if args.quick else 3)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pin_to(args.cpu)
    if args.serve_upstream:
        serve_upstream(args.port)
        return 0
    if args.probe:
        print(json.dumps(probe_candidate(args.probe)))
        return 0
    if args.proxy_probe:
        try:
            print(make_client(args.proxy_probe, args.url, 1)()[0])
        except Exception as exc:  # the listener's record is the result; this is only for humans
            print(f"{type(exc).__name__}: {exc}"[:200])
        return 0
    if args.worker:
        print(json.dumps(run_cell(args.worker, args.url, args.threads, args.duration, args.warmup)))
        return 0

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    results = benchmark(args, log)
    if args.wheel_check:
        results["wheels"] = wheel_check(args.candidates, log)
    if args.proxy_check:
        log("proxy check")
        python = results["interpreters"][-1]["python"]["venv_python"]
        results["proxies"] = proxy_check(python, [n for n in args.candidates if _ran(results, n)])
    report = markdown(results)
    print(report)
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "http_clients.md").write_text(report)
        (args.output / "http_clients.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
