"""bench.instructions: callgrind's dump read into instructions per binary, and the exact-count
driver; a real count under valgrind runs with the per-core smoke test (marked `bench`)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import instructions
from bench import per_core_figures as figures
from bench.payloads import HttpRequest

# A dump as callgrind writes it (`positions: line`, names compressed after their first use, a
# `calls=` line followed by the call's inclusive cost, which the callee's own lines already hold).
DUMP = """\
# callgrind format
version: 1
creator: callgrind-3.19.0
pid: 42
desc: Trigger: dump bench-1
positions: line
events: Ir
summary: 1000

ob=(1) /usr/lib/x86_64-linux-gnu/libc.so.6
fl=(1) ???
fn=(1) memcpy
0 100
+2 50

ob=(2) /opt/py/lib/libpython3.13.so.1.0
fl=(2) ceval.c
fn=(2) _PyEval_EvalFrameDefault
10 600
cob=(1)
cfi=(1)
cfn=(1)
calls=3 0
12 150
* 50

ob=(1)
fn=(3) free
0 200
totals: 1000
"""


@pytest.mark.parametrize(
    ("binary", "expected"),
    [("libc.so.6", 350), ("libpython3.13.so.1.0", 650)],
)
def test_a_dump_gives_each_binarys_own_instructions(binary: str, expected: int) -> None:
    found = instructions.costs_by_binary(DUMP)
    assert found[binary] == expected
    assert sum(found.values()) == 1000  # the dump's own total: no call cost counted twice


def test_a_count_per_request_with_its_largest_binaries_and_the_rest() -> None:
    count = instructions.Count(4, 4000, {"libpython3.13.so.1.0": 3000, "libc.so.6": 600, "libm.so.6": 400})
    assert count.per_request() == 1000
    assert count.as_dict(top=2) == {
        "requests": 4,
        "per_request": 1000,
        "by_binary": {"libpython3.13.so.1.0": 750, "libc.so.6": 150, "other": 100},
    }


@pytest.mark.parametrize(
    ("file_name", "short"),
    [
        ("libpython3.13.so.1.0", "libpython3.13"),
        ("_granian.cpython-313-x86_64-linux-gnu.so", "_granian"),
        ("ld-linux-x86-64.so.2", "ld-linux-x86-64"),
        ("libc.so.6", "libc"),
        ("???", "???"),
    ],
)
def test_binary_names_in_the_report(file_name: str, short: str) -> None:
    assert figures._binary(file_name) == short


@contextmanager
def _server(status: int) -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                seen.append(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


REQ = HttpRequest("POST", "/v1/chat/completions", {"Content-Type": "application/json"}, b"{}")


def test_drive_sends_exactly_the_requests_asked_over_the_connections() -> None:
    with _server(200) as (url, seen):
        instructions.drive(url, REQ, connections=3, requests=10)
    assert len(seen) == 10


def test_drive_raises_on_an_answer_that_is_not_2xx() -> None:
    with _server(503) as (url, _), pytest.raises(RuntimeError, match="503"):
        instructions.drive(url, REQ, connections=2, requests=4)


def test_callgrind_counts_become_the_levels_and_routes_figures() -> None:
    data = {
        "targets": {
            "direct: R": {
                "c1": {"instructions_per_request": None},
                "c64": {"instructions_per_request": None},
            },
            "ftproxy: R": {"c1": {"instructions_per_request": 7}, "c64": {"instructions_per_request": None}},
        },
        "routes": {"R": {}},
        "instructions": {
            "direct: R": {"c1": {"per_request": 300}, "c64": {"per_request": 250}},
            "trivial WSGI app on Granian": {"c1": {"per_request": 100}, "c64": {"per_request": 90}},
            figures.PROXY_FLOOR: {"c1": {"per_request": 200}, "c64": {"per_request": 190}},
            "ftproxy: R": {"c1": {"per_request": 600}, "c64": {"per_request": 580}},
        },
    }
    figures.merge_instructions(data)
    assert data["targets"]["direct: R"]["c1"]["instructions_per_request"] == 300
    assert data["targets"]["ftproxy: R"]["c1"]["instructions_per_request"] == 7  # perf's own count stays
    assert data["targets"]["ftproxy: R"]["c64"]["instructions_per_request"] == 580
    assert data["routes"]["R"] == {
        "instructions_c1": 600,
        "instructions_c1_vs_direct": 2.0,
        "instructions_c1_over_trivial": 500,
        "instructions_c1_over_floor": 400,
    }
