"""ftproxy's own HTTP/1.1 client (ftproxy/upstream/transport.py) against scripted loopback servers.

Every server here is real sockets on 127.0.0.1 (tests/unit/raw_http.py), scripted byte by byte
so each framing rule, each failure and each reuse decision can be provoked exactly. The server
counts the connections it accepts, which is how connection reuse is asserted. Servers that must
pause wait on a `threading.Event` the test sets; nothing waits on a sleep.
"""

from __future__ import annotations

import base64
import functools
import os
import resource
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator

import pytest
from raw_http import (
    Certificates,
    Peer,
    RawServer,
    Seen,
    chunked,
    keep_answering,
    make_certificates,
    response,
    tunnel_proxy,
)

from ftproxy.upstream import transport as transport_module
from ftproxy.upstream.errors import ConnectFailed, ConnectionLost, ProtocolError, UpstreamTimeout
from ftproxy.upstream.response import WaitUntil
from ftproxy.upstream.transport import Transport, UpstreamResponse

CHUNKED = (("Transfer-Encoding", "chunked"),)


_tls_context = functools.cache(transport_module._tls_context)


@pytest.fixture
def make_transport(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Transport]]:
    """Transports with no proxy from the environment (unless a test asks), short timeouts, and
    TLS unverified unless a test asks for `verify`.

    Each TLS context is built once for the module: every Transport() loads the system trust
    store (about 40 ms of CPU, even with verify=False), and a context can be shared.
    """
    monkeypatch.setattr(transport_module, "_tls_context", _tls_context)
    made: list[Transport] = []

    def make(**options: object) -> Transport:
        options.setdefault("proxies", {})
        options.setdefault("verify", False)
        options.setdefault("connect_timeout", 5.0)
        options.setdefault("read_timeout", 5.0)
        transport = Transport(**options)  # type: ignore[arg-type]
        made.append(transport)
        return transport

    yield make
    for transport in made:
        transport.close()


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    try:
        return make_certificates(tmp_path_factory.mktemp("tls"))
    except FileNotFoundError as exc:
        pytest.skip(f"no throwaway CA: {exc}")


def tls_for(scheme: str, certificates: Certificates) -> ssl.SSLContext | None:
    return certificates.server_context() if scheme == "https" else None


def get(transport: Transport, url: str, method: str = "GET", **headers: str) -> UpstreamResponse:
    return transport.request(method, url, headers=headers)


def idle(transport: Transport) -> int:
    """Connections waiting in the transport's pools (white-box: the pool has no public count)."""
    return sum(len(pool._idle) for pool in transport._pools.values())


# 1. Framing: how each kind of answer is read, and whether its connection can serve the next one

FRAMING = [
    # name, method, the server's answer, expected body, connection reusable afterwards
    ("content-length", "GET", response(200, b"hello"), b"hello", True),
    (
        "chunked with extensions and trailers",
        "GET",
        response(200, headers=CHUNKED, length=False)
        + chunked(b"hel", b"lo", extension=b';name="v"', trailers=b"X-Checksum: 1\r\nX-More: 2\r\n"),
        b"hello",
        True,
    ),
    (
        "chunked, a megabyte in 64 kB chunks",
        "GET",
        response(200, headers=CHUNKED, length=False) + chunked(*[bytes([n]) * 65536 for n in range(16)]),
        b"".join(bytes([n]) * 65536 for n in range(16)),
        True,
    ),
    (
        "chunked, upper-case hex and zero-padded sizes",
        "GET",
        response(200, headers=CHUNKED, length=False) + b"0A\r\n0123456789\r\n000\r\n\r\n",
        b"0123456789",
        True,
    ),
    (
        "close-delimited",
        "GET",
        response(200, b"until the end", length=False),
        b"until the end",
        False,
    ),
    ("HTTP/1.0 answer", "GET", response(200, b"old", version="HTTP/1.0"), b"old", False),
    ("Connection: close", "GET", response(200, b"bye", headers=(("Connection", "close"),)), b"bye", False),
    (
        "HEAD: Content-Length without a body",
        "HEAD",
        response(200, headers=(("Content-Length", "100"),), length=False),
        b"",
        True,
    ),
    ("204 without a body", "GET", response(204, length=False), b"", True),
    (
        "304 with a Content-Length but no body",
        "GET",
        response(304, headers=(("Content-Length", "50"),), length=False),
        b"",
        True,
    ),
    (
        "100 Continue before the answer",
        "POST",
        b"HTTP/1.1 100 Continue\r\n\r\n" + response(200, b"after continue"),
        b"after continue",
        True,
    ),
    (
        "two interim answers (100, 103 Early Hints) before the answer",
        "POST",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n"
        + response(201, b"created"),
        b"created",
        True,
    ),
]


@pytest.mark.parametrize(
    ("method", "answer", "body", "reusable"),
    [case[1:] for case in FRAMING],
    ids=[case[0] for case in FRAMING],
)
def test_framing_and_reuse(
    make_transport: Callable[..., Transport], method: str, answer: bytes, body: bytes, reusable: bool
) -> None:
    transport = make_transport()
    with RawServer(keep_answering(answer, then_close=not reusable)) as server:
        for _ in range(2):
            reply = get(transport, server.url("/x"), method)
            assert reply.read() == body
            assert "link" not in reply.headers  # interim answers' headers are not the answer's
        assert server.accepts == (1 if reusable else 2)
    assert idle(transport) == (1 if reusable else 0)


def test_the_request_on_the_wire(make_transport: Callable[..., Transport]) -> None:
    with RawServer(keep_answering(response(200, b"ok"))) as server:
        reply = make_transport().request(
            "POST", server.url("/v2/x?api-version=1"), headers={"X-Id": "7"}, body=b'{"a":1}'
        )
        assert reply.read() == b"ok"
    [seen] = server.requests
    assert (seen.method, seen.target, seen.version) == ("POST", "/v2/x?api-version=1", "HTTP/1.1")
    assert seen.headers["host"] == server.address
    assert seen.headers["x-id"] == "7"
    assert seen.headers["content-length"] == "7"
    assert seen.body == b'{"a":1}'


def test_header_names_are_lower_case_and_repeated_headers_joined(
    make_transport: Callable[..., Transport],
) -> None:
    answer = response(
        200,
        b"{}",
        headers=(
            ("Content-TYPE", "application/json"),
            ("X-Multi", "a"),
            ("x-multi", " b "),
            ("X-MULTI", "c"),
        ),
    )
    with RawServer(keep_answering(answer)) as server:
        reply = get(make_transport(), server.url())
        reply.read()
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    assert reply.headers["x-multi"] == "a, b, c"
    assert all(name == name.lower() for name in reply.headers)


# 2. Keep-alive: which connections go back to the pool


def test_sequential_requests_share_one_connection(make_transport: Callable[..., Transport]) -> None:
    transport = make_transport()
    with RawServer(keep_answering(lambda seen: response(200, seen.target.encode()))) as server:
        bodies = [get(transport, server.url(f"/{n}")).read() for n in range(5)]
    assert bodies == [b"/0", b"/1", b"/2", b"/3", b"/4"]
    assert server.accepts == 1
    assert [seen.connection for seen in server.requests] == [1] * 5


@pytest.mark.parametrize(
    "finish",
    [
        pytest.param(lambda reply: reply.read(limit=10), id="read(limit) of a longer body"),
        pytest.param(lambda reply: reply.close(), id="closed before reading"),
        pytest.param(lambda reply: (next(reply.iter_chunks()), reply.close()), id="closed after one chunk"),
    ],
)
def test_an_answer_not_read_to_the_end_does_not_return_its_connection(
    make_transport: Callable[..., Transport], finish: Callable[[UpstreamResponse], object]
) -> None:
    transport = make_transport()
    with RawServer(keep_answering(response(200, b"x" * 100_000))) as server:
        finish(get(transport, server.url()))
        assert idle(transport) == 0
        assert get(transport, server.url()).read() == b"x" * 100_000
    assert server.accepts == 2


def test_read_limit_returns_the_first_bytes(make_transport: Callable[..., Transport]) -> None:
    with RawServer(keep_answering(response(200, b"0123456789" * 1000))) as server:
        assert get(make_transport(), server.url()).read(limit=15) == b"012345678901234"


# 3. Connections the server closed while idle, and idle expiry


def test_a_connection_the_server_closed_after_answering_is_replaced(
    make_transport: Callable[..., Transport],
) -> None:
    # The server answers keep-alive, then closes. Whether the FIN has reached the client before
    # the next request (the pool drops the connection) or not (the request fails on it and is
    # sent once more), the next request succeeds on a second connection.
    transport = make_transport()
    with RawServer(keep_answering(response(200, b"ok"), then_close=True)) as server:
        assert get(transport, server.url()).read() == b"ok"
        assert get(transport, server.url()).read() == b"ok"
    assert server.accepts == 2


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_request_on_a_connection_closed_without_answering_is_sent_once_more(
    make_transport: Callable[..., Transport], certificates: Certificates, how: str, scheme: str
) -> None:
    def handler(peer: Peer) -> None:
        if peer.number == 1:
            peer.read_request()
            peer.send(response(200, b"first"))
            peer.read_request()  # the second request arrives on the idle connection ...
            peer.close() if how == "close" else peer.reset()  # ... which the server drops
            return
        keep_answering(response(200, b"second"))(peer)

    transport = make_transport()
    with RawServer(handler, tls=tls_for(scheme, certificates)) as server:
        assert get(transport, server.url("/1")).read() == b"first"
        assert get(transport, server.url("/2")).read() == b"second"
    assert server.accepts == 2
    assert [(seen.target, seen.connection) for seen in server.requests] == [("/1", 1), ("/2", 1), ("/2", 2)]


def test_a_reused_connection_closed_after_an_interim_answer_is_not_retried(
    make_transport: Callable[..., Transport],
) -> None:
    # "100 Continue" is an answer byte: the server has the request, so sending it again could
    # run it twice.
    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(response(200, b"first"))
        peer.read_request()
        peer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        peer.close()

    transport = make_transport()
    with RawServer(handler) as server:
        assert get(transport, server.url("/1")).read() == b"first"
        with pytest.raises(ConnectionLost):
            get(transport, server.url("/2"), "POST")
    assert server.accepts == 1
    assert [seen.target for seen in server.requests] == ["/1", "/2"]


def test_a_fresh_connection_closed_without_an_answer_is_not_retried(
    make_transport: Callable[..., Transport],
) -> None:
    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.close()

    with RawServer(handler) as server, pytest.raises(ConnectionLost):
        get(make_transport(), server.url())
    assert server.accepts == 1
    assert len(server.requests) == 1


def test_a_stale_connection_then_a_fresh_one_closed_without_an_answer_raises(
    make_transport: Callable[..., Transport],
) -> None:
    def handler(peer: Peer) -> None:
        if peer.number == 1:
            peer.read_request()
            peer.send(response(200, b"first"))
        peer.read_request()
        peer.close()

    transport = make_transport()
    with RawServer(handler) as server:
        assert get(transport, server.url()).read() == b"first"
        with pytest.raises(ConnectionLost):
            get(transport, server.url())
    assert server.accepts == 2  # the stale one, and exactly one fresh one
    assert len(server.requests) == 3


@pytest.fixture
def probe_every_reuse(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections idle under a second are reused unprobed; these tests want the probe now."""
    monkeypatch.setattr(transport_module, "_PROBE_AFTER_S", 0.0)


@pytest.mark.usefixtures("probe_every_reuse")
def test_a_probed_connection_the_server_closed_is_not_sent_to(
    make_transport: Callable[..., Transport],
) -> None:
    half_closed = threading.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(response(200, b"ok"))
        if peer.number == 1:
            peer.sock.shutdown(socket.SHUT_WR)  # a FIN, but still reading: a request sent anyway shows
            half_closed.set()
            peer.read_request()  # None once the client drops the connection
            return
        keep_answering(response(200, b"ok"))(peer)

    transport = make_transport()
    with RawServer(handler) as server:
        assert get(transport, server.url("/1")).read() == b"ok"
        assert half_closed.wait(10)
        # The FIN may already have been seen when the connection was returned (the idle sweep then
        # closed it); if it is still pooled, let the FIN reach it before the next request.
        for pooled in [connection for pool in transport._pools.values() for connection in pool._idle]:
            assert select.select([pooled.sock], [], [], 10)[0]
        assert get(transport, server.url("/2")).read() == b"ok"
    assert [(seen.target, seen.connection) for seen in server.requests] == [("/1", 1), ("/2", 2)]


@pytest.mark.usefixtures("probe_every_reuse")
def test_connections_on_descriptors_above_1024_are_reused(make_transport: Callable[..., Transport]) -> None:
    # A gateway holding a thousand streams has sockets on high descriptor numbers, where
    # select() cannot go; the liveness probe must still work there.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200 and (hard == resource.RLIM_INFINITY or hard >= 1200):
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    elif soft < 1200:
        pytest.skip(f"RLIMIT_NOFILE is {soft}/{hard}: cannot open descriptors above 1024")
    spare: list[int] = []
    try:
        while not spare or spare[-1] <= 1030:  # every lower number taken: new sockets go above
            spare.append(os.open(os.devnull, os.O_RDONLY))
        transport = make_transport()
        with RawServer(keep_answering(response(200, b"ok"))) as server:
            for _ in range(3):
                assert get(transport, server.url()).read() == b"ok"
        assert server.accepts == 1
    finally:
        for fd in spare:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def close_wait_sockets() -> int:
    import psutil

    return sum(1 for c in psutil.Process().net_connections("tcp") if c.status == psutil.CONN_CLOSE_WAIT)


@pytest.mark.usefixtures("probe_every_reuse")
def test_idle_connections_the_server_closed_are_reaped_when_another_returns(
    make_transport: Callable[..., Transport], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst leaves N idle connections; the server closes all but the newest (its keep-alive
    timeout closes the oldest first). Reuse takes only the newest, so without a sweep the others
    sit in CLOSE-WAIT until the pool fills; the next request's return must close them."""
    monkeypatch.setattr(transport_module, "_SWEEP_EVERY_S", 0.0)
    burst = 12
    release = threading.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(response(200, b"ok"))
        if peer.number < burst:
            assert release.wait(10)
            return  # RawServer closes the socket: a FIN to the pooled connection
        keep_answering(response(200, b"ok"))(peer)

    transport = make_transport()
    with RawServer(handler) as server:
        held = [get(transport, server.url()) for _ in range(burst)]  # N connections at once
        for answer in held:
            assert answer.read() == b"ok"
        assert idle(transport) == burst
        baseline = close_wait_sockets()
        release.set()
        pooled = [connection for pool in transport._pools.values() for connection in pool._idle]
        for connection in pooled[:-1]:
            assert select.select([connection.sock], [], [], 10)[0]  # the server's FIN arrived
        assert close_wait_sockets() - baseline == burst - 1
        assert get(transport, server.url()).read() == b"ok"  # reuses the newest, live one
        assert idle(transport) == 1
        assert close_wait_sockets() <= baseline
    assert server.accepts == burst


@pytest.mark.parametrize(("expiry_s", "accepts"), [(0.0, 2), (60.0, 1)])
def test_idle_expiry(make_transport: Callable[..., Transport], expiry_s: float, accepts: int) -> None:
    closed_by_client: list[bool] = []
    done = threading.Event()

    def handler(peer: Peer) -> None:
        keep_answering(response(200, b"ok"))(peer)  # returns when the client closes
        closed_by_client.append(True)
        done.set()

    transport = make_transport(idle_expiry_s=expiry_s)
    with RawServer(handler) as server:
        get(transport, server.url()).read()
        get(transport, server.url()).read()
        if expiry_s == 0.0:
            # the expired connection was closed when the second request looked for one
            assert done.wait(10)
            assert closed_by_client == [True]
    assert server.accepts == accepts


# 4. Incremental bodies


HEAD_CHUNKED = response(200, headers=CHUNKED, length=False)
HEAD_LENGTH_4 = response(200, headers=(("Content-Length", "4"),), length=False)
HEAD_UNTIL_CLOSE = response(200, length=False)

PAUSES = [
    # name, what the server sends, [pause], the rest; the body is b"data" in every case
    ("chunked: between head and first chunk", HEAD_CHUNKED, chunked(b"data")),
    ("chunked: inside a chunk", HEAD_CHUNKED + b"4\r\nda", b"ta\r\n0\r\n\r\n"),
    ("chunked: inside a chunk-size line", HEAD_CHUNKED + b"4", b"\r\ndata\r\n0\r\n\r\n"),
    ("chunked: before a chunk's CRLF", HEAD_CHUNKED + b"4\r\ndata", b"\r\n0\r\n\r\n"),
    ("chunked: inside the trailers", HEAD_CHUNKED + b"4\r\ndata\r\n0\r\n", b"X-T: 1\r\n\r\n"),
    ("content-length", HEAD_LENGTH_4 + b"d", b"ata"),
    ("close-delimited", HEAD_UNTIL_CLOSE + b"d", b"ata"),
]


def paused(before: bytes, after: bytes, go: threading.Event, *, then_close: bool = False) -> Callable:
    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(before)
        peer.wait(go)
        peer.send(after)
        if then_close:
            peer.close()
            return
        keep_answering(response(200, b"next"))(peer)

    return handler


@pytest.mark.parametrize(("before", "after"), [case[1:] for case in PAUSES], ids=[case[0] for case in PAUSES])
def test_wait_yields_empty_chunks_while_the_server_is_silent(
    make_transport: Callable[..., Transport], before: bytes, after: bytes
) -> None:
    # Should a read ignore the wait, it would block until the server is released, which only
    # this test does, after an empty chunk: the read timeout would end it with UpstreamTimeout.
    go = threading.Event()

    until = WaitUntil(time.perf_counter() + 0.01)  # then 1 ms polls until the rest comes

    until_close = before.startswith(HEAD_UNTIL_CLOSE)
    transport = make_transport(read_timeout=3.0)
    with RawServer(paused(before, after, go, then_close=until_close)) as server:
        reply = get(transport, server.url())
        data, empties = b"", 0
        for chunk in reply.iter_chunks(until):
            if chunk == b"":
                empties += 1
                go.set()
            data += chunk
        reply.close()
        assert data == b"data"
        assert empties >= 1
        if not until_close:
            assert get(transport, server.url()).read() == b"next"
            assert server.accepts == 1


@pytest.mark.parametrize(
    ("head", "first", "second", "end"),
    [
        pytest.param(HEAD_CHUNKED, chunked(b"one")[:-5], b"3\r\ntwo\r\n", b"0\r\n\r\n", id="chunked"),
        pytest.param(
            response(200, headers=(("Content-Length", "6"),), length=False), b"one", b"two", b"", id="length"
        ),
    ],
)
def test_a_chunk_arrives_before_the_server_sends_the_next(
    make_transport: Callable[..., Transport], head: bytes, first: bytes, second: bytes, end: bytes
) -> None:
    sent_second = threading.Event()
    may_send_second = threading.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(head + first)
        peer.wait(may_send_second)
        peer.send(second + end)
        sent_second.set()

    with RawServer(handler) as server:
        reply = get(make_transport(), server.url())
        chunks = reply.iter_chunks()
        assert next(chunks) == b"one"
        assert not sent_second.is_set()  # chunk 1 was delivered while the server held chunk 2
        may_send_second.set()
        assert b"".join(chunks) == b"two"
        reply.close()


def test_a_wait_of_zero_or_less_still_polls(make_transport: Callable[..., Transport]) -> None:
    go = threading.Event()
    with RawServer(paused(HEAD_CHUNKED, chunked(b"data"), go)) as server:
        reply = get(make_transport(read_timeout=3.0), server.url())
        chunks = reply.iter_chunks(WaitUntil(0.0))
        assert next(chunks) == b""
        go.set()
        assert b"".join(chunks) == b"data"
        reply.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_short_wait_does_not_become_the_next_requests_send_timeout(
    make_transport: Callable[..., Transport], certificates: Certificates, scheme: str
) -> None:
    # A stream read with 1 ms waits, then a large POST on the same connection to an upstream
    # that is slow to read it: the send may block for as long as the read timeout allows.
    gap, may_read = threading.Event(), threading.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(HEAD_LENGTH_4)
        peer.wait(gap)
        peer.send(b"data")
        peer.wait(may_read)  # the second request stays unread until the test has looked
        keep_answering(response(200, b"second"))(peer)

    transport = make_transport()
    outcome: list[BaseException | bytes] = []

    def post() -> None:
        try:
            outcome.append(transport.request("POST", server.url(), headers={}, body=b"x" * 16_000_000).read())
        except BaseException as exc:
            outcome.append(exc)

    with RawServer(handler, tls=tls_for(scheme, certificates)) as server:
        reply = get(transport, server.url())
        for chunk in reply.iter_chunks(WaitUntil(0.0)):  # 1 ms waits
            if not chunk:
                gap.set()
        reply.close()
        sender = threading.Thread(target=post)
        sender.start()
        # Not synchronisation: with the fix the sender cannot finish before `may_read` is set,
        # so this only gives a send that times out after 1 ms the time to show itself.
        sender.join(0.5)
        assert outcome == []
        may_read.set()
        sender.join(10)
    assert outcome == [b"second"]
    assert server.accepts == 1


# 5. Failures, each mapped once onto the transport's errors


def test_connection_refused_is_connect_failed(make_transport: Callable[..., Transport]) -> None:
    with socket.socket() as bound:  # bound, never listening: connecting is refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        with pytest.raises(ConnectFailed, match=f"127.0.0.1:{port}"):
            get(make_transport(), f"http://127.0.0.1:{port}/")


def test_connect_timeout_is_upstream_timeout(make_transport: Callable[..., Transport]) -> None:
    # A listener with backlog 0 that never accepts: once one connection fills its queue, Linux
    # drops further SYNs, so a connect waits, on loopback, until its own timeout.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        fillers = [socket.create_connection(address, timeout=2)]
        try:
            probe = socket.socket()
            fillers.append(probe)
            probe.settimeout(0.1)
            try:
                probe.connect(address)
            except TimeoutError:
                pass
            else:
                pytest.skip("this kernel accepts past a full backlog; no loopback connect timeout")
            with pytest.raises(UpstreamTimeout, match="connecting"):
                get(make_transport(connect_timeout=0.2), f"http://127.0.0.1:{address[1]}/")
        finally:
            for sock in fillers:
                sock.close()


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"", id="before the head"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", id="inside the head"),
        pytest.param(
            response(200, headers=(("Content-Length", "9"),), length=False) + b"part", id="mid-body"
        ),
        pytest.param(HEAD_CHUNKED + b"9\r\npart", id="mid-chunk"),
    ],
)
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_read_timeout_is_upstream_timeout(
    make_transport: Callable[..., Transport], certificates: Certificates, sent: bytes, scheme: str
) -> None:
    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(sent)
        peer.wait(peer.server.release)  # then nothing, until the test is over

    transport = make_transport(read_timeout=0.2)
    with (
        RawServer(handler, tls=tls_for(scheme, certificates)) as server,
        pytest.raises(UpstreamTimeout, match="read timeout"),
    ):
        get(transport, server.url()).read()
    assert idle(transport) == 0


def silent(peer: Peer) -> None:
    peer.wait(peer.server.release)  # accepts, then says nothing


@pytest.mark.parametrize(
    ("url", "proxy"),
    [
        pytest.param("https://127.0.0.1:{port}/", False, id="TLS handshake never answered"),
        pytest.param("https://127.0.0.1:9/", True, id="proxy never answers CONNECT"),
    ],
)
def test_a_silent_handshake_is_upstream_timeout(
    make_transport: Callable[..., Transport], url: str, proxy: bool
) -> None:
    with RawServer(silent) as server:
        proxies = {"https": f"http://127.0.0.1:{server.port}"} if proxy else {}
        transport = make_transport(connect_timeout=0.2, proxies=proxies)
        with pytest.raises(UpstreamTimeout, match="TLS or proxy"):
            get(transport, url.format(port=server.port))


CLOSED_EARLY = [
    ("inside the head", b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n"),
    ("mid-body", response(200, headers=(("Content-Length", "9"),), length=False) + b"part"),
    ("mid-chunk", HEAD_CHUNKED + b"9\r\npart"),
    ("before the last chunk", HEAD_CHUNKED + b"4\r\npart\r\n"),
    ("inside a chunk-size line", HEAD_CHUNKED + b"4"),
]


@pytest.mark.parametrize("sent", [case[1] for case in CLOSED_EARLY], ids=[case[0] for case in CLOSED_EARLY])
@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("scheme", ["http", "https"])
def test_server_closing_mid_answer_is_connection_lost(
    make_transport: Callable[..., Transport], certificates: Certificates, sent: bytes, how: str, scheme: str
) -> None:
    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(sent)
        peer.close() if how == "close" else peer.reset()

    transport = make_transport()
    with RawServer(handler, tls=tls_for(scheme, certificates)) as server, pytest.raises(ConnectionLost):
        get(transport, server.url()).read()
    assert idle(transport) == 0


MALFORMED = [
    # name, the server's answer; each is a ProtocolError, from request() or from reading the body
    ("not HTTP", b"HTP/1.1 200 OK\r\n\r\n"),
    ("no status code", b"HTTP/1.1 OK\r\n\r\n"),
    ("status code not a number", b"HTTP/1.1 2x0 OK\r\n\r\n"),
    ("status code of Latin-1 superscript digits", b"HTTP/1.1 \xb2\xb3\xb9 OK\r\n\r\n"),
    ("header line without a colon", b"HTTP/1.1 200 OK\r\nContent-Length 0\r\n\r\n"),
    ("space before a header's colon", b"HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"),
    ("empty header name", b"HTTP/1.1 200 OK\r\n: 0\r\n\r\n"),
    ("Content-Length not a number", b"HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n"),
    ("negative Content-Length", b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"),
    ("Content-Length of a Latin-1 superscript digit", b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n"),
    ("chunk size not hex", HEAD_CHUNKED + b"zz\r\n"),
    ("negative chunk size", HEAD_CHUNKED + b"-1\r\n\r\n0\r\n\r\n"),
    ("chunk size with a 0x prefix", HEAD_CHUNKED + b"0x4\r\ndata\r\n0\r\n\r\n"),
    ("chunk size with an underscore", HEAD_CHUNKED + b"1_0\r\n" + b"d" * 16 + b"\r\n0\r\n\r\n"),
    ("chunk not followed by CRLF", HEAD_CHUNKED + b"4\r\ndataXX0\r\n\r\n"),
]


@pytest.mark.parametrize("answer", [case[1] for case in MALFORMED], ids=[case[0] for case in MALFORMED])
def test_malformed_answers_are_protocol_errors(
    make_transport: Callable[..., Transport], answer: bytes
) -> None:
    transport = make_transport()
    with RawServer(keep_answering(answer)) as server, pytest.raises(ProtocolError):
        get(transport, server.url()).read()
    assert idle(transport) == 0


@pytest.mark.parametrize(
    ("sent", "pause"),
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000, True, id="head still growing past 64 kB"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70_000 + b"\r\nContent-Length: 0\r\n\r\n",
            False,
            id="complete head over 64 kB",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\n" + b"X-Many: 1\r\n" * 10_000 + b"\r\n", False, id="10,000 header lines"
        ),
        pytest.param(HEAD_CHUNKED + b"4;" + b"e" * 5000, True, id="chunk-size line still growing past 4 kB"),
        pytest.param(
            HEAD_CHUNKED + b"0\r\nX-T: " + b"t" * 70_000, True, id="trailer still growing past 64 kB"
        ),
    ],
)
def test_oversized_heads_and_lines_are_protocol_errors(
    make_transport: Callable[..., Transport], sent: bytes, pause: bool
) -> None:
    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(sent)
        if pause:
            peer.wait(peer.server.release)

    with RawServer(handler) as server, pytest.raises(ProtocolError):
        get(make_transport(), server.url()).read()


# 6. Nothing unsafe is ever sent


@pytest.mark.parametrize(
    ("headers", "url_path"),
    [
        pytest.param({"X-A": "v\r\nX-Injected: 1"}, "/", id="CRLF in a value"),
        pytest.param({"X-A": "v\nX-Injected: 1"}, "/", id="LF in a value"),
        pytest.param({"X-A": "v\r"}, "/", id="CR in a value"),
        pytest.param({"X-A\r\nX-Injected": "1"}, "/", id="CRLF in a name"),
        pytest.param({"X-A": "smart quote \u201c"}, "/", id="non-Latin-1 value"),
        pytest.param({}, "/a b", id="space in the URL"),
        pytest.param({}, "/a\x01b", id="control character in the URL"),
        pytest.param({}, "/a\x7fb", id="DEL in the URL"),
        pytest.param({}, "/a\r\nX-Injected: 1", id="CRLF in the URL"),
        pytest.param({}, "/a\tb", id="tab in the URL"),
        pytest.param({}, "/caf\u00e9", id="non-ASCII URL"),
    ],
)
def test_unsafe_requests_raise_before_anything_is_sent(
    make_transport: Callable[..., Transport], headers: dict[str, str], url_path: str
) -> None:
    with RawServer(keep_answering(response(200))) as server, pytest.raises(ValueError):
        make_transport().request("GET", server.url(url_path), headers=headers)
    assert server.accepts == 0


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http:///nohost", "/relative"])
def test_non_http_urls_raise_value_error(make_transport: Callable[..., Transport], url: str) -> None:
    with pytest.raises(ValueError, match="not an http"):
        get(make_transport(), url)


def test_latin1_header_values_are_sent(make_transport: Callable[..., Transport]) -> None:
    with RawServer(keep_answering(response(200))) as server:
        get(make_transport(), server.url(), **{"X-Name": "caf\u00e9"}).read()
    assert server.requests[0].headers["x-name"] == "caf\u00e9"


# 7. interrupt() from another thread


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("wait", [None, 30.0], ids=["plain read", "iter_chunks with a wait"])
def test_interrupt_wakes_a_blocked_reader(
    make_transport: Callable[..., Transport], certificates: Certificates, wait: float | None, scheme: str
) -> None:
    got_first = threading.Event()
    outcome: list[BaseException | bytes] = []

    def reader(reply: UpstreamResponse) -> None:
        try:
            chunks = reply.iter_chunks(None if wait is None else WaitUntil(time.perf_counter() + wait))
            got = next(chunks)
            got_first.set()
            outcome.append(b"".join([got, *chunks]))  # blocks: the server sends no more
        except BaseException as exc:
            outcome.append(exc)
        finally:
            reply.close()

    def handler(peer: Peer) -> None:
        if peer.number == 1:
            peer.read_request()
            peer.send(response(200, headers=(("Content-Length", "100"),), length=False) + b"first")
            peer.wait(peer.server.release)
            return
        keep_answering(response(200, b"fresh"))(peer)

    transport = make_transport(read_timeout=60.0)  # only the interrupt can end the read in time
    with RawServer(handler, tls=tls_for(scheme, certificates)) as server:
        reply = get(transport, server.url())
        thread = threading.Thread(target=reader, args=(reply,))
        thread.start()
        assert got_first.wait(10)
        reply.interrupt()
        thread.join(10)
        assert not thread.is_alive()
        [error] = outcome
        assert isinstance(error, ConnectionLost)
        assert "interrupted" in str(error)
        assert idle(transport) == 0
        assert get(transport, server.url()).read() == b"fresh"
    assert server.accepts == 2


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_after_interrupt_bytes_already_arrived_are_not_delivered(
    make_transport: Callable[..., Transport], certificates: Certificates, scheme: str
) -> None:
    # Shutting a TLS socket down detaches its TLS layer: a read after that returns the raw
    # ciphertext waiting in the kernel, which must never reach the caller as body bytes.
    go, sent = threading.Event(), threading.Event()

    def handler(peer: Peer) -> None:
        peer.read_request()
        peer.send(response(200, headers=(("Content-Length", "100"),), length=False) + b"first")
        peer.wait(go)
        peer.send(b"second")
        sent.set()
        peer.wait(peer.server.release)

    with RawServer(handler, tls=tls_for(scheme, certificates)) as server:
        reply = get(make_transport(), server.url())
        chunks = reply.iter_chunks()
        assert next(chunks) == b"first"
        go.set()
        assert sent.wait(10)
        readable, _, _ = select.select([reply._connection.sock], [], [], 10)  # "second" has arrived
        assert readable
        reply.interrupt()
        with pytest.raises(ConnectionLost, match="interrupted"):
            next(chunks)
        reply.close()


def test_an_interrupted_answer_read_to_the_end_is_not_reused(
    make_transport: Callable[..., Transport],
) -> None:
    transport = make_transport()
    with RawServer(keep_answering(response(200, b"whole"))) as server:
        reply = get(transport, server.url())
        chunks = reply.iter_chunks()
        assert b"".join(chunks) == b"whole"
        reply.interrupt()
        reply.close()
        assert idle(transport) == 0


# 8. TLS


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tls_verified_with_a_ca_bundle(
    make_transport: Callable[..., Transport], certificates: Certificates, host: str
) -> None:
    transport = make_transport(verify=str(certificates.ca))
    with RawServer(keep_answering(response(200, b"secure")), tls=certificates.server_context()) as server:
        for _ in range(2):
            assert get(transport, f"https://{host}:{server.port}/").read() == b"secure"
    assert server.accepts == 1  # TLS connections are kept alive too


def test_tls_with_the_default_trust_store_rejects_an_unknown_ca(
    make_transport: Callable[..., Transport], certificates: Certificates
) -> None:
    tls = certificates.server_context()
    with (
        RawServer(keep_answering(response(200)), tls=tls) as server,
        pytest.raises(ConnectFailed, match="TLS"),
    ):
        get(make_transport(verify=True), server.url())


def test_tls_without_verification(
    make_transport: Callable[..., Transport], certificates: Certificates
) -> None:
    with RawServer(keep_answering(response(200, b"unverified")), tls=certificates.server_context()) as server:
        assert get(make_transport(verify=False), server.url()).read() == b"unverified"


def test_tls_to_a_plain_http_server_is_connect_failed(make_transport: Callable[..., Transport]) -> None:
    def handler(peer: Peer) -> None:
        peer.send(response(400, b"this is not TLS"))

    with RawServer(handler) as server, pytest.raises(ConnectFailed):
        get(make_transport(verify=False), f"https://127.0.0.1:{server.port}/")


# 9. Proxies


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def test_https_through_a_connect_tunnel(
    make_transport: Callable[..., Transport], certificates: Certificates
) -> None:
    with (
        RawServer(keep_answering(response(200, b"tunnelled")), tls=certificates.server_context()) as origin,
        RawServer(tunnel_proxy) as proxy,
    ):
        transport = make_transport(
            verify=str(certificates.ca), proxies={"https": f"http://user:p%40ss@127.0.0.1:{proxy.port}"}
        )
        for _ in range(2):
            assert get(transport, origin.url("/v2/x")).read() == b"tunnelled"
    assert proxy.accepts == 1 and origin.accepts == 1  # one tunnel, kept alive
    [connect] = proxy.requests
    assert (connect.method, connect.target) == ("CONNECT", origin.address)
    assert connect.headers["host"] == origin.address
    assert connect.headers["proxy-authorization"] == basic("user:p@ss")
    # the origin sees an ordinary request, and never the proxy's credentials
    assert [seen.target for seen in origin.requests] == ["/v2/x", "/v2/x"]
    assert all("proxy-authorization" not in seen.headers for seen in origin.requests)


def test_a_proxy_refusing_the_tunnel_is_connect_failed(make_transport: Callable[..., Transport]) -> None:
    def refuse(peer: Peer) -> None:
        peer.read_request()
        peer.send(response(407, b"who are you", headers=(("Proxy-Authenticate", "Basic"),)))

    with RawServer(refuse) as proxy:
        transport = make_transport(proxies={"https": f"http://127.0.0.1:{proxy.port}"})
        with pytest.raises(ConnectFailed, match="407"):
            get(transport, "https://127.0.0.1:9/")


def test_a_tunnel_to_an_ipv6_literal_names_it_in_brackets(make_transport: Callable[..., Transport]) -> None:
    def refuse(peer: Peer) -> None:
        peer.read_request()
        peer.send(response(407, b"no"))

    with RawServer(refuse) as proxy:
        transport = make_transport(proxies={"https": f"http://127.0.0.1:{proxy.port}"})
        with pytest.raises(ConnectFailed):
            get(transport, "https://[::1]:9/")
    [connect] = proxy.requests
    assert (connect.target, connect.headers["host"]) == ("[::1]:9", "[::1]:9")


def test_plain_http_through_a_proxy_uses_the_absolute_form(make_transport: Callable[..., Transport]) -> None:
    with RawServer(keep_answering(lambda seen: response(200, seen.target.encode()))) as proxy:
        transport = make_transport(proxies={"http": f"http://user:pw@127.0.0.1:{proxy.port}"})
        # nothing listens on the origin's port 9: only the proxy is contacted
        assert get(transport, "http://127.0.0.1:9/v2/x?a=1").read() == b"http://127.0.0.1:9/v2/x?a=1"
        assert get(transport, "http://127.0.0.1:9/y").read() == b"http://127.0.0.1:9/y"
    assert proxy.accepts == 1
    assert all(seen.headers["proxy-authorization"] == basic("user:pw") for seen in proxy.requests)
    assert proxy.requests[0].headers["host"] == "127.0.0.1:9"


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_no_proxy_bypasses_the_proxy(
    make_transport: Callable[..., Transport], certificates: Certificates, scheme: str
) -> None:
    tls = tls_for(scheme, certificates)
    with (
        RawServer(keep_answering(response(200, b"direct")), tls=tls) as origin,
        RawServer(tunnel_proxy) as proxy,
    ):
        proxy_url = f"http://127.0.0.1:{proxy.port}"
        transport = make_transport(
            verify=str(certificates.ca), proxies={"http": proxy_url, "https": proxy_url, "no": "127.0.0.1"}
        )
        assert get(transport, origin.url()).read() == b"direct"
    assert proxy.accepts == 0
    assert origin.accepts == 1


@pytest.mark.parametrize("no_proxy", [None, "localhost,127.0.0.1"])
def test_proxies_from_the_environment(
    make_transport: Callable[..., Transport], monkeypatch: pytest.MonkeyPatch, no_proxy: str | None
) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    with (
        RawServer(keep_answering(response(200, b"direct"))) as origin,
        RawServer(keep_answering(response(200, b"proxied"))) as proxy,
    ):
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        if no_proxy is not None:
            monkeypatch.setenv("NO_PROXY", no_proxy)
        transport = make_transport(proxies=None)
        assert get(transport, origin.url()).read() == (b"proxied" if no_proxy is None else b"direct")


def test_only_http_proxies_are_supported(make_transport: Callable[..., Transport]) -> None:
    transport = make_transport(proxies={"https": "socks5://127.0.0.1:1080"})
    with pytest.raises(ValueError, match="only http://"):
        get(transport, "https://127.0.0.1:9/")


# 10. One transport, many threads


def test_many_threads_share_one_transport(make_transport: Callable[..., Transport]) -> None:
    threads, per_thread = 32, 25
    overlaps: list[Seen] = []

    def echo(peer: Peer) -> None:
        while (seen := peer.read_request()) is not None:
            if peer.pending():  # a second request before this answer: two users of one connection
                overlaps.append(seen)
            peer.send(response(200, seen.headers["x-id"].encode() + b":" + seen.body))

    transport = make_transport()
    wrong: list[tuple[str, bytes]] = []
    start = threading.Barrier(threads)

    def client(number: int, url: str) -> None:
        start.wait()
        for n in range(per_thread):
            request_id = f"{number}-{n}"
            body = request_id.encode() * (1 + n % 3)
            got = transport.request("POST", url, headers={"X-Id": request_id}, body=body).read()
            if got != request_id.encode() + b":" + body:
                wrong.append((request_id, got))

    with RawServer(echo) as server:
        workers = [threading.Thread(target=client, args=(n, server.url())) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        assert not any(worker.is_alive() for worker in workers)
        assert wrong == []
        assert overlaps == []
        assert len(server.requests) == threads * per_thread
        assert 1 <= server.accepts <= threads
        assert idle(transport) == server.accepts  # every connection came back to the pool
