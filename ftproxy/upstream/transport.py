"""HTTP/1.1 towards SAP AI Core on the standard library's sockets: connections, pools, TLS, proxies.

Why not a client library: measured on this project's harness (docs/architecture.md, "The upstream
HTTP client"), a pure-Python client such as httpx costs 1-2.5 ms of CPU per call at 64 threads,
most of it inside its connection-pool lock, and its shared pool has raced on a GIL-free build.
What ftproxy needs from HTTP is small and fixed — POST a JSON body to a handful of hosts, read a
status, a few headers and a Content-Length or chunked body, incrementally — so this module and
its two neighbours (`response.py`: reading an answer's body; `http11.py`: the message format) do
exactly that with `socket` and `ssl`, which are part of every CPython build, free-threaded ones
included, and cost a few system calls per call.

What it provides (the seam `ftproxy.upstream` is built on):
- a connection pool per origin, shared by every thread: idle connections wait in a `deque`
  (append/pop are atomic, on free-threaded builds too), so taking and returning a connection
  takes no lock of ours; a connection idle longer than `idle_expiry_s` or closed by the server is
  dropped, when taken and, for the oldest idle ones, by a sweep on return at most once a
  second; a request that fails on a reused connection before any answer byte is sent once
  more on a fresh connection (the server closed it while idle);
- connect and read timeouts; TLS verified by default, with a configurable CA bundle;
- `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment (CONNECT tunnels for https);
- incremental bodies: `UpstreamResponse.iter_chunks()` yields bytes as they arrive, and with a
  `WaitUntil` yields `b""` whenever nothing arrived by its time, so the caller can
  send keep-alives and enforce its own deadlines on the same thread;
- `UpstreamResponse.interrupt()`, safe from another thread: it shuts the socket down, which wakes a
  reader blocked in `recv` at once.
Every failure becomes one of the four `ftproxy.upstream.errors` types in these three modules, and
nowhere else: socket and TLS failures through one table per step of a call (`_CONNECTING` …
`_WAITING`), applied by one context manager (`_Seam`) around every socket call; framing
failures where the framing is read.
"""

from __future__ import annotations

import base64
import contextlib
import select
import socket
import ssl
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from functools import lru_cache
from types import TracebackType
from typing import Final, NamedTuple
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

from ftproxy.upstream.errors import (
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    UpstreamError,
    UpstreamTimeout,
)
from ftproxy.upstream.http11 import MAX_HEAD, parse_head, request_head
from ftproxy.upstream.response import UpstreamResponse, Waited

_RECV = 65536
# An idle connection reused within this many seconds is not probed first: servers keep idle
# connections open far longer, and the rare one closed meanwhile is sent to once more anyway.
_PROBE_AFTER_S = 1.0
# Returning a connection sweeps the pool's oldest idle ones at most this often: one poll() a
# second per origin at most, not one per request.
_SWEEP_EVERY_S = 1.0
# On Linux, plain-TCP sockets stay in blocking mode with the timeouts set in the kernel
# (SO_RCVTIMEO/SO_SNDTIMEO): Python's own timeout mode polls before every recv and send, which
# is a second system call and a second release and re-take of the GIL per read. TLS sockets keep
# Python's timeouts (OpenSSL would retry a kernel timeout forever).
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_POLL = hasattr(select, "poll")  # everywhere but Windows


class _Stale(Exception):
    """A reused connection failed before any byte of the answer: safe to send again."""


# Socket and TLS failures → ours, one table per step of a call (as httpcore maps its backend's
# errors per operation). Keys are looked up along the failure's MRO, most specific first, so
# every OSError subclass lands somewhere; values are what to raise and its message ({where}:
# the address dialled, {host}: the origin's host, {reason}: the OS's words, {tls}: OpenSSL's).
# TimeoutError is Python's own timeout (socket.timeout); BlockingIOError is EAGAIN from a kernel
# timeout (SO_RCVTIMEO/SO_SNDTIMEO); ValueError (UnicodeError) is a host name IDNA cannot encode.
_Table = Mapping[type[BaseException], tuple[type[Exception], str]]
_CONNECTING: Final[_Table] = {
    TimeoutError: (UpstreamTimeout, "connecting to {where} timed out"),
    OSError: (ConnectFailed, "cannot connect to {where}: {reason}"),
    ValueError: (ConnectFailed, "cannot connect to {where}: {reason}"),
}
_HANDSHAKE: Final[_Table] = {  # the proxy tunnel, the TLS handshake, the socket options
    TimeoutError: (UpstreamTimeout, "connecting to {where} timed out (TLS or proxy)"),
    ssl.SSLError: (ConnectFailed, "TLS with {host} failed: {tls}"),
    OSError: (ConnectFailed, "cannot connect to {host}: {reason}"),
    ValueError: (ConnectFailed, "cannot connect to {host}: {reason}"),
}
_SENDING: Final[_Table] = {
    TimeoutError: (UpstreamTimeout, "sending the request to SAP AI Core timed out"),
    BlockingIOError: (UpstreamTimeout, "sending the request to SAP AI Core timed out"),
    OSError: (ConnectionLost, "the connection broke while sending the request: {reason}"),
}
_READING: Final[_Table] = {
    TimeoutError: (UpstreamTimeout, "SAP AI Core sent nothing within the read timeout"),
    BlockingIOError: (UpstreamTimeout, "SAP AI Core sent nothing within the read timeout"),
    OSError: (ConnectionLost, "the connection to SAP AI Core broke: {reason}"),
}
# A reused connection that breaks before the answer's first byte was closed by the server while
# idle: the request is sent once more on a fresh one (a timeout is not a closed connection).
_RESENDING: Final[_Table] = {**_SENDING, OSError: (_Stale, "")}
_FIRST_READ: Final[_Table] = {**_READING, OSError: (_Stale, "")}
# A read with a wait (`iter_chunks(until)`): silence within the wait is not an error.
_WAITING: Final[_Table] = {
    **_READING,
    TimeoutError: (Waited, ""),
    BlockingIOError: (Waited, ""),
}


class _Seam:
    """`with _Seam(table):` around socket calls: a failure leaves as the table's exception.

    Failures the table does not name (our own `UpstreamError`s) pass through unchanged. The
    per-request steps are module constants, so the hot path allocates nothing for it."""

    __slots__ = ("host", "table", "where")

    def __init__(self, table: _Table, where: str = "", host: str = "") -> None:
        self.table = table
        self.where = where
        self.host = host

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None or exc is None:
            return
        mapped = _mapped(self.table, kind)
        if mapped is None:
            return
        ours, words = mapped
        tls = getattr(exc, "reason", None) or exc  # OpenSSL's short reason on an ssl.SSLError
        raise ours(words.format(where=self.where, host=self.host, reason=_reason(exc), tls=tls)) from None


def _mapped(table: _Table, kind: type[BaseException]) -> tuple[type[Exception], str] | None:
    """The table's entry for a failure of type `kind`: its own, or its nearest base's."""
    for base in kind.__mro__:
        entry = table.get(base)
        if entry is not None:
            return entry
    return None


_SEND = _Seam(_SENDING)
_RESEND = _Seam(_RESENDING)
_READ = _Seam(_READING)
_READ_FIRST = _Seam(_FIRST_READ)
_WAIT = _Seam(_WAITING)


class _Origin(NamedTuple):
    scheme: str
    host: str
    port: int


class _Target(NamedTuple):
    pool: _OriginPool
    request_target: str  # what goes on the request line: a path, or the absolute URL via a proxy


class _Proxy(NamedTuple):
    host: str
    port: int
    authorization: str | None  # "Basic …" from the proxy URL's user:password, if any


class Transport:
    """One per process: every origin's connection pool, the TLS context and the proxy settings."""

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 600.0,
        verify: bool | str = True,
        max_idle_per_origin: int = 256,
        idle_expiry_s: float = 60.0,
        proxies: Mapping[str, str] | None = None,
    ) -> None:
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.max_idle_per_origin = max_idle_per_origin
        self.idle_expiry_s = idle_expiry_s
        self._tls = _tls_context(verify)
        self._proxies = dict(getproxies_environment() if proxies is None else proxies)
        self._pools: dict[_Origin, _OriginPool] = {}
        self._pools_lock = threading.Lock()  # creating an origin's pool; lookups take no lock
        # URL → (pool, request target): the deployment URLs are few and fixed, so parsing,
        # proxy decisions and encoding happen once per URL, not once per request.
        self._target = lru_cache(maxsize=4096)(self._parse_target)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes = b"",
    ) -> UpstreamResponse:
        """Sends the request and returns once the answer's status and headers have arrived.

        The body is left unread: iterate `iter_chunks()` or call `read()`, then `close()` (which
        returns a fully read connection to the pool). Raises `ConnectFailed`, `UpstreamTimeout`,
        `ConnectionLost` or `ProtocolError`; `ValueError` for a header that cannot be sent.
        """
        pool, target = self._target(url)
        payload = request_head(method, target, pool.host_header, headers, pool.proxy_authorization, body)
        connection = pool.checkout()
        if connection is not None:
            try:
                return connection.round_trip(payload, method)
            except _Stale:
                pass  # closed by the server while idle: once more on a fresh connection
        return pool.connect().round_trip(payload, method, fresh=True)

    def close(self) -> None:
        with self._pools_lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()

    def _parse_target(self, url: str) -> _Target:
        # checked before parsing: urlsplit silently drops tabs and line breaks, sending another URL
        if not url.isascii() or not url.isprintable() or " " in url:
            raise ValueError(f"URL {url[:200]!r} cannot be sent on a request line")
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        origin = _Origin(scheme, parts.hostname, port)
        pool = self._pools.get(origin)
        if pool is None:
            with self._pools_lock:
                pool = self._pools.get(origin)
                if pool is None:
                    pool = self._pools[origin] = _OriginPool(self, origin, self._proxy_for(origin))
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        # through a plain-HTTP proxy the request line carries the absolute URL
        target = f"http://{pool.host_header}{path}" if pool.proxy is not None and scheme == "http" else path
        return _Target(pool, target)

    def _proxy_for(self, origin: _Origin) -> _Proxy | None:
        if proxy_bypass_environment(origin.host, self._proxies):
            return None
        url = self._proxies.get(origin.scheme)
        if not url:
            return None
        parts = urlsplit(url if "://" in url else "http://" + url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"proxy {url!r}: only http:// proxies are supported (CONNECT tunnels for https)")
        authorization = None
        if parts.username is not None:
            credentials = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            authorization = "Basic " + base64.b64encode(credentials).decode("ascii")
        return _Proxy(parts.hostname, parts.port or 80, authorization)


class _OriginPool:
    """Idle keep-alive connections to one origin; checkout and checkin are single deque operations."""

    def __init__(self, transport: Transport, origin: _Origin, proxy: _Proxy | None) -> None:
        self.transport = transport
        self.origin = origin
        self.proxy = proxy
        default_port = 443 if origin.scheme == "https" else 80
        host = f"[{origin.host}]" if ":" in origin.host else origin.host
        self.host_header = host if origin.port == default_port else f"{host}:{origin.port}"
        # Plain-HTTP proxies see every request and need the credentials on each; CONNECT tunnels
        # send them once, when the tunnel is opened.
        self.proxy_authorization = proxy.authorization if proxy and origin.scheme == "http" else None
        self._idle: deque[_Connection] = deque()
        self._swept_at = 0.0

    def checkout(self) -> _Connection | None:
        """A live idle connection, newest first, or None."""
        now = time.monotonic()
        while True:
            try:
                connection = self._idle.pop()
            except IndexError:
                return None
            if self._reusable(connection, now):
                return connection
            connection.close()

    def checkin(self, connection: _Connection) -> None:
        now = time.monotonic()
        if len(self._idle) < self.transport.max_idle_per_origin:
            connection.idle_since = now
            self._idle.append(connection)
        else:
            connection.close()
        if now - self._swept_at >= _SWEEP_EVERY_S:  # a racy float: at worst two threads sweep
            self._swept_at = now
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Close the oldest idle connections that expired or that the server closed (they sit in
        CLOSE-WAIT otherwise: checkout takes the newest, so the oldest are never looked at),
        stopping at the first live one: servers close idle connections oldest first."""
        for _ in range(len(self._idle)):
            try:
                connection = self._idle.popleft()
            except IndexError:
                return
            if self._reusable(connection, now):
                self._idle.appendleft(connection)
                return
            connection.close()

    def _reusable(self, connection: _Connection, now: float) -> bool:
        idle = now - connection.idle_since
        return idle < self.transport.idle_expiry_s and (idle < _PROBE_AFTER_S or connection.looks_alive())

    def connect(self) -> _Connection:
        transport, origin, proxy = self.transport, self.origin, self.proxy
        address = (proxy.host, proxy.port) if proxy else (origin.host, origin.port)
        where = _name(address)
        with _Seam(_CONNECTING, where):
            sock = socket.create_connection(address, timeout=transport.connect_timeout)
        try:
            with _Seam(_HANDSHAKE, where, origin.host):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if proxy is not None and origin.scheme == "https":
                    _open_tunnel(sock, origin, proxy)
                if origin.scheme == "https":
                    sock = transport._tls.wrap_socket(sock, server_hostname=origin.host)
                return _Connection(self, sock)
        except UpstreamError:
            with contextlib.suppress(OSError):
                sock.close()
            raise

    def close(self) -> None:
        while True:
            try:
                self._idle.pop().close()
            except IndexError:
                return


class _Connection:
    """One socket and its read buffer; used by one thread at a time (whoever checked it out)."""

    __slots__ = ("buffer", "idle_since", "kernel_timeouts", "pool", "sock", "timeout")

    def __init__(self, pool: _OriginPool, sock: socket.socket) -> None:
        self.pool = pool
        self.sock = sock
        self.buffer = bytearray()
        self.idle_since = 0.0
        self.kernel_timeouts = _KERNEL_TIMEOUTS and not isinstance(sock, ssl.SSLSocket)
        self.timeout = -1.0
        if self.kernel_timeouts:
            sock.settimeout(None)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(pool.transport.read_timeout))
        self.set_timeout(pool.transport.read_timeout)

    def set_timeout(self, seconds: float) -> None:
        if seconds == self.timeout:
            return
        if self.kernel_timeouts:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(seconds))
        else:
            self.sock.settimeout(seconds)
        self.timeout = seconds

    def looks_alive(self) -> bool:
        """An idle connection must have nothing to read: readable means closed (or garbage)."""
        try:
            if _POLL:  # not select(): it fails on descriptors above 1023, common under load
                poller = select.poll()
                poller.register(self.sock, select.POLLIN)
                return not poller.poll(0)
            readable, _, _ = select.select((self.sock,), (), (), 0)
        except (OSError, ValueError):
            return False
        return not readable

    def round_trip(self, payload: bytes, method: str, *, fresh: bool = False) -> UpstreamResponse:
        """Sends the request and reads the answer's head; on any failure the connection is closed."""
        try:
            with _SEND if fresh else _RESEND:
                # A TLS socket's one timeout may still be the last stream's short wait: sends
                # get the read timeout.
                self.set_timeout(self.pool.transport.read_timeout)
                self.sock.sendall(payload)
            return self._read_head(method)
        except _Stale:
            self.close()
            if fresh:
                raise ConnectionLost("SAP AI Core closed the connection without answering") from None
            raise
        except UpstreamError:
            self.close()
            raise

    def _read_head(self, method: str) -> UpstreamResponse:
        buffer = self.buffer
        interim = False  # after an interim answer the server has the request: never send it again
        while True:
            end = buffer.find(b"\r\n\r\n")
            while end < 0 or end > MAX_HEAD:  # a complete but oversized head, too
                if len(buffer) > MAX_HEAD:
                    raise ProtocolError("the answer's headers are larger than 64 kB")
                if not self.fill(stale_if_empty=not buffer and not interim):
                    raise ConnectionLost("SAP AI Core closed the connection in the middle of the headers")
                end = buffer.find(b"\r\n\r\n")
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            status, headers, keep_alive = parse_head(head)
            if 100 <= status < 200 and status != 101:
                interim = True
                continue  # an interim answer (100 Continue): the real one follows
            return UpstreamResponse(self, status, headers, keep_alive, method)

    def fill(self, *, stale_if_empty: bool = False, wait: float | None = None) -> bool:
        """Reads what the socket has into the buffer. False at the end of the stream (the peer
        closed). With `wait`, gives up after that many seconds and raises `Waited`. A failure
        leaves the connection open: whoever reads the head or the body closes it."""
        with _WAIT if wait is not None else _READ_FIRST if stale_if_empty else _READ:
            self.set_timeout(self.pool.transport.read_timeout if wait is None else wait)
            data = self.sock.recv(_RECV)
        if not data:
            if stale_if_empty:
                raise _Stale
            return False
        self.buffer += data
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def _open_tunnel(sock: socket.socket, origin: _Origin, proxy: _Proxy) -> None:
    host = f"[{origin.host}]" if ":" in origin.host else origin.host  # an IPv6 literal goes in brackets
    authority = f"{host}:{origin.port}"
    lines = [f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"]
    if proxy.authorization:
        lines.append(f"Proxy-Authorization: {proxy.authorization}\r\n")
    sock.sendall("".join(lines).encode("latin-1") + b"\r\n")
    answer = b""
    while b"\r\n\r\n" not in answer:
        data = sock.recv(4096)
        if not data or len(answer) > MAX_HEAD:
            raise ConnectFailed(
                f"cannot connect to {origin.host}: proxy {proxy.host}:{proxy.port} closed the tunnel request"
            )
        answer += data
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[1] != "200":
        raise ConnectFailed(
            f"cannot connect to {origin.host}: proxy {proxy.host}:{proxy.port} refused the tunnel: "
            f"{status_line[:80]}"
        )


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


def _timeval(seconds: float) -> bytes:
    whole = int(seconds)
    return struct.pack("@ll", whole, int((seconds - whole) * 1_000_000))


def _name(address: tuple[str, int]) -> str:
    return f"{address[0]}:{address[1]}"


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
