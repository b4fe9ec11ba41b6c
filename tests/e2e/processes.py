"""Real processes on free loopback ports: `ftproxy serve`, started and stopped by PID."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

from ftproxy.demo import DEMO_KEY, write_demo_config
from ftproxy.simulator.testing import free_port, stop

START_DEADLINE_S = 30.0

__all__ = [
    "free_port",
    "open_raw_stream",
    "proxy_config",
    "running_proxy",
    "stop",
    "upstream_connections",
    "wait_for_health",
    "worker",
]


def wait_for_health(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Polls until the server answers; fails fast (with its log) if it died instead."""
    deadline = time.monotonic() + START_DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)  # polling interval of a readiness loop, not a synchronisation
    raise RuntimeError(f"server not healthy within {START_DEADLINE_S}s:\n{log.read_text()[-4000:]}")


def proxy_config(folder: Path, simulator: str, **extra: object) -> Path:
    """The demo configuration for `simulator`, with extra top-level keys (e.g. streaming)."""
    path = write_demo_config(folder, simulator, host="127.0.0.1", port=3001)
    if extra:
        path.write_text(json.dumps({**json.loads(path.read_text()), **extra}))
    return path


@contextmanager
def running_proxy(
    config: Path | None,
    folder: Path,
    *extra: str,
    port: int | None = None,
    test_sizes: bool = True,
    env: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, Path]]:
    """`ftproxy serve` on a free loopback port until the block ends. With `test_sizes`, one
    worker of 32 threads unless `extra` says otherwise: the tests count token fetches, limits
    and connections of one process; without, the machine's defaults are served. Without a
    `config`, it runs in `folder` with `env` only (configuration from the environment)."""
    port = port or free_port()
    log = folder / f"proxy-{port}-{time.monotonic_ns()}.log"
    sizes: tuple[str, ...] = ()
    if test_sizes:
        sizes = ("--threads", "32", *(() if "--workers" in extra else ("--workers", "1")))
    with log.open("wb") as out:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "ftproxy", "serve"),
                *(("--config", str(config)) if config else ()),
                *("--host", "127.0.0.1", "--port", str(port)),
                *sizes,
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=None if config else folder,
        )
    root = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(root + "/health", process, log)
        yield root, log
    finally:
        stop(process)


def request_log_lines(log: Path, request_ids: list[str], timeout: float = 10.0) -> list[dict]:
    """The proxy's request log lines once those of `request_ids` are written. One thread writes
    them, in order, a moment after each request ends (ftproxy.observe.logs): poll until they are there."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [
            json.loads(line)
            for line in log.read_text(errors="replace").splitlines()
            if line.startswith('{"event":"request"')
        ]
        seen = {line["request_id"] for line in lines}
        if all(i in seen for i in request_ids) or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def open_raw_stream(root: str, text: str) -> socket.socket:
    """A streaming request on a raw socket, read up to its first data event."""
    host, port = root.removeprefix("http://").split(":")
    body = json.dumps(
        {"model": "gpt-4.1", "stream": True, "messages": [{"role": "user", "content": text}]}
    ).encode()
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {DEMO_KEY}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    seen = b""
    while b"data: {" not in seen:
        chunk = sock.recv(65536)
        assert chunk, seen
        seen += chunk
    return sock


def worker(root: str) -> psutil.Process:
    """The process that runs the app: the Granian worker listening behind `root`."""
    port = int(root.rsplit(":", 1)[1])
    for conn in psutil.net_connections("tcp"):
        if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
            process = psutil.Process(conn.pid)
            children = process.children()
            return children[0] if children else process
    raise AssertionError(f"no process listens on {port}")


def upstream_connections(process: psutil.Process, sim: str) -> int:
    port = int(sim.rsplit(":", 1)[1])
    return sum(
        1
        for c in process.net_connections("tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    )
