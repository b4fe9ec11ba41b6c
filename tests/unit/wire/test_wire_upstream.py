"""SSE decoding of upstream streams: JSON lines, and Converse's Python dict literal lines."""

from __future__ import annotations

import base64

import pytest

from ftproxy.convert import StreamFormat, UpstreamProtocolError
from ftproxy.wire.upstream import decode_stream, python_literal

PY = StreamFormat.SSE_JSON_OR_PYTHON


def decode(data: bytes, fmt: StreamFormat = PY) -> list[dict[str, object]]:
    return list(decode_stream(fmt, [data]))


CASES = [
    (
        "json line",
        b'data: {"messageStart": {"role": "assistant"}}\n\n',
        [{"messageStart": {"role": "assistant"}}],
    ),
    (
        "python literal with single quotes",
        b"data: {'contentBlockDelta': {'delta': {'text': \"it's\"}, 'contentBlockIndex': 0}}\n\n",
        [{"contentBlockDelta": {"delta": {"text": "it's"}, "contentBlockIndex": 0}}],
    ),
    (
        "python True/False/None",
        b"data: {'a': True, 'b': False, 'c': None, 'd': 1.5, 'e': (1, 2)}\n\n",
        [{"a": True, "b": False, "c": None, "d": 1.5, "e": [1, 2]}],
    ),
    (
        "python bytes become base64",
        b"data: {'reasoningContent': {'redactedContent': b'\\x00\\x01'}}\n\n",
        [{"reasoningContent": {"redactedContent": base64.b64encode(b"\x00\x01").decode()}}],
    ),
    (
        "unicode in a python literal",
        "data: {'text': 'Grüße 🌍'}\n\n".encode(),
        [{"text": "Grüße 🌍"}],
    ),
    (
        "mixed lines, CRLF, comments, DONE",
        b": keep-alive\r\ndata: {'a': 1}\r\n\r\ndata: {\"b\": 2}\r\n\r\n"
        b"data: [DONE]\r\n\r\ndata: {'c': 3}\r\n\r\n",
        [{"a": 1}, {"b": 2}],
    ),
    ("last event without its blank line", b"data: {'a': 1}\n\ndata: {'b': 2}", [{"a": 1}, {"b": 2}]),
]


@pytest.mark.parametrize(("name", "data", "expected"), CASES, ids=[c[0] for c in CASES])
def test_json_or_python_lines(name: str, data: bytes, expected: list[dict[str, object]]) -> None:
    assert decode(data) == expected
    # and the same split at every byte
    assert list(decode_stream(PY, [data[i : i + 1] for i in range(len(data))])) == expected


BAD = [
    ("not a literal", b"data: hello\n\n"),
    ("code is never run", b"data: {'a': __import__('os').getcwd()}\n\n"),
    ("a call", b"data: {'a': print(1)}\n\n"),
    ("not a dict", b"data: [1, 2]\n\n"),
    ("a set", b"data: {'a': {1, 2}}\n\n"),
    ("unbalanced", b"data: {'a': 1\n\n"),
]


@pytest.mark.parametrize(("name", "data"), BAD, ids=[c[0] for c in BAD])
def test_bad_lines_are_protocol_errors(name: str, data: bytes) -> None:
    with pytest.raises(UpstreamProtocolError):
        decode(data)


def test_plain_json_format_refuses_python_literals() -> None:
    with pytest.raises(UpstreamProtocolError, match="not JSON"):
        decode(b"data: {'a': 1}\n\n", StreamFormat.SSE_JSON)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(UpstreamProtocolError):
        python_literal("{'a': " + "[" * 100_000 + "]" * 100_000 + "}")


def test_decoding_is_lazy() -> None:
    """One event comes out before the next chunk is read: nothing is collected."""
    pulled = []

    def chunks():
        for i in range(3):
            pulled.append(i)
            yield f"data: {{'n': {i}}}\n\n".encode()

    stream = decode_stream(PY, chunks())
    assert next(stream) == {"n": 0} and pulled == [0]
    assert next(stream) == {"n": 1} and pulled == [0, 1]
