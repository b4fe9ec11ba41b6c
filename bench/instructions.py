"""Instructions per request, counted by valgrind's callgrind: the stable measure.

Wall-clock figures on a shared virtual machine move by 2x between runs (the host's clock and
neighbours change); the number of instructions a request costs does not. perf's hardware
counters are often absent in a VM, so the count comes from callgrind, which runs the server
under its own CPU emulation (about 50x slower, so only a few hundred requests are driven).

The server is started under `valgrind --tool=callgrind --trace-children=yes` (Granian's worker
process is a child); after a warm-up its counters are zeroed (`callgrind_control --zero`), an
exact number of requests is driven by a closed loop of keep-alive connections (every one
completed, so no request is half counted), and the counters are dumped. The dump's cost lines
give the total and its split by binary: the interpreter (libpython, which runs our Python code
and the standard library's), Granian's native module, orjson, the C library... Kernel work is
not in user-space instruction counts; the wall-clock levels' system CPU share shows it.
"""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import threading
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.payloads import HttpRequest
from bench.processes import Started, Wrap

START_TIMEOUT_S = 300.0  # ftproxy needs about 40 s to start under callgrind on this class of machine
CONTROL_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 120.0


def probe() -> dict[str, Any]:
    """Whether callgrind can count here: valgrind and its control script on PATH."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        return {
            "available": False,
            "note": f"{' and '.join(missing)} not installed (apt-get install valgrind): n/a",
        }
    return {
        "available": True,
        "note": "valgrind --tool=callgrind, user-space instructions of the server tree",
    }


def wrap(folder: Path) -> Wrap:
    """The argv prefix that starts a child (and its children) under callgrind, dumps in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    argv = (
        "valgrind",
        "--tool=callgrind",
        "--trace-children=yes",
        "--quiet",
        f"--callgrind-out-file={folder}/callgrind.%p",
    )
    return Wrap(argv, START_TIMEOUT_S)


@dataclass(frozen=True)
class Count:
    requests: int
    instructions: int
    by_binary: dict[str, int]  # binary's file name (libpython3.13.so.1.0, _granian...so): instructions

    def per_request(self) -> float:
        return self.instructions / self.requests

    def as_dict(self, top: int = 6) -> dict[str, Any]:
        shares = sorted(self.by_binary.items(), key=lambda kv: -kv[1])
        rest = sum(v for _, v in shares[top:])
        split = {name: round(v / self.requests) for name, v in shares[:top]}
        if rest:
            split["other"] = round(rest / self.requests)
        return {"requests": self.requests, "per_request": round(self.per_request()), "by_binary": split}


def count(started: Started, req: HttpRequest, *, connections: int, requests: int, folder: Path) -> Count:
    """The instructions `requests` requests cost the process tree `started` (run under `wrap`):
    zero its counters, drive exactly that many over `connections` connections, dump them."""
    pids = [str(p.pid) for p in started.tree()]
    _control(["--zero", *pids])
    drive(started.url, req, connections=connections, requests=requests)
    label = f"bench-{uuid.uuid4().hex[:12]}"
    _control([f"--dump={label}", *pids])
    total: Counter[str] = Counter()
    dumps = [p for p in folder.glob("callgrind.*") if f"Trigger: dump {label}" in _head(p)]
    if not dumps:
        raise RuntimeError(f"callgrind wrote no dump for {label} in {folder}")
    for dump in dumps:
        total.update(costs_by_binary(dump.read_text(errors="replace")))
    return Count(requests, sum(total.values()), dict(total))


def drive(url: str, req: HttpRequest, *, connections: int, requests: int) -> None:
    """Exactly `requests` requests, spread over `connections` keep-alive connections, each
    answered 2xx and read to its end (anything else raises: a count of failures means nothing)."""
    parts = urlsplit(url)
    shares = [requests // connections + (1 if i < requests % connections else 0) for i in range(connections)]
    failures: list[str] = []

    def loop(n: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=REQUEST_TIMEOUT_S)
        try:
            for _ in range(n):
                conn.request(req.method, req.path, body=req.body, headers=req.headers)
                answer = conn.getresponse()
                body = answer.read()
                if not 200 <= answer.status < 300:
                    failures.append(f"{answer.status}: {body[:200]!r}")
                    return
        except (OSError, http.client.HTTPException) as exc:
            failures.append(repr(exc))
        finally:
            conn.close()

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in shares if n]
    for t in threads:
        t.start()
    for t in threads:
        t.join(REQUEST_TIMEOUT_S * max(shares))
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(threads)} connections failed: {failures[0]}")


# One cost line: a position (a number, or +n/-n/* relative to the last one) and the Ir count.
_COST = re.compile(r"^[+\-*]?\d*\s+(\d+)")
_NAMED = re.compile(r"^\((\d+)\)(?:\s+(.*))?$")


def costs_by_binary(text: str) -> Counter[str]:
    """Exclusive instructions per binary in one callgrind dump (format: valgrind's callgrind
    docs, "Callgrind Format Specification"). A cost line after `calls=` is the call's
    inclusive cost, already counted in the callee: it is skipped. Names are compressed: `(3)
    path` the first time, `(3)` after."""
    names: dict[str, str] = {}
    found: Counter[str] = Counter()
    binary = "???"
    after_calls = False
    for line in text.splitlines():
        if line.startswith(("ob=", "cob=")):
            key, _, value = line.partition("=")
            m = _NAMED.match(value.strip())
            name = value.strip()
            if m:
                number, given = m.groups()
                if given:
                    names[number] = given.strip()
                name = names.get(number, number)
            if key == "ob":
                binary = Path(name).name
            continue
        if line.startswith("calls="):
            after_calls = True
            continue
        m = _COST.match(line)
        if m and line[:1] not in ("", " "):
            if after_calls:
                after_calls = False
                continue
            found[binary] += int(m.group(1))
    return found


def _control(args: list[str]) -> None:
    done = subprocess.run(
        ["callgrind_control", *args], capture_output=True, text=True, timeout=CONTROL_TIMEOUT_S
    )
    if done.returncode != 0 or "OK" not in done.stdout:
        raise RuntimeError(f"callgrind_control {args[0]} failed: {(done.stdout + done.stderr)[-500:]}")


def _head(path: Path) -> str:
    try:
        with path.open(errors="replace") as f:
            return f.read(4096)
    except OSError:
        return ""
