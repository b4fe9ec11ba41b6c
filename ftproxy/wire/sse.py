"""Server-sent events: encoding what we send, decoding what upstreams send.

The decoder works on raw byte chunks as they arrive from the network, so a stream is never
gathered in memory: at most one incomplete event is buffered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from enum import Enum
from typing import Any, Final

from ftproxy._json import dumps

DONE = b"data: [DONE]\n\n"
KEEPALIVE = b": ping\n\n"


class Idle(Enum):
    """What a decoder yields for an empty chunk when asked to (`idle=True`): a wait passed with
    nothing from the upstream, passed on so that the relay above can act on the silence."""

    IDLE = "idle"


IDLE: Final = Idle.IDLE


def encode_data(payload: Any) -> bytes:
    """One `data:` event carrying JSON (the OpenAI framing)."""
    return b"data: " + dumps(payload) + b"\n\n"


def encode_event(name: str, payload: Any) -> bytes:
    """One named event (the Anthropic framing: `event:` then `data:`)."""
    return b"event: " + name.encode() + b"\ndata: " + dumps(payload) + b"\n\n"


def iter_data(chunks: Iterable[bytes], idle: bool = False) -> Iterator[str | Idle]:
    """Yields the `data` field of each event in a byte stream.

    Follows the SSE rules that matter in practice: LF, CRLF or CR line ends; several `data:`
    lines joined with newlines; comment lines (`:`) and other fields ignored; an optional single
    space after the colon. A final event without its blank line is still delivered, because some
    upstreams close the connection right after the last `data:` line.

    An empty chunk means "nothing arrived for a while" (`UpstreamResponse.iter_chunks(until)`):
    with `idle` it is passed on as `IDLE`.
    """
    buffer = b""
    data_lines: list[bytes] = []
    for chunk in chunks:
        if not chunk:
            if idle:
                yield IDLE
            continue
        buffer += chunk
        if b"\r" in buffer:
            # A CR may be the first half of a CRLF split across chunks: keep it until we know.
            if buffer.endswith(b"\r"):
                head, buffer = buffer[:-1], b"\r"
            else:
                head, buffer = buffer, b""
            buffer = head.replace(b"\r\n", b"\n").replace(b"\r", b"\n") + buffer
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if not line:
                if data_lines:
                    yield b"\n".join(data_lines).decode("utf-8", "replace")
                    data_lines = []
            elif line.startswith(b"data:"):
                value = line[5:]
                data_lines.append(value[1:] if value.startswith(b" ") else value)
            # comments (":") and other fields (event, id, retry) carry nothing we need
    tail = buffer.rstrip(b"\r")
    if tail.startswith(b"data:"):
        value = tail[5:]
        data_lines.append(value[1:] if value.startswith(b" ") else value)
    if data_lines:
        yield b"\n".join(data_lines).decode("utf-8", "replace")
