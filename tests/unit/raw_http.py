"""Scripted HTTP/1.1 servers on raw loopback sockets, for testing ftproxy's own upstream transport.

A test writes the server side as a function of one accepted connection (`Peer`): read a request,
send exact bytes (valid or deliberately broken), wait on a `threading.Event`, close or reset.
Real sockets, one thread per connection; the server counts accepts and records every request,
so tests can assert connection reuse and what went over the wire. Also here: a CONNECT proxy
that tunnels to a real target, and a throwaway CA and server certificate made with `openssl`.
"""

from __future__ import annotations

import contextlib
import select
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

# Deadline for anything a server thread waits on, so a failing test ends instead of hanging.
DEADLINE_S = 10.0


@dataclass
class Seen:
    """A request as the server read it off the wire."""

    method: str
    target: str
    version: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    connection: int  # which accepted connection it came on, 1-based


class Peer:
    """The server's side of one accepted connection, driven by a test's handler function."""

    def __init__(self, server: RawServer, sock: socket.socket, number: int) -> None:
        self.server = server
        self.sock = sock
        self.number = number
        self.buffer = bytearray()

    def read_request(self) -> Seen | None:
        """The next request (head and Content-Length body); None if the client closed first."""
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            if not self._fill():
                if self.buffer:
                    raise AssertionError(f"client closed mid-request: {bytes(self.buffer[:200])!r}")
                return None
        lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        method, target, version = lines[0].split(" ")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            if not self._fill():
                raise AssertionError("client closed mid-body")
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        seen = Seen(method, target, version, headers, body, self.number)
        with self.server.lock:
            self.server.requests.append(seen)
        return seen

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def pending(self) -> bool:
        """Bytes from the client beyond the request just read (a second request already sent)."""
        if self.buffer:
            return True
        readable, _, _ = select.select((self.sock,), (), (), 0)
        return bool(readable)

    def wait_closed(self) -> bool:
        """Waits for the client to close; True if it did, False if it sent bytes instead."""
        return not self._fill()

    def wait(self, event: threading.Event) -> None:
        if not event.wait(DEADLINE_S):
            raise AssertionError("the test never released the server")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()

    def reset(self) -> None:
        """Closes with a TCP RST instead of a FIN (SO_LINGER with a zero timeout)."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buffer += data
        return bool(data)


Handler = Callable[[Peer], None]


class RawServer:
    """Listens on 127.0.0.1; each accepted connection runs `handler(peer)` on its own thread.

    Use as a context manager. `release` is set on exit, so handlers parked on it finish; a
    handler's failure other than a socket error (an assertion about what the client sent) is
    re-raised on exit.
    """

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.lock = threading.Lock()
        self.accepts = 0
        self.requests: list[Seen] = []
        self.failures: list[BaseException] = []
        self.release = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._socks: list[socket.socket] = []

    def url(self, path: str = "/") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self._listener.listen(64)
        accepting = threading.Thread(target=self._accept_loop, daemon=True)
        accepting.start()
        self._threads.append(accepting)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() on Linux
        self._listener.close()
        with self.lock:
            socks = list(self._socks)
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(DEADLINE_S)
        for sock in socks:
            sock.close()
        if kind is None and self.failures:
            raise self.failures[0]

    def _accept_loop(self) -> None:
        while True:
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self.lock:
                self.accepts += 1
                number = self.accepts
                self._socks.append(sock)
                thread = threading.Thread(target=self._serve, args=(sock, number), daemon=True)
                self._threads.append(thread)
            thread.start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        sock.settimeout(DEADLINE_S)
        try:
            if self.tls is not None:
                sock = self.tls.wrap_socket(sock, server_side=True)
                with self.lock:
                    self._socks.append(sock)
            self.handler(Peer(self, sock, number))
        except OSError:
            pass  # the client went away, or a TLS handshake a test meant to fail
        except BaseException as exc:
            with self.lock:
                self.failures.append(exc)
        finally:
            sock.close()


# Answers and handlers


def response(
    status: int = 200,
    body: bytes = b"",
    *,
    headers: tuple[tuple[str, str], ...] = (),
    reason: str = "OK",
    version: str = "HTTP/1.1",
    length: bool = True,
) -> bytes:
    """An answer's bytes; with `length` a Content-Length header is added."""
    lines = [f"{version} {status} {reason}"] + [f"{name}: {value}" for name, value in headers]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(*chunks: bytes, extension: bytes = b"", trailers: bytes = b"") -> bytes:
    """A chunked body; `extension` (e.g. b';name=value') goes on every chunk-size line."""
    parts = [b"%x%s\r\n%s\r\n" % (len(chunk), extension, chunk) for chunk in chunks]
    return b"".join(parts) + b"0" + extension + b"\r\n" + trailers + b"\r\n"


def keep_answering(answer: bytes | Callable[[Seen], bytes], *, then_close: bool = False) -> Handler:
    """Answers every request on the connection with `answer` (or `answer(request)`)."""

    def handler(peer: Peer) -> None:
        while (seen := peer.read_request()) is not None:
            peer.send(answer(seen) if callable(answer) else answer)
            if then_close:
                peer.close()
                return

    return handler


def tunnel_proxy(peer: Peer) -> None:
    """A CONNECT proxy: records the CONNECT request, opens the tunnel and relays both ways."""
    seen = peer.read_request()
    if seen is None:
        return
    if seen.method != "CONNECT":
        peer.send(response(405, b"CONNECT only"))
        return
    host, _, port = seen.target.rpartition(":")
    upstream = socket.create_connection((host, int(port)), timeout=DEADLINE_S)
    with peer.server.lock:
        peer.server._socks.append(upstream)  # shut down on exit with the rest
    peer.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
    if peer.buffer:
        upstream.sendall(bytes(peer.buffer))
    back = threading.Thread(target=_relay, args=(upstream, peer.sock), daemon=True)
    back.start()
    _relay(peer.sock, upstream)
    back.join(DEADLINE_S)
    upstream.close()


def _relay(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


# TLS material


@dataclass
class Certificates:
    ca: Path  # the CA bundle a client verifies with
    cert: Path  # the server's certificate, for 127.0.0.1 and localhost, signed by the CA
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificates(directory: Path) -> Certificates:
    """A throwaway CA and a server certificate, valid for two days, made with the openssl CLI.

    The extensions are what Python's default verification (VERIFY_X509_STRICT on 3.13) demands:
    a critical basicConstraints on the CA, key identifiers, and the names in subjectAltName.
    """
    openssl = shutil.which("openssl")
    if openssl is None:
        raise FileNotFoundError("the openssl command is not installed")
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    cert, key, csr = directory / "server.pem", directory / "server.key", directory / "server.csr"
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca_subject = ["-subj", "/CN=ftproxy test CA", "-addext", "basicConstraints=critical,CA:TRUE"]
    ca_usage = ["-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    signing = ["-CA", ca, "-CAkey", ca_key, "-set_serial", "2", "-days", "2", "-extfile", extensions]
    commands = [
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", *ca_subject, *ca_usage],
        [openssl, "req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=localhost"],
        [openssl, "x509", "-req", "-in", csr, *signing, "-out", cert],
    ]
    for command in commands:
        subprocess.run([str(part) for part in command], check=True, capture_output=True, timeout=30)
    return Certificates(ca, cert, key)
