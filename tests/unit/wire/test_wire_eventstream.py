"""The AWS binary event stream decoder: frames, checksums, headers, arbitrary chunk splits."""

from __future__ import annotations

import base64
import itertools
import json
import struct
import uuid
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftproxy.convert import StreamFormat, UpstreamProtocolError
from ftproxy.wire.eventstream import EventStreamDecoder, encode_frame, event_frame, exception_frame
from ftproxy.wire.upstream import decode_stream

# The AWS event stream spec's "empty message" test vector: no headers, no payload.
EMPTY_MESSAGE = bytes.fromhex("000000100000000005c248eb7d98c8ff")

EVENTS = [
    {"type": "message_start", "message": {"id": "msg_1", "usage": {"input_tokens": 3, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Grüße 🌍"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 4}},
    {"type": "message_stop"},
]
STREAM = b"".join(event_frame(json.dumps(e).encode()) for e in EVENTS)


def frames(data: bytes, sizes: list[int]) -> list[tuple[dict[str, object], bytes]]:
    decoder = EventStreamDecoder()
    out = []
    pos = 0
    for size in [*sizes, len(data)]:
        chunk, pos = data[pos : pos + size], pos + size
        out.extend((f.headers, f.payload) for f in decoder.feed(chunk))
    decoder.close()
    return out


def test_spec_test_vector_empty_message() -> None:
    assert frames(EMPTY_MESSAGE, []) == [({}, b"")]
    assert encode_frame({}, b"") == EMPTY_MESSAGE


def test_round_trip_of_all_encodable_header_types() -> None:
    headers = {
        ":message-type": "event",
        "flag": True,
        "off": False,
        "n": -7,
        "raw": b"\x00\x01",
        "id": uuid.UUID(int=5),
    }
    assert frames(encode_frame(headers, b"payload"), []) == [(headers, b"payload")]


def test_other_header_types() -> None:
    # byte (2), short (3), long (5) and timestamp (8) headers, written by hand
    def header(name: bytes, kind: int, value: bytes) -> bytes:
        return bytes([len(name)]) + name + bytes([kind]) + value

    raw = (
        header(b"b", 2, struct.pack(">b", -2))
        + header(b"s", 3, struct.pack(">h", 300))
        + header(b"l", 5, struct.pack(">q", 2**40))
        + header(b"t", 8, struct.pack(">q", 1_700_000_000_000))
    )
    prelude = struct.pack(">II", 12 + len(raw) + 4, len(raw))
    head = prelude + struct.pack(">I", zlib.crc32(prelude)) + raw
    frame = head + struct.pack(">I", zlib.crc32(head))
    assert frames(frame, []) == [({"b": -2, "s": 300, "l": 2**40, "t": 1_700_000_000_000}, b"")]


def test_decode_stream_yields_the_anthropic_events() -> None:
    assert list(decode_stream(StreamFormat.AWS_EVENTSTREAM, [STREAM])) == EVENTS


def test_byte_by_byte() -> None:
    chunks = [STREAM[i : i + 1] for i in range(len(STREAM))]
    assert list(decode_stream(StreamFormat.AWS_EVENTSTREAM, chunks)) == EVENTS


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_any_chunk_boundaries(cuts: list[int]) -> None:
    points = [0, *sorted(cuts), len(STREAM)]
    chunks = [STREAM[a:b] for a, b in itertools.pairwise(points)]
    assert list(decode_stream(StreamFormat.AWS_EVENTSTREAM, chunks)) == EVENTS


def test_only_one_frame_is_buffered() -> None:
    decoder = EventStreamDecoder()
    frame = event_frame(json.dumps(EVENTS[2]).encode())
    for _ in range(100):
        assert len(list(decoder.feed(frame[:10]))) == 0
        assert len(list(decoder.feed(frame[10:]))) == 1
        assert len(decoder._buffer) == 0


def test_bad_prelude_checksum() -> None:
    bad = bytearray(STREAM)
    bad[8] ^= 0xFF
    with pytest.raises(UpstreamProtocolError, match="prelude"):
        list(decode_stream(StreamFormat.AWS_EVENTSTREAM, [bytes(bad)]))


def test_bad_message_checksum() -> None:
    bad = bytearray(STREAM)
    bad[20] ^= 0x01  # inside the first frame's headers
    with pytest.raises(UpstreamProtocolError, match="message checksum"):
        list(decode_stream(StreamFormat.AWS_EVENTSTREAM, [bytes(bad)]))


def test_impossible_length_is_refused_before_waiting_for_it() -> None:
    prelude = struct.pack(">II", 2**31, 0)
    frame = prelude + struct.pack(">I", zlib.crc32(prelude))
    with pytest.raises(UpstreamProtocolError, match="impossible length"):
        list(EventStreamDecoder().feed(frame))


def test_stream_cut_inside_a_frame() -> None:
    with pytest.raises(UpstreamProtocolError, match="inside a frame"):
        list(decode_stream(StreamFormat.AWS_EVENTSTREAM, [STREAM[:-3]]))


def test_chunk_payload_that_is_not_base64_json() -> None:
    headers = {":event-type": "chunk", ":message-type": "event"}
    frame = encode_frame(headers, b'{"bytes": "%%%"}')
    with pytest.raises(UpstreamProtocolError, match="base64"):
        list(decode_stream(StreamFormat.AWS_EVENTSTREAM, [frame]))


def test_exception_frames_become_error_events() -> None:
    data = event_frame(json.dumps(EVENTS[0]).encode()) + exception_frame(
        "throttlingException", "Too many requests"
    )
    events = list(decode_stream(StreamFormat.AWS_EVENTSTREAM, [data]))
    assert events[1] == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "throttlingException: Too many requests"},
    }


def test_error_message_type_and_unknown_events_are_handled() -> None:
    error = encode_frame(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "oops"}, b""
    )
    other = encode_frame({":message-type": "event", ":event-type": "initial-response"}, b"{}")
    events = list(decode_stream(StreamFormat.AWS_EVENTSTREAM, [other + error]))
    assert events == [{"type": "error", "error": {"type": "api_error", "message": "InternalFailure: oops"}}]


def test_sse_answer_to_an_eventstream_request_is_still_read() -> None:
    sse = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in EVENTS)
    assert list(decode_stream(StreamFormat.AWS_EVENTSTREAM, [b"", sse[:7], sse[7:]])) == EVENTS


def test_empty_stream() -> None:
    assert list(decode_stream(StreamFormat.AWS_EVENTSTREAM, [b"", b""])) == []


def test_botocore_reads_our_frames_the_same() -> None:
    """botocore (the reference decoder, where installed) agrees with our frames and decoder."""
    eventstream = pytest.importorskip("botocore.eventstream")
    buffer = eventstream.EventStreamBuffer()
    buffer.add_data(STREAM + exception_frame("validationException", "bad"))
    messages = list(buffer)
    ours = frames(STREAM + exception_frame("validationException", "bad"), [])
    assert [m.headers for m in messages] == [h for h, _ in ours]
    assert [m.payload for m in messages] == [p for _, p in ours]
    first = json.loads(base64.b64decode(json.loads(messages[0].payload)["bytes"]))
    assert first == EVENTS[0]
