"""A short CPU profile of a server under load, with py-spy, reduced to its top functions.

Issue 11: the harness shows where each mode's CPU goes, so the next person does not have to
re-instrument. py-spy samples the server's whole process tree (`--subprocesses`) from outside,
without pausing it (`--nonblocking`), and writes collapsed stacks (`--format raw`, one
`frame;frame;... count` line per distinct stack, under one `process PID:"cmdline"` frame per
process from the root to the sampled one; `--function` keys frames by the function's first
line, so samples of one function add up). On GIL builds only the thread holding the GIL is
sampled (`--gil`): who runs Python, and cheap enough for hundreds of threads; on free-threaded
builds, every running thread (py-spy's default). Either way this is where the CPU goes, not
where threads wait.

py-spy is optional: without it (or when it cannot attach, e.g. without ptrace rights) the profile
says so and the run goes on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.machine import Pinning

TOP = 10
NATIVE = "(native code only: no Python frame on the stack)"
_COUNT = re.compile(r"^(.*) (\d+)$", re.DOTALL)
_STDLIB = re.compile(r"/lib/python3\.\d+t?/")
_FRAME = re.compile(r"^(?P<name>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def find() -> str | None:
    """py-spy beside the harness's interpreter (a venv's bin/), else on PATH."""
    here = Path(sys.executable).parent / "py-spy"
    if here.exists() and os.access(here, os.X_OK):
        return str(here)
    return shutil.which("py-spy")


def version(tool: str) -> str:
    try:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (out.stdout or out.stderr).strip() or "unknown"


@dataclass
class Recording:
    """`with Recording(...) as rec: <load>` then `rec.result()`. py-spy runs on the load cores for
    `seconds`; the load inside the block must last at least that long."""

    tool: str
    pid: int
    seconds: int
    rate_hz: int
    pinning: Pinning
    output: Path
    gil_only: bool = False  # GIL builds: sample only the thread holding the GIL (see `mode`)

    @property
    def mode(self) -> str:
        if self.gil_only:
            # Cheap (no per-thread activity check, so hundreds of threads do not make py-spy fall
            # behind) and exactly "who runs Python". py-spy reads the GIL's last holder: while the
            # GIL is free, the thread that last released it (e.g. into a socket read) is counted.
            return "thread holding the GIL (--gil)"
        return "running threads"

    def __enter__(self) -> Recording:
        self.output.parent.mkdir(parents=True, exist_ok=True)
        argv = [
            *self.pinning.prefix(self.pinning.load_cores),
            self.tool,
            "record",
            "--nonblocking",
            "--subprocesses",
            "--function",
            "--format",
            "raw",
            "--rate",
            str(self.rate_hz),
            "--duration",
            str(self.seconds),
            "--pid",
            str(self.pid),
            "--output",
            str(self.output),
            *(["--gil"] if self.gil_only else []),
        ]
        self._log = self.output.with_suffix(".log")
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._process.wait(timeout=self.seconds + 30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)

    def result(self) -> dict[str, Any]:
        text = self.output.read_text(errors="replace") if self.output.exists() else ""
        if self._process.returncode != 0 or not text.strip():
            why = self._log.read_text(errors="replace").strip()[-600:] if self._log.exists() else ""
            return empty("failed", f"py-spy exited with {self._process.returncode}: {why or 'no samples'}")
        log = self._log.read_text(errors="replace") if self._log.exists() else ""
        return {
            **summarise(text),
            "status": "ok",
            "sampled": self.mode,
            "note": _lag(log),
            "raw_file": self.output.name,
        }


def _lag(log: str) -> str:
    """py-spy's own warnings, when it could not keep its rate (too many threads to visit per
    sample): the profile then covers less than the load, which the report should say."""
    behind = [float(x) for x in re.findall(r"([0-9.]+)s behind in sampling", log)]
    errors = re.search(r"Errors: (\d+)", log)
    parts = []
    if behind:
        parts.append(f"py-spy fell up to {max(behind):.1f} s behind its sampling rate")
    if errors and int(errors.group(1)):
        parts.append(f"{errors.group(1)} samples could not be read (--nonblocking)")
    return "; ".join(parts)


def empty(status: str, note: str) -> dict[str, Any]:
    """A profile that could not be taken: the same keys, no samples."""
    return {"status": status, "note": note, "samples": 0, "top_self": [], "top_total": []}


def summarise(raw: str, top: int = TOP) -> dict[str, Any]:
    """Top functions by own samples (the innermost frame) and by total samples (anywhere on the
    stack, counted once per stack), from py-spy's collapsed-stack output.

    For the totals, the frames that every stack of a group shares (same process, same outermost
    frame: a worker's start-up and serve loop, a thread's bootstrap) are left out: they are on
    100% of their samples and say nothing about where the time goes."""
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    groups: dict[tuple[str, str], list[tuple[list[str], int]]] = {}
    for process, stack, count in _stacks(raw):
        frames = [_name(f) for f in stack]
        samples += count
        if not frames:  # a running thread with no Python frame: the server's native code
            own[NATIVE] += count
            continue
        own[frames[-1]] += count
        groups.setdefault((process, frames[0]), []).append((frames, count))
    for stacks in groups.values():
        shared = _common_prefix([frames for frames, _ in stacks])
        for frames, count in stacks:
            for name in set(frames[min(shared, len(frames) - 1) :]):
                total[name] += count
    return {
        "samples": samples,
        "top_self": _top(own, samples, top),
        "top_total": _top(total, samples, top),
    }


def _common_prefix(stacks: list[list[str]]) -> int:
    first = stacks[0]
    n = len(first)
    for frames in stacks[1:]:
        n = min(n, len(frames))
        for i in range(n):
            if frames[i] != first[i]:
                n = i
                break
    return n


def _stacks(raw: str) -> list[tuple[str, list[str], int]]:
    """(process, frames outermost first, count) per line. A process's command line (py-spy's root
    frame with --subprocesses) may hold newlines: a line without a trailing count continues on the
    next one."""
    found: list[tuple[str, list[str], int]] = []
    pending = ""
    for line in raw.splitlines():
        pending += line
        m = _COUNT.match(pending)
        if not m:
            pending += "\n"
            continue
        pending = ""
        frames = m.group(1).split(";")
        process = ""
        while frames and frames[0].startswith("process "):  # parent, then child: which worker
            process, frames = frames[0].split(":", 1)[0], frames[1:]
        frames = [f for f in frames if not f.startswith("thread ")]
        found.append((process, frames, int(m.group(2))))
    return found


def _name(frame: str) -> str:
    """`handle (/x/site-packages/ftproxy/web/app.py:12)` -> `handle (ftproxy/web/app.py:12)`."""
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m.group("file")
    if "site-packages/" in path:
        path = path.rsplit("site-packages/", 1)[1]
    elif _STDLIB.search(path):
        path = "stdlib/" + _STDLIB.split(path, maxsplit=1)[1]
    else:
        path = _repo_relative(path)
    line = f":{m.group('line')}" if m.group("line") else ""
    return f"{m.group('name')} ({path}{line})"


def _repo_relative(path: str) -> str:
    for top in ("/ftproxy/", "/bench/"):
        if top in path:
            return top.strip("/") + "/" + path.split(top, 1)[1]
    return path


def _top(counter: Counter[str], samples: int, top: int) -> list[dict[str, Any]]:
    return [
        {"function": name, "samples": n, "pct": round(100.0 * n / samples, 1) if samples else 0.0}
        for name, n in counter.most_common(top)
    ]
