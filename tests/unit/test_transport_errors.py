"""Socket and TLS failures become ours in one place (issue 23): the transport's step tables and the
`_Seam` around every socket call.

Two halves, so that neither a new kind of failure nor a new socket call can slip past:
- every exception type the calls below the transport can raise (the whole OSError hierarchy of
  this interpreter, walked live, ssl's and socket's included, and the ValueError a host name IDNA
  cannot encode raises) has a row in every step, and the row says the right thing;
- every socket call in transport.py and response.py sits inside a seam (or in a function only
  called from inside one), and no `except` there catches an OSError outside the few best-effort
  places named below; the checker is run on a bad sample first, to prove it has teeth.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import select
import socket
import ssl
import textwrap
from collections.abc import Iterator

import pytest

from ftproxy.upstream import response as response_module
from ftproxy.upstream import transport
from ftproxy.upstream.errors import ConnectFailed, ConnectionLost, UpstreamTimeout
from ftproxy.upstream.response import Waited

assert select  # imported for the exception types it may add to the hierarchy


def subclasses(root: type[BaseException]) -> Iterator[type[BaseException]]:
    yield root
    for sub in root.__subclasses__():
        yield from subclasses(sub)


OS_ERRORS = sorted(set(subclasses(OSError)), key=lambda kind: kind.__qualname__)
NAME_ERRORS = [ValueError, UnicodeError, UnicodeEncodeError]  # getaddrinfo, wrap_socket(server_hostname=)
TIMEOUTS = (TimeoutError, BlockingIOError)


def test_the_walk_sees_the_types_the_transport_meets() -> None:
    for kind in (
        TimeoutError,
        BlockingIOError,
        ConnectionResetError,
        ConnectionRefusedError,
        ConnectionAbortedError,
        BrokenPipeError,
        socket.gaierror,
        ssl.SSLError,
        ssl.SSLEOFError,
        ssl.SSLZeroReturnError,
        ssl.SSLCertVerificationError,
        ssl.SSLWantReadError,
    ):
        assert kind in OS_ERRORS


def expected(step: str, kind: type[BaseException]) -> type[Exception]:
    timed_out = issubclass(kind, TimeoutError) or (
        issubclass(kind, BlockingIOError) and step not in ("connect", "handshake")
    )
    if step in ("connect", "handshake"):
        return UpstreamTimeout if timed_out else ConnectFailed
    if step == "wait":
        return Waited if timed_out else ConnectionLost
    if timed_out:
        return UpstreamTimeout
    return transport._Stale if step in ("resend", "first read") else ConnectionLost


STEPS = {
    "connect": (transport._CONNECTING, OS_ERRORS + NAME_ERRORS),
    "handshake": (transport._HANDSHAKE, OS_ERRORS + NAME_ERRORS),
    "send": (transport._SENDING, OS_ERRORS),
    "resend": (transport._RESENDING, OS_ERRORS),
    "read": (transport._READING, OS_ERRORS),
    "first read": (transport._FIRST_READ, OS_ERRORS),
    "wait": (transport._WAITING, OS_ERRORS),
}


@pytest.mark.parametrize("step", STEPS)
def test_every_failure_below_has_a_row_in_every_step(step: str) -> None:
    table, raised_below = STEPS[step]
    wrong = {}
    for kind in raised_below:
        mapped = transport._mapped(table, kind)
        got = None if mapped is None else mapped[0]
        if got is not expected(step, kind):
            wrong[kind.__qualname__] = got
    assert not wrong, f"step {step}: {wrong}"


def verify_failed() -> ssl.SSLError:
    failure = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    failure.reason = "CERTIFICATE_VERIFY_FAILED"  # as OpenSSL's errors carry it
    return failure


@pytest.mark.parametrize(
    ("table", "failure", "message"),
    [
        (transport._CONNECTING, ConnectionRefusedError(111, "Connection refused"),
         "cannot connect to 10.0.0.1:443: Connection refused"),
        (transport._CONNECTING, TimeoutError("timed out"), "connecting to 10.0.0.1:443 timed out"),
        (transport._CONNECTING, UnicodeError("label empty or too long"),
         "cannot connect to 10.0.0.1:443: label empty or too long"),
        (transport._HANDSHAKE, verify_failed(), "TLS with api.example failed: CERTIFICATE_VERIFY_FAILED"),
        (transport._HANDSHAKE, ssl.SSLError(1, "bad record"), "TLS with api.example failed: bad record"),
        (transport._HANDSHAKE, TimeoutError("handshake"),
         "connecting to 10.0.0.1:443 timed out (TLS or proxy)"),
        (transport._SENDING, BrokenPipeError(32, "Broken pipe"),
         "the connection broke while sending the request: Broken pipe"),
        (transport._READING, BlockingIOError(11, "again"),
         "SAP AI Core sent nothing within the read timeout"),
        (transport._READING, ConnectionResetError(104, "Connection reset by peer"),
         "the connection to SAP AI Core broke: Connection reset by peer"),
    ],
)  # fmt: skip
def test_the_seam_raises_the_rows_error_with_its_words(
    table: transport._Table, failure: Exception, message: str
) -> None:
    seam = transport._Seam(table, "10.0.0.1:443", "api.example")
    with pytest.raises(Exception) as caught, seam:
        raise failure
    assert type(caught.value) is transport._mapped(table, type(failure))[0]  # type: ignore[index]
    assert str(caught.value) == message
    assert caught.value.__suppress_context__  # the OS error's traceback stays out of the log


def test_our_own_errors_pass_through_the_seam() -> None:
    failure = ConnectFailed("cannot connect to api.example: proxy refused the tunnel")
    with pytest.raises(ConnectFailed) as caught, transport._Seam(transport._HANDSHAKE):
        raise failure
    assert caught.value is failure


# --- every socket call goes through a seam ---------------------------------------------------------

# Calls on a socket, an SSL context or a poller, by method name; and the module-level ones.
SOCKET_CALLS = {
    "accept", "close", "connect", "create_connection", "getaddrinfo", "poll", "recv", "recv_into",
    "register", "select", "send", "sendall", "setsockopt", "settimeout", "shutdown", "wrap_socket",
}  # fmt: skip
SOCKET_RECEIVERS = {"sock", "socket", "select", "poller", "_tls", "ssl"}
SEAMS = {"_Seam", "_SEND", "_RESEND", "_READ", "_READ_FIRST", "_WAIT"}
# Best effort by design: a probe whose failure means "not alive", and closing, where a failure
# has nothing left to report. `contextlib.suppress(OSError)` is allowed for the same reason.
BEST_EFFORT = {"looks_alive", "close", "interrupt"}
# Run once at start-up, not on a request: a bad CA bundle fails the start with OpenSSL's words.
START_UP = {"_tls_context"}


def _with_names(node: ast.With) -> set[str]:
    names = set()
    for item in node.items:
        for sub in ast.walk(item.context_expr):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                names.add(sub.attr)
    return names


def _is_seam(node: ast.With) -> bool:
    names = _with_names(node)
    return bool(names & SEAMS) or ("suppress" in names and "OSError" in names)


def _catches_os_errors(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    for sub in ast.walk(handler.type):
        kind = None
        if isinstance(sub, ast.Name):
            kind = getattr(builtins, sub.id, None)
        elif isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            kind = getattr({"ssl": ssl, "socket": socket, "select": select}.get(sub.value.id), sub.attr, None)
        if isinstance(kind, type) and issubclass(kind, BaseException) and issubclass(OSError, kind):
            return True  # catches OSError or a base of it
        if isinstance(kind, type) and issubclass(kind, OSError):
            return True
    return False


def unmapped_socket_calls(source: str) -> list[str]:
    """Socket calls outside any seam and `except` clauses catching OSError outside best-effort code."""
    tree = ast.parse(source)
    functions: dict[str, list[ast.AST]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef):
            functions.setdefault(node.name, []).append(node)
        if isinstance(node, ast.ClassDef):  # `_Connection(...)` calls its __init__
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    functions.setdefault(node.name, []).append(item)

    # (called name, call, in a seam, enclosing function, a call on a socket)
    sites: list[tuple[str, ast.Call, bool, str, bool]] = []

    def visit(node: ast.AST, in_seam: bool, function: str, cls: str = "") -> None:
        if isinstance(node, ast.ClassDef):
            cls = node.name
        if isinstance(node, ast.FunctionDef):
            function, in_seam = cls if node.name == "__init__" and cls else node.name, False
        if isinstance(node, ast.With) and _is_seam(node):
            in_seam = True
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.attr
                if isinstance(func, ast.Attribute)
                else func.id
                if isinstance(func, ast.Name)
                else ""
            )
            receiver = func.value if isinstance(func, ast.Attribute) else None
            on_socket = (
                isinstance(receiver, ast.Name | ast.Attribute)
                and (receiver.id if isinstance(receiver, ast.Name) else receiver.attr) in SOCKET_RECEIVERS
            )
            # a socket's method by name, unless it is one of this module's own (`pool.connect()`)
            socket_call = on_socket or (name in SOCKET_CALLS and name not in functions)
            sites.append((name, node, in_seam, function, socket_call))
        for child in ast.iter_child_nodes(node):
            visit(child, in_seam, function, cls)

    visit(tree, False, "<module>")
    callers: dict[str, list[tuple[bool, str]]] = {}
    for name, _, in_seam, function, _ in sites:
        callers.setdefault(name, []).append((in_seam, function))
    covered = BEST_EFFORT | START_UP
    changed = True
    while changed:  # a function is covered when every call of it is in a seam or a covered function
        changed = False
        for name in functions:
            if name in covered or name not in callers:
                continue
            if all(in_seam or caller in covered for in_seam, caller in callers[name]):
                covered.add(name)
                changed = True
    problems = [
        f"line {call.lineno}: {name}() in {function} is outside every seam"
        for name, call, in_seam, function, socket_call in sites
        if socket_call and not in_seam and function not in covered
    ]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name not in BEST_EFFORT:
            for sub in ast.walk(node):
                if isinstance(sub, ast.ExceptHandler) and _catches_os_errors(sub):
                    problems.append(f"line {sub.lineno}: {node.name} catches an OSError itself")
    return problems


def test_the_checker_finds_a_socket_call_outside_a_seam() -> None:
    bad = textwrap.dedent(
        """
        def read(self):
            with _READ:
                self.sock.recv(1)
            return self.sock.recv(1)

        def helper(sock):
            sock.sendall(b"x")

        def send(self):
            with _SEND:
                helper(self.sock)
            helper(self.sock)

        def inline(self):
            try:
                self.sock.recv(1)
            except ConnectionResetError:
                pass
        """
    )
    problems = unmapped_socket_calls(bad)
    assert any("recv() in read" in p for p in problems), problems
    assert any("sendall() in helper" in p for p in problems), problems
    assert any("inline catches an OSError" in p for p in problems), problems
    good = "def read(self):\n    with _READ if self.x else _WAIT:\n        self.sock.recv(1)\n"
    assert unmapped_socket_calls(good) == []


@pytest.mark.parametrize("module", [transport, response_module], ids=["transport", "response"])
def test_every_socket_call_goes_through_a_seam(module: object) -> None:
    assert unmapped_socket_calls(inspect.getsource(module)) == []  # type: ignore[arg-type]


def test_a_host_name_idna_cannot_encode_is_connect_failed() -> None:
    # getaddrinfo raises UnicodeError for an empty label; it escaped the transport as a 500 before
    with pytest.raises(ConnectFailed, match=r"cannot connect to a\.\.b:80"):
        transport.Transport(connect_timeout=1.0).request("POST", "http://a..b/x", headers={})
