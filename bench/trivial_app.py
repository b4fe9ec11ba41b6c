"""Two floors for a WSGI app under Granian (issue 25).

`app`: read the body, answer a fixed JSON. The per-core scenario serves it with the same Granian
settings as ftproxy (one worker, the same blocking threads, HTTP/1.1, pinned to the same core), so
"ftproxy / trivial app" shows what the proxy's own work costs above what Granian and the kernel
take for any request.

`proxy`: the least a blocking proxy does — read the body, send the request as it came (method,
target, headers, body) to `FTPROXY_BENCH_UPSTREAM` over the thread's kept-alive socket, read the
answer's head and its Content-Length body, answer with its status and body. No parsing beyond
that, no conversion, no auth, no metrics. Served like `app` in front of the instant upstream with
the route's direct request, it is what any Python proxy on Granian pays for the second hop (the
upstream's socket, a second wake-up per request); ftproxy's figures above it are its own work.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

ANSWER = (
    b'{"id":"chatcmpl-trivial","object":"chat.completion","created":0,"model":"trivial",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
)
_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))]
UPSTREAM_ENV = "FTPROXY_BENCH_UPSTREAM"  # http://host:port of the upstream `proxy` forwards to


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", _HEADERS)
    return [ANSWER]


_upstream = urlsplit(os.environ.get(UPSTREAM_ENV, "http://127.0.0.1:9"))
_ADDRESS = (_upstream.hostname or "127.0.0.1", _upstream.port or 80)
_HOST = f"Host: {_ADDRESS[0]}:{_ADDRESS[1]}\r\n".encode()
_local = threading.local()  # one kept-alive upstream socket per serving thread
_SKIPPED = frozenset({"HTTP_HOST", "HTTP_CONNECTION", "HTTP_CONTENT_LENGTH", "HTTP_CONTENT_TYPE"})


def proxy(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] == "GET":  # the harness's start-up check
        return app(environ, start_response)
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    target = environ["PATH_INFO"] + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
    head = [f"{environ['REQUEST_METHOD']} {target} HTTP/1.1\r\n".encode(), _HOST]
    head += [
        f"{name[5:].replace('_', '-')}: {value}\r\n".encode("latin-1")
        for name, value in environ.items()
        if name.startswith("HTTP_") and name not in _SKIPPED
    ]
    head.append(
        f"Content-Type: {environ.get('CONTENT_TYPE', 'application/json')}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    status, answer = _round_trip(b"".join(head) + body)
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
    return [answer]


def _round_trip(request: bytes) -> tuple[str, bytes]:
    sock: socket.socket | None = getattr(_local, "sock", None)
    if sock is None:
        sock = _local.sock = socket.create_connection(_ADDRESS)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(request)
    data = b""
    while (end := data.find(b"\r\n\r\n")) < 0:
        data += _recv(sock)
    head = data[:end].decode("latin-1").split("\r\n")
    lengths = [line.split(":", 1)[1] for line in head[1:] if line.lower().startswith("content-length:")]
    if not lengths:  # the instant upstream's JSON answers always carry one
        raise RuntimeError(f"the upstream answered without Content-Length: {head[0]!r}")
    size = end + 4 + int(lengths[0])
    while len(data) < size:
        data += _recv(sock)
    return head[0].split(" ", 1)[1], data[end + 4 : size]


def _recv(sock: socket.socket) -> bytes:
    data = sock.recv(65536)
    if not data:
        _local.sock = None
        sock.close()
        raise ConnectionError("the upstream closed the connection")
    return data
