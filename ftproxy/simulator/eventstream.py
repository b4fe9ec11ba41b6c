"""The AWS binary event stream (`application/vnd.amazon.eventstream`), both directions.

Frame: total length (u32 BE), headers length (u32 BE), CRC32 of those 8 bytes, headers, payload,
CRC32 of everything before it. Header: name length (u8), name, type (u8; 7 = string), value
length (u16 BE), value. The decoder is here so tests (and the proxy's tests) can check frames
byte for byte, CRCs included.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

_PRELUDE = struct.Struct(">II")
_U32 = struct.Struct(">I")
_STRING = 7


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return bytes((len(n),)) + n + bytes((_STRING,)) + len(v).to_bytes(2, "big") + v


def _headers(event_type: str, message_type: str = "event") -> bytes:
    if message_type == "exception":
        return (
            _header(":exception-type", event_type)
            + _header(":content-type", "application/json")
            + _header(":message-type", "exception")
        )
    return (
        _header(":event-type", event_type)
        + _header(":content-type", "application/json")
        + _header(":message-type", "event")
    )


_HEADER_CACHE: dict[tuple[str, str], bytes] = {}


def encode_frame(
    event_type: str, payload: bytes, message_type: str = "event", corrupt: bool = False
) -> bytes:
    """One frame; `corrupt=True` spoils the message CRC (fault injection)."""
    headers = _HEADER_CACHE.get((event_type, message_type))
    if headers is None:
        headers = _HEADER_CACHE.setdefault((event_type, message_type), _headers(event_type, message_type))
    total = 16 + len(headers) + len(payload)
    prelude = _PRELUDE.pack(total, len(headers))
    head = prelude + _U32.pack(zlib.crc32(prelude)) + headers + payload
    crc = zlib.crc32(head) ^ (0xFFFFFFFF if corrupt else 0)
    return head + _U32.pack(crc)


@dataclass(frozen=True, slots=True)
class Frame:
    headers: dict[str, str]
    payload: bytes


class FrameError(ValueError):
    pass


def decode_frames(data: bytes) -> list[Frame]:
    """Split a complete byte string into frames, verifying lengths and both CRCs."""
    frames, pos = [], 0
    while pos < len(data):
        if len(data) - pos < 16:
            raise FrameError(f"truncated prelude at byte {pos}")
        total, hlen = _PRELUDE.unpack_from(data, pos)
        (prelude_crc,) = _U32.unpack_from(data, pos + 8)
        if zlib.crc32(data[pos : pos + 8]) != prelude_crc:
            raise FrameError(f"prelude CRC mismatch at byte {pos}")
        end = pos + total
        if end > len(data):
            raise FrameError(f"truncated frame at byte {pos}")
        (message_crc,) = _U32.unpack_from(data, end - 4)
        if zlib.crc32(data[pos : end - 4]) != message_crc:
            raise FrameError(f"message CRC mismatch at byte {pos}")
        frames.append(
            Frame(_parse_headers(data[pos + 12 : pos + 12 + hlen]), data[pos + 12 + hlen : end - 4])
        )
        pos = end
    return frames


def _parse_headers(raw: bytes) -> dict[str, str]:
    out, i = {}, 0
    while i < len(raw):
        n = raw[i]
        name = raw[i + 1 : i + 1 + n].decode()
        i += 1 + n
        if raw[i] != _STRING:
            raise FrameError(f"header {name!r} has type {raw[i]}, only strings (7) are used")
        vlen = int.from_bytes(raw[i + 1 : i + 3], "big")
        out[name] = raw[i + 3 : i + 3 + vlen].decode()
        i += 3 + vlen
    return out


__all__ = ["Frame", "FrameError", "decode_frames", "encode_frame"]
