"""HTTP/1.1 towards SAP AI Core on the standard library's sockets: the one module that speaks HTTP upstream.

Why not a client library: measured on this project's harness (docs/architecture.md, "The upstream
HTTP client"), a pure-Python client such as httpx costs 1-2.5 ms of CPU per call at 64 threads,
most of it inside its connection-pool lock, and its shared pool has raced on a GIL-free build.
What ftproxy needs from HTTP is small and fixed — POST a JSON body to a handful of hosts, read a
status, a few headers and a Content-Length or chunked body, incrementally — so this module does
exactly that with `socket` and `ssl`, which are part of every CPython build, free-threaded ones
included, and costs a few syscalls per call.

What it provides (the seam `ftproxy.upstream` is built on):
- a connection pool per origin, shared by every thread: idle connections wait in a `deque`
  (append/pop are atomic, on free-threaded builds too), so taking and returning a connection
  takes no lock of ours; a connection idle longer than `idle_expiry_s` or closed by the server is
  dropped; a request that fails on a reused connection before any answer byte is sent once more
  on a fresh connection (the server closed it while idle);
- connect and read timeouts; TLS verified by default, with a configurable CA bundle;
- `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` from the environment (CONNECT tunnels for https);
- incremental bodies: `Response.iter_chunks()` yields bytes as they arrive, and with a `wait`
  function yields `b""` whenever nothing arrived within `wait()` seconds, so the caller can
  send keep-alives and enforce its own deadlines on the same thread;
- `Response.interrupt()`, safe from another thread: it shuts the socket down, which wakes a
  reader blocked in `recv` at once.
Every failure becomes one of the four `ftproxy.upstream.errors` types here, and nowhere else.
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
from collections.abc import Callable, Iterator, Mapping
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import unquote, urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

from ftproxy.upstream.errors import ConnectFailed, ConnectionLost, ProtocolError, UpstreamTimeout

_RECV = 65536
_MAX_HEAD = 64 * 1024  # status line + headers; SAP AI Core sends well under 2 kB
_NO_BODY_STATUSES = frozenset({204, 304})
# An idle connection reused within this many seconds is not probed first: servers keep idle
# connections open far longer, and the rare one closed meanwhile is sent to once more anyway.
_PROBE_AFTER_S = 1.0
# On Linux, plain-TCP sockets stay in blocking mode with the timeouts set in the kernel
# (SO_RCVTIMEO/SO_SNDTIMEO): Python's own timeout mode polls before every recv and send, which
# is a second system call and a second release and re-take of the GIL per read. TLS sockets keep
# Python's timeouts (OpenSSL would retry a kernel timeout forever).
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_POLL = hasattr(select, "poll")  # everywhere but Windows


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
    ) -> Response:
        """Sends the request and returns once the answer's status and headers have arrived.

        The body is left unread: iterate `iter_chunks()` or call `read()`, then `close()` (which
        returns a fully read connection to the pool). Raises `ConnectFailed`, `UpstreamTimeout`,
        `ConnectionLost` or `ProtocolError`; `ValueError` for a header that cannot be sent.
        """
        pool, target = self._target(url)
        payload = _request_head(method, target, pool.host_header, headers, pool.proxy_authorization, body)
        connection = pool.checkout()
        if connection is not None:
            try:
                return connection.exchange(payload, method)
            except _Stale:
                pass  # closed by the server while idle: once more on a fresh connection
        return pool.connect().exchange(payload, method, fresh=True)

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

    def checkout(self) -> _Connection | None:
        """A live idle connection, newest first, or None."""
        now = time.monotonic()
        while True:
            try:
                connection = self._idle.pop()
            except IndexError:
                return None
            idle = now - connection.idle_since
            if idle < self.transport.idle_expiry_s and (idle < _PROBE_AFTER_S or connection.looks_alive()):
                return connection
            connection.close()

    def checkin(self, connection: _Connection) -> None:
        if len(self._idle) < self.transport.max_idle_per_origin:
            connection.idle_since = time.monotonic()
            self._idle.append(connection)
        else:
            connection.close()

    def connect(self) -> _Connection:
        transport, origin, proxy = self.transport, self.origin, self.proxy
        address = (proxy.host, proxy.port) if proxy else (origin.host, origin.port)
        try:
            sock = socket.create_connection(address, timeout=transport.connect_timeout)
        except TimeoutError:
            raise UpstreamTimeout(f"connecting to {_name(address)} timed out") from None
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {_name(address)}: {_reason(exc)}") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if proxy is not None and origin.scheme == "https":
                _open_tunnel(sock, origin, proxy)
            if origin.scheme == "https":
                sock = transport._tls.wrap_socket(sock, server_hostname=origin.host)
        except TimeoutError:
            sock.close()
            raise UpstreamTimeout(f"connecting to {_name(address)} timed out (TLS or proxy)") from None
        except ssl.SSLError as exc:
            sock.close()
            raise ConnectFailed(f"TLS with {origin.host} failed: {exc.reason or exc}") from None
        except OSError as exc:
            sock.close()
            raise ConnectFailed(f"cannot connect to {origin.host}: {_reason(exc)}") from None
        return _Connection(self, sock)

    def close(self) -> None:
        while True:
            try:
                self._idle.pop().close()
            except IndexError:
                return


class _Stale(Exception):
    """A reused connection failed before any byte of the answer: safe to send again."""


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

    def exchange(self, payload: bytes, method: str, *, fresh: bool = False) -> Response:
        # A TLS socket's one timeout may still be the last stream's short wait: sends get the read timeout
        self.set_timeout(self.pool.transport.read_timeout)
        try:
            self.sock.sendall(payload)
        except (TimeoutError, BlockingIOError):
            self.close()
            raise UpstreamTimeout("sending the request to SAP AI Core timed out") from None
        except OSError as exc:
            self.close()
            if not fresh:
                raise _Stale from None
            raise ConnectionLost(f"the connection broke while sending the request: {_reason(exc)}") from None
        try:
            return self._read_head(method)
        except _Stale:
            if fresh:
                raise ConnectionLost("SAP AI Core closed the connection without answering") from None
            raise

    def _read_head(self, method: str) -> Response:
        buffer = self.buffer
        interim = False  # after an interim answer the server has the request: never send it again
        while True:
            end = buffer.find(b"\r\n\r\n")
            while end < 0 or end > _MAX_HEAD:  # a complete but oversized head, too
                if len(buffer) > _MAX_HEAD:
                    self.close()
                    raise ProtocolError("the answer's headers are larger than 64 kB")
                if not self.fill(stale_if_empty=not buffer and not interim):
                    self.close()
                    raise ConnectionLost("SAP AI Core closed the connection in the middle of the headers")
                end = buffer.find(b"\r\n\r\n")
            head = bytes(buffer[:end])
            del buffer[: end + 4]
            status, headers, keep_alive = _parse_head(head, self)
            if 100 <= status < 200 and status != 101:
                interim = True
                continue  # an interim answer (100 Continue): the real one follows
            return Response(self, status, headers, keep_alive, method)

    def fill(self, *, stale_if_empty: bool = False, wait: float | None = None) -> bool:
        """Reads what the socket has into the buffer. False at the end of the stream (the peer
        closed). With `wait`, gives up after that many seconds and raises `_Waited`."""
        self.set_timeout(self.pool.transport.read_timeout if wait is None else wait)
        try:
            data = self.sock.recv(_RECV)
        except (TimeoutError, BlockingIOError):  # BlockingIOError: a kernel timeout (EAGAIN)
            if wait is not None:
                raise _Waited from None
            self.close()
            raise UpstreamTimeout("SAP AI Core sent nothing within the read timeout") from None
        except OSError as exc:
            self.close()
            if stale_if_empty:
                raise _Stale from None
            raise ConnectionLost(f"the connection to SAP AI Core broke: {_reason(exc)}") from None
        if not data:
            if stale_if_empty:
                self.close()
                raise _Stale
            return False
        self.buffer += data
        return True

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class _Waited(Exception):
    """`fill(wait=…)` saw no bytes within the wait."""


class Response:
    """An upstream answer whose body has not been read yet. One thread reads it; any thread may
    `interrupt()` it."""

    __slots__ = ("_body", "_connection", "_done", "_interrupted", "_keep_alive", "_wait", "headers", "status")

    def __init__(
        self,
        connection: _Connection,
        status: int,
        headers: dict[str, str],
        keep_alive: bool,
        method: str,
    ) -> None:
        self.status = status
        self.headers = headers  # lower-case names; repeated headers joined with ", "
        self._connection: _Connection | None = connection
        self._keep_alive = keep_alive
        self._interrupted = False
        self._done = False
        self._wait: Callable[[], float] | None = None
        if method == "HEAD" or status in _NO_BODY_STATUSES:
            self._body: Iterator[bytes | None] = iter(())
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._body = self._chunked(connection)
        elif "content-length" in headers:
            length = headers["content-length"].strip()
            if not (length.isascii() and length.isdigit()):  # not "²", a Latin-1 digit
                connection.close()
                raise ProtocolError(f"Content-Length {length[:40]!r} is not a number")
            self._body = self._sized(connection, int(length))
        else:
            self._keep_alive = False  # the body ends when the server closes the connection
            self._body = self._until_close(connection)

    def iter_chunks(self, wait: Callable[[], float] | None = None) -> Iterator[bytes]:
        """The body as it arrives. With `wait`, each wait for bytes lasts at most `wait()`
        seconds, after which `b""` is yielded (nothing arrived) and the wait starts again."""
        self._wait = wait
        try:
            for chunk in self._body:
                yield chunk if chunk is not None else b""
        except (UpstreamTimeout, ConnectionLost, ProtocolError):
            self._release(reuse=False)
            raise
        self._done = True

    def read(self, limit: int | None = None) -> bytes:
        """The whole body (or its first `limit` bytes, leaving the rest unread), then closes."""
        parts: list[bytes] = []
        size = 0
        try:
            for chunk in self.iter_chunks():
                parts.append(chunk)
                size += len(chunk)
                if limit is not None and size >= limit:
                    break
        finally:
            self.close()
        body = b"".join(parts)
        return body if limit is None else body[:limit]

    def close(self) -> None:
        """Returns a fully read connection to its pool; closes one read only in part."""
        self._release(reuse=self._done and self._keep_alive and not self._interrupted)

    def interrupt(self) -> None:
        """Wakes the thread reading this answer (its next read fails with `ConnectionLost`).
        Shutting the socket down works from any thread; closing it would not wake the reader."""
        # The flag first: a `close()` racing on the reading thread then sees it and closes the
        # connection instead of handing a shut-down socket back to the pool.
        self._interrupted = True
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(OSError):
                connection.sock.shutdown(socket.SHUT_RDWR)

    def _release(self, *, reuse: bool) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if reuse and not self._interrupted:
            connection.pool.checkin(connection)
        else:
            connection.close()

    # Body readers: generators over the connection's buffer that yield body bytes as they
    # arrive, or None when a wait (`iter_chunks(wait=…)`) passed with no bytes.

    def _await(self, connection: _Connection) -> bool | None:
        """True: bytes arrived; False: the peer closed; None: the wait passed with nothing."""
        wait = self._wait
        try:
            got = connection.fill(wait=None if wait is None else max(wait(), 0.001))
        except _Waited:
            return None
        except ConnectionLost:
            if self._interrupted:
                raise ConnectionLost("the call was interrupted") from None
            raise
        if self._interrupted:  # even if bytes came: an interrupted TLS socket reads raw ciphertext
            raise ConnectionLost("the call was interrupted")
        return got

    def _sized(self, connection: _Connection, length: int) -> Iterator[bytes | None]:
        buffer = connection.buffer
        while length > 0:
            if not buffer:
                got = self._await(connection)
                if got is None:
                    yield None
                    continue
                if not got:
                    raise ConnectionLost(f"SAP AI Core closed the connection with {length} bytes unsent")
            take = bytes(buffer[:length])
            del buffer[: len(take)]
            length -= len(take)
            yield take

    def _until_close(self, connection: _Connection) -> Iterator[bytes | None]:
        buffer = connection.buffer
        while True:
            if buffer:
                data = bytes(buffer)
                buffer.clear()
                yield data
                continue
            got = self._await(connection)
            if got is None:
                yield None
            elif not got:
                return

    def _need(self, connection: _Connection, size: int, what: str) -> Iterator[None]:
        """Fills the buffer to at least `size` bytes, yielding None for each wait that passed."""
        while len(connection.buffer) < size:
            got = self._await(connection)
            if got is None:
                yield None
            elif not got:
                raise ConnectionLost(f"SAP AI Core closed the connection in the middle of {what}")

    def _chunked(self, connection: _Connection) -> Iterator[bytes | None]:
        buffer = connection.buffer
        while True:
            # the chunk-size line: hex size, optional ";extensions", CRLF
            while (end := buffer.find(b"\r\n")) < 0:
                if len(buffer) > 4096:
                    raise ProtocolError("a chunk-size line is longer than 4 kB")
                yield from self._need(connection, len(buffer) + 1, "the answer")
            size_text = bytes(buffer[:end]).split(b";", 1)[0].strip()
            # hex digits only: int(…, 16) alone would also take "-1", "0x4" and "1_0"
            if not size_text or size_text.strip(b"0123456789abcdefABCDEF"):
                raise ProtocolError(f"bad chunk size {size_text[:20]!r}")
            size = int(size_text, 16)
            del buffer[: end + 2]
            if size == 0:
                yield from self._trailers(connection)
                return
            while size > 0:
                if not buffer:
                    yield from self._need(connection, 1, "a chunk")
                take = bytes(buffer[:size])
                del buffer[: len(take)]
                size -= len(take)
                yield take
            yield from self._need(connection, 2, "the answer")
            if buffer[:2] != b"\r\n":
                raise ProtocolError("a chunk is not followed by CRLF")
            del buffer[:2]

    def _trailers(self, connection: _Connection) -> Iterator[bytes | None]:
        buffer = connection.buffer
        while True:
            end = buffer.find(b"\r\n")
            if end == 0:
                del buffer[:2]
                return
            if end > 0:
                del buffer[: end + 2]  # a trailer field: nothing we use
                continue
            if len(buffer) > _MAX_HEAD:  # bounded like the head: a line that never ends
                raise ProtocolError("a trailer line is longer than 64 kB")
            got = self._await(connection)
            if got is None:
                yield None
            elif not got:
                return  # closed right after the last chunk: the body is complete


def _request_head(
    method: str,
    target: str,
    host: str,
    headers: Mapping[str, str],
    proxy_authorization: str | None,
    body: bytes,
) -> bytes:
    lines = [f"{method} {target} HTTP/1.1\r\n", f"Host: {host}\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers.items())
    if proxy_authorization is not None:
        lines.append(f"Proxy-Authorization: {proxy_authorization}\r\n")
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    head = "".join(lines)
    # Each line ends in the CRLF written here (the last in two): a CR or LF inside a name or a
    # value would smuggle headers, or a second request, onto the connection.
    breaks = len(lines) + 1
    if head.count("\n") != breaks or head.count("\r") != breaks:
        raise ValueError("a header name or value contains a line break")
    try:
        return head.encode("latin-1") + body
    except UnicodeEncodeError:
        raise ValueError("a header value is not Latin-1 text") from None


def _parse_head(head: bytes, connection: _Connection) -> tuple[int, dict[str, str], bool]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    code = parts[1] if len(parts) > 1 else ""
    if not parts[0].startswith("HTTP/1.") or not (code.isascii() and code.isdigit()):  # not "²00"
        connection.close()
        raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name[-1] in " \t":
            connection.close()
            raise ProtocolError(f"malformed header line {line[:80]!r}")
        name = name.lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    keep_alive = parts[0] == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    return int(parts[1]), headers, keep_alive


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
        if not data or len(answer) > _MAX_HEAD:
            raise OSError(f"proxy {proxy.host}:{proxy.port} closed the tunnel request")
        answer += data
    status_line = answer.split(b"\r\n", 1)[0].decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or parts[1] != "200":
        raise OSError(f"proxy {proxy.host}:{proxy.port} refused the tunnel: {status_line[:80]}")


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


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__  # str: our own tunnel failures
