"""The AWS binary event stream (`application/vnd.amazon.eventstream`), as Bedrock's
invoke-with-response-stream sends it.

A frame ("message") is:

    total length (4 bytes, big-endian) | headers length (4) | prelude CRC32 (4) |
    headers | payload | message CRC32 (4)

The prelude CRC covers the first 8 bytes; the message CRC everything before it. A header is
name length (1), name (UTF-8), value type (1), value (type-dependent). Bedrock's payloads are JSON:
`{"bytes": "<base64 of one Anthropic event>"}` for `:event-type` chunk, `{"message": …}` for
exceptions (`:message-type` exception, `:exception-type` e.g. throttlingException).

`EventStreamDecoder` is incremental: bytes go in as they arrive, split anywhere, and only the
current incomplete frame is buffered. Both CRCs are checked. (botocore's `EventStreamBuffer`
does the same job; it is not used because botocore is a 15 MB dependency for 100 lines.)
`encode_frame` builds frames, for the simulator and tests.
"""

from __future__ import annotations

import base64
import struct
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ftproxy._json import dumps
from ftproxy.wire.apis import UpstreamProtocolError

PRELUDE = 12
MAX_FRAME = 24 * 1024 * 1024  # AWS allows 16 MiB payload + 128 KiB headers
_MIN_FRAME = PRELUDE + 4


@dataclass(frozen=True, slots=True)
class Frame:
    headers: dict[str, Any]
    payload: bytes


class EventStreamDecoder:
    __slots__ = ("_buffer", "_checked")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._checked = False  # prelude of the frame at the head of the buffer verified

    def feed(self, chunk: bytes) -> Iterator[Frame]:
        self._buffer += chunk
        buffer = self._buffer
        while len(buffer) >= PRELUDE:
            total, headers_length, prelude_crc = struct.unpack_from(">III", buffer)
            if not self._checked:
                if zlib.crc32(memoryview(buffer)[:8]) != prelude_crc:
                    raise UpstreamProtocolError("event stream frame has a bad prelude checksum")
                if not _MIN_FRAME <= total <= MAX_FRAME or headers_length > total - _MIN_FRAME:
                    raise UpstreamProtocolError(f"event stream frame has an impossible length ({total})")
                self._checked = True
            if len(buffer) < total:
                return
            view = memoryview(buffer)
            (message_crc,) = struct.unpack_from(">I", view, total - 4)
            if zlib.crc32(view[: total - 4]) != message_crc:
                view.release()
                raise UpstreamProtocolError("event stream frame has a bad message checksum")
            headers = _headers(view[PRELUDE : PRELUDE + headers_length])
            payload = bytes(view[PRELUDE + headers_length : total - 4])
            view.release()
            del buffer[:total]
            self._checked = False
            yield Frame(headers, payload)

    def close(self) -> None:
        """Raises if the stream ended inside a frame."""
        if self._buffer:
            raise UpstreamProtocolError(f"event stream ended inside a frame ({len(self._buffer)} bytes left)")


def _headers(data: memoryview) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    pos, end = 0, len(data)
    try:
        while pos < end:
            name_length = data[pos]
            name = bytes(data[pos + 1 : pos + 1 + name_length]).decode()
            pos += 1 + name_length
            kind = data[pos]
            pos += 1
            value: Any
            if kind in (0, 1):
                value = kind == 0
            elif kind == 2:
                value = struct.unpack_from(">b", data, pos)[0]
                pos += 1
            elif kind == 3:
                value = struct.unpack_from(">h", data, pos)[0]
                pos += 2
            elif kind == 4:
                value = struct.unpack_from(">i", data, pos)[0]
                pos += 4
            elif kind in (5, 8):  # long, timestamp (ms since the epoch)
                value = struct.unpack_from(">q", data, pos)[0]
                pos += 8
            elif kind in (6, 7):  # bytes, string
                (length,) = struct.unpack_from(">H", data, pos)
                raw = bytes(data[pos + 2 : pos + 2 + length])
                if len(raw) != length:
                    raise UpstreamProtocolError("event stream header value is cut short")
                value = raw.decode() if kind == 7 else raw
                pos += 2 + length
            elif kind == 9:
                value = uuid.UUID(bytes=bytes(data[pos : pos + 16]))
                pos += 16
            else:
                raise UpstreamProtocolError(f"event stream header has an unknown value type {kind}")
            headers[name] = value
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, UpstreamProtocolError):
            raise
        raise UpstreamProtocolError(f"event stream headers are malformed ({exc})") from None
    return headers


def encode_frame(headers: dict[str, Any], payload: bytes) -> bytes:
    """One frame; header values: bool, int (int32), bytes, str, uuid.UUID."""
    encoded = bytearray()
    for name, value in headers.items():
        raw_name = name.encode()
        encoded += bytes([len(raw_name)]) + raw_name
        if isinstance(value, bool):
            encoded += bytes([0 if value else 1])
        elif isinstance(value, int):
            encoded += b"\x04" + struct.pack(">i", value)
        elif isinstance(value, bytes):
            encoded += b"\x06" + struct.pack(">H", len(value)) + value
        elif isinstance(value, uuid.UUID):
            encoded += b"\x09" + value.bytes
        else:
            raw = str(value).encode()
            encoded += b"\x07" + struct.pack(">H", len(raw)) + raw
    total = PRELUDE + len(encoded) + len(payload) + 4
    prelude = struct.pack(">II", total, len(encoded))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + bytes(encoded) + payload
    return head + struct.pack(">I", zlib.crc32(head))


def event_frame(event_json: bytes) -> bytes:
    """A Bedrock invoke-with-response-stream chunk frame carrying one Anthropic event's JSON."""
    payload = dumps({"bytes": base64.b64encode(event_json).decode()})
    headers = {":event-type": "chunk", ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, payload)


def exception_frame(exception_type: str, message: str) -> bytes:
    headers = {
        ":exception-type": exception_type,
        ":content-type": "application/json",
        ":message-type": "exception",
    }
    return encode_frame(headers, dumps({"message": message}))
