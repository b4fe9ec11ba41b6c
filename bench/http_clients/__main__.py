"""The command line: `python -m bench.http_clients` (also how the workers are started)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from bench.http_clients.candidates import BY_NAME, make_client
from bench.http_clients.exchange import serve_upstream
from bench.http_clients.orchestrator import benchmark
from bench.http_clients.proxies import proxy_check
from bench.http_clients.report import markdown, ran
from bench.http_clients.wheels import wheel_check
from bench.http_clients.worker import pin_to, probe_candidate, run_cell


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
        results["proxies"] = proxy_check(python, [n for n in args.candidates if ran(results, n)])
    report = markdown(results)
    print(report)
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        (args.output / "http_clients.md").write_text(report)
        (args.output / "http_clients.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
