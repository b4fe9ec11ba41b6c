"""An upstream answer whose body is read as it arrives: Content-Length, chunked or until close.

The body readers are generators over the connection's buffer; they yield body bytes, or None
when a wait (`iter_chunks(until)`) passed with nothing, so the thread reading a stream can do
other work (a keep-alive, a deadline) without losing its place in the framing.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from typing import Protocol

from ftproxy.upstream.errors import ConnectionLost, ProtocolError, UpstreamTimeout
from ftproxy.upstream.http11 import MAX_HEAD, NO_BODY_STATUSES, chunk_size


class _Pool(Protocol):
    def checkin(self, connection: _Connection) -> None: ...


class _Connection(Protocol):
    """What a response reads its body from: one of the transport's connections (transport.py).
    A protocol, so that this module needs nothing of the transport that creates responses."""

    buffer: bytearray
    sock: socket.socket
    pool: _Pool

    def fill(self, *, stale_if_empty: bool = False, wait: float | None = None) -> bool: ...

    def close(self) -> None: ...


class WaitUntil:
    """The time (`time.perf_counter()`) until which a read of a stream waits for the upstream's
    next bytes before it yields `b""`. The reader of the stream (`streaming.Stream`) moves it
    before each read to its next keep-alive or deadline; nothing here calls back up."""

    __slots__ = ("at",)

    def __init__(self, at: float = 0.0) -> None:
        self.at = at


class Waited(Exception):
    """`fill(wait=…)` saw no bytes within the wait."""


class UpstreamResponse:
    """An upstream answer whose body has not been read yet. One thread reads it; any thread may
    `interrupt()` it."""

    __slots__ = (
        "_body",
        "_connection",
        "_done",
        "_interrupted",
        "_keep_alive",
        "_until",
        "headers",
        "status",
    )

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
        self._until: WaitUntil | None = None
        if method == "HEAD" or status in NO_BODY_STATUSES:
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

    def iter_chunks(self, until: WaitUntil | None = None) -> Iterator[bytes]:
        """The body as it arrives. With `until`, each wait for bytes lasts until `until.at` (at
        least 1 ms), after which `b""` is yielded (nothing arrived) and the wait starts again."""
        self._until = until
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
    # arrive, or None when a wait (`iter_chunks(until)`) passed with no bytes.

    def _await(self, connection: _Connection) -> bool | None:
        """True: bytes arrived; False: the peer closed; None: the wait passed with nothing."""
        until = self._until
        try:
            wait = None if until is None else max(until.at - time.perf_counter(), 0.001)
            got = connection.fill(wait=wait)
        except Waited:
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
            size = chunk_size(bytes(buffer[:end]))
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
            if len(buffer) > MAX_HEAD:  # bounded like the head: a line that never ends
                raise ProtocolError("a trailer line is longer than 64 kB")
            got = self._await(connection)
            if got is None:
                yield None
            elif not got:
                return  # closed right after the last chunk: the body is complete
