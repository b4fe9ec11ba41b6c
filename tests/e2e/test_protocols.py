"""What ftproxy speaks on the wire, and what it does with a request that never finishes (issue 21).

HTTP/1.1 only: an HTTP/2 prior-knowledge connection is not served (Granian's HTTP/2 had no header
timeout, and an abandoned h2 body held a thread and an in-flight slot for good). A request head
over the limit is a 431 at the server; a body that ends before its Content-Length is a 400 and
never reaches SAP AI Core; an abandoned body frees its slot. Raw sockets on 127.0.0.1, bounded.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from processes import proxy_config, running_proxy

from ftproxy.demo import DEMO_KEY

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
CHAT = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
EMPTY_SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # length 0, type SETTINGS, no flags, stream 0


@pytest.fixture(scope="module")
def limited(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A proxy that admits 3 requests at once, so one leaked slot in three shows as a 503."""
    folder = tmp_path_factory.mktemp("protocols")
    config = proxy_config(folder, simulator, limits={"max_concurrent_requests": 3})
    with running_proxy(config, folder) as (root, _log):
        yield root, simulator


def _address(root: str) -> tuple[str, int]:
    host, port = root.removeprefix("http://").split(":")
    return host, int(port)


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _sim_requests(sim: str) -> int:
    return int(httpx.get(sim + "/_sim/stats").json()["requests_total"])


def _in_flight(root: str) -> list[str]:
    return [
        line
        for line in httpx.get(root + "/metrics").text.splitlines()
        if line.startswith("ftproxy_requests_in_flight{") and "metrics" not in line
    ]


def _eventually_idle(root: str) -> None:
    """Readiness poll, not a synchronisation sleep: every in-flight gauge back to 0."""
    deadline = time.monotonic() + 30
    while True:
        lines = _in_flight(root)
        if all(line.endswith(" 0.0") for line in lines):
            return
        assert time.monotonic() < deadline, lines
        time.sleep(0.1)


def test_http2_prior_knowledge_is_not_served(limited: tuple[str, str]) -> None:
    root, _ = limited
    with socket.create_connection(_address(root), timeout=10) as sock:
        sock.sendall(H2_PREFACE + EMPTY_SETTINGS)
        data = _read_all(sock)
    # An HTTP/2 server answers the preface with its own SETTINGS frame (type byte 4 at offset 3).
    assert not (len(data) >= 9 and data[3] == 4), data[:40]
    assert data == b"" or data.startswith(b"HTTP/1.1 4"), data[:200]


def test_a_body_shorter_than_its_content_length_is_a_400_and_never_forwarded(
    limited: tuple[str, str],
) -> None:
    root, sim = limited
    body = json.dumps(CHAT).encode()
    before = _sim_requests(sim)
    with socket.create_connection(_address(root), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {DEMO_KEY}\r\nContent-Length: {len(body) + 40}\r\n\r\n".encode()
            + body
        )
        sock.shutdown(socket.SHUT_WR)  # the client's FIN: no more bytes will come
        data = _read_all(sock)
    assert data.startswith(b"HTTP/1.1 400"), data[:300]
    assert b"Content-Length" in data.split(b"\r\n\r\n", 1)[1], data[:400]
    assert _sim_requests(sim) == before


def test_abandoned_bodies_free_their_slots(limited: tuple[str, str]) -> None:
    root, _ = limited
    for _ in range(6):  # twice the limit of 3
        with socket.create_connection(_address(root), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Authorization: Bearer {DEMO_KEY}\r\nContent-Length: 100\r\n\r\n{{".encode()
            )
        # closed with 99 bytes still owed
    _eventually_idle(root)
    for _ in range(6):
        answer = httpx.post(root + "/v1/chat/completions", json=CHAT, headers=AUTH, timeout=30)
        assert answer.status_code == 200, answer.text


def test_a_request_head_over_the_limit_is_a_431(limited: tuple[str, str]) -> None:
    root, sim = limited
    before = _sim_requests(sim)
    with socket.create_connection(_address(root), timeout=10) as sock:
        # The server may answer and close before the rest of the head is sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                + b"X-Padding: "
                + b"a" * 400_000
                + f"\r\nAuthorization: Bearer {DEMO_KEY}\r\nContent-Length: 2\r\n\r\n{{}}".encode()
            )
        data = _read_all(sock)
    assert data.startswith(b"HTTP/1.1 431"), data[:300]
    assert _sim_requests(sim) == before


def test_a_large_body_is_not_bounded_by_the_head_limit(limited: tuple[str, str]) -> None:
    root, _ = limited
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 1_000_000}]}
    answer = httpx.post(root + "/v1/chat/completions", json=big, headers=AUTH, timeout=60)
    assert answer.status_code == 200, answer.text[:300]


def test_gunicorn_speaks_http1_only_too(simulator: str, tmp_path: Path) -> None:
    config = proxy_config(tmp_path, simulator)
    with running_proxy(config, tmp_path, "--server", "gunicorn") as (root, _log):
        with socket.create_connection(_address(root), timeout=10) as sock:
            sock.sendall(H2_PREFACE + EMPTY_SETTINGS)
            data = _read_all(sock)
        assert not (len(data) >= 9 and data[3] == 4), data[:40]
