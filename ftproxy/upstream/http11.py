"""The HTTP/1.1 message format, as the transport writes and reads it: pure functions, no sockets.

Only what SAP AI Core's answers need: a request head with a Content-Length body, a response
head, and chunk-size lines. The transport (`transport.py`) and the response's body readers
(`response.py`) do the I/O around these.
"""

from __future__ import annotations

from collections.abc import Mapping

from ftproxy.upstream.errors import ProtocolError

MAX_HEAD = 64 * 1024  # status line + headers (or a trailer line); SAP AI Core sends well under 2 kB
NO_BODY_STATUSES = frozenset({204, 304})
_HEX = b"0123456789abcdefABCDEF"


def request_head(
    method: str,
    target: str,
    host: str,
    headers: Mapping[str, str],
    proxy_authorization: str | None,
    body: bytes,
) -> bytes:
    """The request line, headers and body, ready to send; `ValueError` for a header that cannot
    be sent (a line break inside, or text that is not Latin-1)."""
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


def parse_head(head: bytes) -> tuple[int, dict[str, str], bool]:
    """Status, headers (lower-case names, repeats joined with ", ") and whether the connection
    may be kept alive; raises `ProtocolError` for anything that is not HTTP/1.x."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    code = parts[1] if len(parts) > 1 else ""
    if not parts[0].startswith("HTTP/1.") or not (code.isascii() and code.isdigit()):  # not "²00"
        raise ProtocolError(f"not an HTTP/1.1 status line: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name or name[-1] in " \t":
            raise ProtocolError(f"malformed header line {line[:80]!r}")
        name = name.lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    keep_alive = parts[0] == "HTTP/1.1" and "close" not in headers.get("connection", "").lower()
    return int(parts[1]), headers, keep_alive


def chunk_size(line: bytes) -> int:
    """The size on a chunk-size line (hex, optional ";extensions"); `ProtocolError` otherwise."""
    text = line.split(b";", 1)[0].strip()
    # hex digits only: int(…, 16) alone would also take "-1", "0x4" and "1_0"
    if not text or text.strip(_HEX):
        raise ProtocolError(f"bad chunk size {text[:20]!r}")
    return int(text, 16)
