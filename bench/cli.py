"""Command line: `python -m bench [--quick] [--output DIR] [--python PATH ...]`.

Exit status: 0 when every planned measurement produced its numbers (results.json passes its
schema check), 1 when something failed (the report is still written, with the failure), 2 for
usage errors such as a missing wrk.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROG_ENV = "FTPROXY_BENCH_PROG"


def parser() -> argparse.ArgumentParser:
    # scripts/benchmark_free_threading.sh names itself, so its --help shows the command typed.
    prog = os.environ.get(PROG_ENV) or "python -m bench"
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    p.add_argument(
        "--quick",
        action="store_true",
        help="short runs (< 3 min; CI smoke test): the harness's interpreter and one other "
        "(a free-threaded one if found, else the oldest GIL build)",
    )
    p.add_argument("--all-interpreters", action="store_true", help="with --quick: every interpreter found")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="where results go (default bench-results/full, or bench-results/quick with --quick)",
    )
    p.add_argument(
        "--python", action="append", default=[], metavar="PATH", help="also benchmark this interpreter"
    )
    p.add_argument("--only-python", action="store_true", help="benchmark only the --python interpreters")
    p.add_argument(
        "--server-cores", help="CPU cores for the server under test, e.g. 0 or 0,1 (default: first half)"
    )
    p.add_argument(
        "--venv-cache", type=Path, default=None, help="per-interpreter venvs (default .bench-venvs/)"
    )
    p.add_argument("--repeats", type=int, default=None, help="override the preset's repeat count")
    p.add_argument(
        "--report-only", action="store_true", help="rebuild report.md and plots from OUTPUT/results.json"
    )
    p.add_argument(
        "--per-core",
        action="store_true",
        help="only issue 25's scenario (~1 min): the most req/s on one core with an instant upstream, "
        "ftproxy's routes vs the upstream called directly and a trivial WSGI app on Granian",
    )
    p.add_argument(
        "--no-callgrind",
        action="store_true",
        help="--per-core without its callgrind pass (instructions per request; ~2 min, needs valgrind)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # Only now: --help needs nothing but the standard library, so it answers before any install.
    from bench import discovery, machine, results, runner, settings
    from bench.progress import Progress
    from bench.venvs import default_cache

    preset = "per-core" if args.per_core else "quick" if args.quick else "full"
    output: Path = (args.output or REPO / "bench-results" / preset).resolve()
    if args.report_only:
        try:
            data = results.read(output / "results.json")
        except (OSError, ValueError) as exc:
            print(
                f"bench: --report-only needs a previous run's results.json in {output} ({exc}); run the "
                "benchmark first, or pass --output with the folder of a run",
                file=sys.stderr,
            )
            return 2
        return _write_outputs(data, output)
    output.mkdir(parents=True, exist_ok=True)
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    if args.per_core:
        return _per_core(output, args.server_cores, quiet=args.quiet, callgrind=not args.no_callgrind)
    chosen = settings.preset(preset, repeats=args.repeats)
    progress = Progress(quiet=args.quiet)
    found, notes = discovery.discover(args.python, only_given=args.only_python)
    if not found:
        print("bench: no CPython >= 3.11 found", file=sys.stderr)
        return 2
    if args.quick and not args.all_interpreters:
        kept = discovery.choose_quick(found, discovery.current_base_interpreter())
        skipped = [i.key for i in found if i not in kept]
        if skipped:
            notes.append(
                f"quick mode: benchmarked {', '.join(i.key for i in kept)}; skipped {', '.join(skipped)} "
                "(use --all-interpreters, or the full preset)"
            )
        found = kept
    for note in notes:
        progress.note(note)
    progress.note(f"interpreters: {', '.join(f'{i.key} ({i.real_path})' for i in found)}; output: {output}")
    t0 = time.monotonic()
    data = runner.run(
        chosen,
        found,
        notes,
        output=output,
        repo=REPO,
        venv_cache=(args.venv_cache or default_cache(REPO)).resolve(),
        pinning=machine.pinning(args.server_cores),
        progress=progress,
    )
    status = _write_outputs(data, output)
    progress.note(f"done in {time.monotonic() - t0:.0f} s: {output / 'report.md'}")
    return status


def _per_core(output: Path, server_cores: str | None, *, quiet: bool, callgrind: bool) -> int:
    """Issue 25's scenario on its own: not part of --quick, which it would push past its budget."""
    from bench import machine, per_core
    from bench.per_core_figures import problems
    from bench.progress import Progress

    progress = Progress(quiet=quiet)
    t0 = time.monotonic()
    data = per_core.run(output, machine.pinning(server_cores), progress.phase, callgrind=callgrind)
    data["duration_s"] = round(time.monotonic() - t0, 1)
    per_core.write(data, output)
    progress.note(f"done in {data['duration_s']:.0f} s: {output / 'report.md'}")
    wrong = problems(data)
    for problem in wrong:
        print(f"bench: per-core: {problem}", file=sys.stderr)
    return 1 if wrong else 0


def _write_outputs(data: dict[str, object], output: Path) -> int:
    from bench import criteria, data_plane, plots, report, results

    criteria.evaluate(data)  # type: ignore[arg-type]
    data["data_plane"] = data_plane.evaluate(data)  # type: ignore[arg-type]
    wrong = results.problems(data)  # type: ignore[arg-type]
    data["problems"] = wrong
    results.write(data, output / "results.json")  # type: ignore[arg-type]
    written = plots.write_all(data, output)  # type: ignore[arg-type]
    if not written:
        data["notes"].append("matplotlib is not installed: plots skipped (pip install 'ftproxy[bench]')")  # type: ignore[attr-defined]
    (output / "report.md").write_text(report.render(data, written))  # type: ignore[arg-type]
    for problem in wrong:
        print(f"bench: incomplete: {problem}", file=sys.stderr)
    return 1 if wrong else 0
