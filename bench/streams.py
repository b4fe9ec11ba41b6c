"""A purpose-built streaming client: time to first token, per-chunk gaps, stalls, many streams.

wrk cannot time the events inside one response, so streams are driven here: one thread, one
`selectors` loop, raw non-blocking sockets and a minimal HTTP/1.1 reader (chunked or
close-delimited bodies). One thread keeps the client's own cost per event small and constant,
so a thousand concurrent streams are read on the load core without a thread each, and the
arrival time of every SSE event is taken when its bytes are read. The same client measures the
simulator directly (the limit), which shows when the client itself is the bottleneck.
"""

from __future__ import annotations

import re
import selectors
import socket
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench.payloads import HttpRequest

_CONTENT = re.compile(rb'"content"\s*:\s*"[^"]')


@dataclass
class _Stream:
    index: int
    sock: socket.socket | None = None
    sent_at: float = 0.0
    status: int = 0
    headers_done: bool = False
    chunked: bool = False
    raw: bytes = b""  # bytes not yet split into headers / chunks
    body: bytes = b""  # de-chunked bytes not yet split into events
    chunk_left: int = 0
    events: list[float] = field(default_factory=list)  # arrival times of content events
    done: bool = False  # saw the end of the answer ([DONE] or the final chunk)
    error: str = ""


@dataclass(frozen=True)
class StreamRun:
    streams: int
    completed: int
    errors: int
    stalls: int
    ttft_ms: list[float]
    gaps_ms: list[float]
    max_gap_ms: float
    stream_max_gaps_ms: list[float]  # each stream's largest gap (streams with two or more chunks)
    wall_s: float
    error_samples: list[str]


def run(
    base_url: str,
    request: HttpRequest,
    streams: int,
    *,
    open_over_s: float,
    stall_gap_s: float,
    timeout_s: float,
) -> StreamRun:
    """Opens `streams` streams spread over `open_over_s`, reads them all to the end (or until
    `timeout_s`), and measures each content event's arrival."""
    host, port = _address(base_url)
    payload = _encode(request, host, port)
    sel = selectors.DefaultSelector()
    pending = [_Stream(i) for i in range(streams)]
    active: dict[int, _Stream] = {}
    finished: list[_Stream] = []
    t0 = time.perf_counter()
    deadline = t0 + open_over_s + timeout_s
    step = open_over_s / max(1, streams)
    next_open = 0
    while (next_open < streams or active) and time.perf_counter() < deadline:
        now = time.perf_counter()
        while next_open < streams and now >= t0 + next_open * step:
            s = pending[next_open]
            next_open += 1
            _open(s, host, port, payload, sel)
            if s.error:
                finished.append(s)
            else:
                active[s.index] = s
        wait = max(0.0, t0 + next_open * step - now) if next_open < streams else 0.05
        for key, _ in sel.select(timeout=min(wait, 0.05) if next_open < streams else 0.05):
            s = key.data
            if not _read(s):
                sel.unregister(s.sock)
                s.sock.close()  # type: ignore[union-attr]
                del active[s.index]
                finished.append(s)
    for s in active.values():  # still open at the deadline: counted as stalled, not completed
        s.error = s.error or "timeout"
        sel.unregister(s.sock)
        s.sock.close()  # type: ignore[union-attr]
        finished.append(s)
    sel.close()
    return _summarise(finished, stall_gap_s, time.perf_counter() - t0)


def _open(s: _Stream, host: str, port: int, payload: bytes, sel: selectors.BaseSelector) -> None:
    try:
        sock = socket.create_connection((host, port), timeout=5)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sent_at = time.perf_counter()
        sock.sendall(payload)
        sock.setblocking(False)
    except OSError as exc:
        s.error = f"connect: {exc}"
        return
    s.sock = sock
    sel.register(sock, selectors.EVENT_READ, s)


def _read(s: _Stream) -> bool:
    """Reads what arrived; False when the stream is over."""
    try:
        data = s.sock.recv(65536)  # type: ignore[union-attr]
    except BlockingIOError:
        return True
    except OSError as exc:
        s.error = f"read: {exc}"
        return False
    now = time.perf_counter()
    if not data:
        if s.status == 200 and not s.chunked and s.headers_done:
            _events(s, b"", now, final=True)
        if not s.done:
            s.error = s.error or "closed before the end"
        return False
    s.raw += data
    if not s.headers_done:
        head, sep, rest = s.raw.partition(b"\r\n\r\n")
        if not sep:
            return True
        lines = head.split(b"\r\n")
        s.status = int(lines[0].split()[1])
        s.chunked = any(
            ln.lower().startswith(b"transfer-encoding:") and b"chunked" in ln.lower() for ln in lines
        )
        s.headers_done, s.raw = True, rest
        if s.status != 200:
            s.error = f"status {s.status}"
            return False
    if s.chunked:
        _dechunk(s)
    else:
        s.body += s.raw
        s.raw = b""
    _events(s, b"", now)
    return not s.done


def _dechunk(s: _Stream) -> None:
    while True:
        if s.chunk_left:
            take = s.raw[: s.chunk_left]
            s.body += take
            s.raw = s.raw[len(take) :]
            s.chunk_left -= len(take)
            if s.chunk_left:
                return
            s.chunk_left = -2  # the CRLF after the chunk
        if s.chunk_left == -2:
            if len(s.raw) < 2:
                return
            s.raw, s.chunk_left = s.raw[2:], 0
        line, sep, rest = s.raw.partition(b"\r\n")
        if not sep:
            return
        size = int(line.split(b";")[0], 16)
        s.raw = rest
        if size == 0:
            s.done = True
            return
        s.chunk_left = size


def _events(s: _Stream, _: bytes, now: float, *, final: bool = False) -> None:
    *complete, s.body = s.body.replace(b"\r\n", b"\n").split(b"\n\n")
    if final and s.body:
        complete.append(s.body)
    for event in complete:
        if b"[DONE]" in event:
            s.done = True
        elif _CONTENT.search(event):
            s.events.append(now)


def _summarise(finished: list[_Stream], stall_gap_s: float, wall_s: float) -> StreamRun:
    ttft: list[float] = []
    gaps: list[float] = []
    largest: list[float] = []
    stalls = errors = completed = 0
    samples: list[str] = []
    for s in finished:
        if s.error:
            errors += 1
            if len(samples) < 5:
                samples.append(s.error)
        if s.events:
            ttft.append((s.events[0] - s.sent_at) * 1000)
            mine = [(b - a) * 1000 for a, b in zip(s.events, s.events[1:], strict=False)]
            gaps += mine
            if mine:
                largest.append(max(mine))
            first_late = s.events[0] - s.sent_at > stall_gap_s
            if first_late or any(g > stall_gap_s * 1000 for g in mine):
                stalls += 1
            elif s.done and not s.error:
                completed += 1
        elif not s.error:
            errors += 1
        if not s.done and not s.error:
            stalls += 1
    return StreamRun(
        streams=len(finished),
        completed=completed,
        errors=errors,
        stalls=stalls,
        ttft_ms=ttft,
        gaps_ms=gaps,
        max_gap_ms=max(gaps, default=0.0),
        stream_max_gaps_ms=largest,
        wall_s=wall_s,
        error_samples=samples,
    )


def _address(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _encode(r: HttpRequest, host: str, port: int) -> bytes:
    head = [
        f"{r.method} {r.path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Connection: close",
        f"Content-Length: {len(r.body)}",
        "Accept: text/event-stream",
    ]
    head += [f"{k}: {v}" for k, v in r.headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + r.body
