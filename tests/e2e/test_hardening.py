"""Issue 13 from outside: attacks and operator mistakes against real `ftproxy serve` processes.

Each attack is bounded (seconds, hundreds of connections, 127.0.0.1 only) and runs against the
defaults sized to this machine (no --workers/--threads): healthy clients, each request on a fresh
connection, must all be answered while it runs. A crashed worker is respawned and counted, a busy
port is refused with the holder named, lone surrogates do not leak concurrency slots, broken
chunked framing is a clean client error. Measurements of the same attacks at the issue's scale:
`python tests/e2e/attacks.py URL slowloris 1500 15` (docs/reliability.md has the table).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import psutil
import pytest
from attacks import Healthy, healthy, slow_bodies, slowloris
from processes import proxy_config, request_log_lines, running_proxy

from ftproxy.demo import DEMO_KEY

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
ATTACK_S = 10.0
SERVE = [sys.executable, "-m", "ftproxy", "serve"]


def serving(
    config: Path, folder: Path, *extra: str, port: int | None = None
) -> AbstractContextManager[tuple[str, Path]]:
    """`ftproxy serve` with the machine's default sizes (unlike the other e2e tests)."""
    return running_proxy(config, folder, *extra, port=port, test_sizes=False)


@pytest.fixture(scope="module")
def config(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return proxy_config(tmp_path_factory.mktemp("hardening"), simulator, retries={"max_attempts": 1})


@pytest.fixture(scope="module")
def default_sized_proxy(config: Path) -> Iterator[tuple[str, Path]]:
    with serving(config, config.parent) as running:
        yield running


def workers_of(root: str) -> list[psutil.Process]:
    """The worker processes of the server behind `root` (each listens on its port)."""
    port = int(root.rsplit(":", 1)[1])
    pids = {
        c.pid
        for c in psutil.net_connections("tcp")
        if c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN and c.pid
    }
    return [psutil.Process(pid) for pid in sorted(pids)]


def eventually(check: Callable[[], bool], what: str, within_s: float = 30.0) -> None:
    """Readiness poll (not a synchronisation sleep): until `check()` holds, or fail naming `what`."""
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, f"not within {within_s} s: {what}"
        time.sleep(0.1)


def assert_all_served(result: Healthy) -> None:
    assert result.latencies, result.summary()
    assert not result.failures, f"{result.summary()}; {sorted(set(result.failures))[:3]}"


# ---- defaults sized to the machine (issue 11, item 5) ----


def test_defaults_use_every_core_and_granian_does_not_warn(default_sized_proxy: tuple[str, Path]) -> None:
    root, log = default_sized_proxy
    text = log.read_text()
    cores = len(os.sched_getaffinity(0))
    threads = max(128, -(-512 // cores))
    assert f"process workers: {cores} x {threads} threads" in text
    assert "seems quite high" not in text  # Granian's CPU-bound thread warning
    eventually(lambda: len(workers_of(root)) == cores, f"{cores} workers listening")


# ---- slowloris and slow bodies (items 3 and 4) ----


def test_healthy_clients_are_served_during_a_slowloris(default_sized_proxy: tuple[str, Path]) -> None:
    root, _ = default_sized_proxy
    with slowloris(root, 500) as attack:
        result = healthy(root, ATTACK_S)
    assert attack.opened >= 500
    assert_all_served(result)


def test_healthy_clients_are_served_while_slow_bodies_trickle(default_sized_proxy: tuple[str, Path]) -> None:
    root, _ = default_sized_proxy
    with slow_bodies(root, 300) as attack:  # more than the 2 x 128 threads of the setup
        result = healthy(root, ATTACK_S)
    assert attack.opened == 300 and attack.reconnects == 0  # all held open for the whole attack
    assert_all_served(result)


def test_a_connection_trickling_its_headers_is_cut_at_the_header_timeout(config: Path) -> None:
    with serving(config, config.parent, "--workers", "1", "--header-timeout", "1") as (root, log):
        assert "headers within 1 s" in log.read_text()
        host, port = root.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            assert sock.recv(65536) == b""  # closed by the server, not by the 30 s safety net


# ---- a crashed worker (item 2) ----


def test_a_killed_worker_is_respawned_counted_and_the_others_serve_on(config: Path) -> None:
    with serving(config, config.parent, "--workers", "2") as (root, log):
        eventually(lambda: len(workers_of(root)) == 2, "2 workers listening")
        before = workers_of(root)
        results: list[Healthy] = []
        load = threading.Thread(target=lambda: results.append(healthy(root, 8.0)), daemon=True)
        load.start()
        before[0].send_signal(signal.SIGKILL)
        replaced = lambda: len(now := workers_of(root)) == 2 and before[0].pid not in {p.pid for p in now}  # noqa: E731
        eventually(replaced, "a replacement worker listening")
        load.join(30)
        result = results[0]
        # Only connections the killed worker held (in flight, or accepted into its queue) may
        # fail, and only at the transport level: never an HTTP error from the survivor.
        assert all(not f.startswith("HTTP") for f in result.failures), result.failures
        assert len(result.failures) <= 10, result.failures
        assert len(result.latencies) > 10, result.summary()
        assert {p.pid for p in workers_of(root)} - {before[0].pid} and len(workers_of(root)) == 2
        text = log.read_text()
        assert f"worker-1 (pid {before[0].pid}) exited unexpectedly (killed by signal 9)" in text
        scraped = httpx.get(root + "/metrics").text
        assert re.search(r'^ftproxy_worker_restarts_total\{reason="crash"\} 1\.0$', scraped, re.M), scraped


# ---- a busy port (item 5) ----


def test_a_busy_port_is_refused_naming_its_holder(
    default_sized_proxy: tuple[str, Path], config: Path
) -> None:
    root, _ = default_sized_proxy
    port = root.rsplit(":", 1)[1]
    second = subprocess.run(
        [sys.executable, "-m", "ftproxy", "serve", "--config", str(config), "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 3, second.stderr
    holder = workers_of(root)[0].parent()
    assert f"port {port} on 127.0.0.1 is already in use by pid {holder.pid}" in second.stderr
    assert "--reuse-port" in second.stderr
    demo = subprocess.run([*SERVE, "--demo", "--port", port], capture_output=True, text=True, timeout=60)
    assert demo.returncode == 3 and "already in use" in demo.stderr
    assert "DEMO MODE" not in demo.stderr  # refused before the demo's simulator was started


def test_reuse_port_shares_on_purpose(default_sized_proxy: tuple[str, Path], config: Path) -> None:
    root, _ = default_sized_proxy
    port = int(root.rsplit(":", 1)[1])
    with serving(config, config.parent, "--workers", "1", "--reuse-port", port=port) as (_, log):
        eventually(lambda: "Started worker-1" in log.read_text(), "the second server serving")
        assert "port shared (--reuse-port)" in log.read_text()


# ---- hostile values leak nothing (item 1), broken framing ----


def test_lone_surrogates_do_not_leak_concurrency_slots(simulator: str, tmp_path: Path) -> None:
    limited = proxy_config(tmp_path, simulator, limits={"max_concurrent_requests": 3})
    with serving(limited, tmp_path) as (root, log):
        _hostile_then_healthy(root, log)


def _hostile_then_healthy(root: str, log: Path) -> None:
    bad = b'{"model": "x\\ud800", "messages": [{"role": "user", "content": "hi"}]}'
    for _ in range(6):  # twice the limit of 3 per worker
        answer = httpx.post(root + "/v1/chat/completions", content=bad, headers=AUTH)
        assert answer.status_code == 400 and answer.json()["error"]["param"] == "model", answer.text
    good = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(6):
        last = httpx.post(root + "/v1/chat/completions", json=good, headers=AUTH)
        assert last.status_code == 200
    in_flight = [
        line
        for line in httpx.get(root + "/metrics").text.splitlines()
        if line.startswith("ftproxy_requests_in_flight{")
    ]
    assert all(line.endswith(" 0.0") for line in in_flight if "metrics" not in line), in_flight
    lines = request_log_lines(log, [last.headers["x-request-id"]])
    assert sum(1 for x in lines if x["status"] == 400 and x["path"] == "/v1/chat/completions") >= 6


def test_broken_chunked_framing_is_a_client_error(default_sized_proxy: tuple[str, Path]) -> None:
    # Granian ends the body at a chunk framing error without telling the app (docs/operations.md):
    # what arrived before it is all ftproxy sees, so a cut-off JSON body is a 400, never a 500.
    root, _ = default_sized_proxy
    host, port = root.removeprefix("http://").split(":")
    body = b'{"model": "gpt-4.1", "messages": [{"role": "user", '
    chunked = f"{len(body):x}\r\n".encode() + body + b"\r\nXX0\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            + f"Authorization: Bearer {DEMO_KEY}\r\nConnection: close\r\n\r\n".encode()
            + chunked
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status = int(data.split(b" ", 2)[1])
    assert status == 400, data[:300]


def test_gunicorn_replaces_a_killed_worker_and_counts_it(config: Path) -> None:
    with serving(config, config.parent, "--server", "gunicorn", "--workers", "2") as (root, log):
        arbiter = workers_of(root)[0]  # one of the processes sharing the listening socket
        while (parent := arbiter.parent()) is not None and parent.cmdline() == arbiter.cmdline():
            arbiter = parent  # the `ftproxy serve` process, which runs Gunicorn's arbiter
        eventually(lambda: len(arbiter.children()) == 2, "2 Gunicorn workers")
        victim = arbiter.children()[0]
        victim.send_signal(signal.SIGKILL)
        eventually(
            lambda: len(kids := arbiter.children()) == 2 and victim.pid not in {k.pid for k in kids},
            "a replacement Gunicorn worker",
        )
        assert f"a Gunicorn worker (pid {victim.pid}) exited unexpectedly" in log.read_text()
        eventually(
            lambda: 'ftproxy_worker_restarts_total{reason="crash"} 1.0' in httpx.get(root + "/metrics").text,
            "the restart counted in /metrics",
        )
