"""Decoding upstream streams into event dicts, whatever their framing.

- SSE_JSON: `data: {json}` lines (GPT, Gemini), ending at `data: [DONE]` or the stream's end.
- SSE_JSON_OR_PYTHON: the same, but a line that is not JSON may be a Python dict literal
  (single quotes, True/False/None, b'…' bytes), as SAP AI Core relays Bedrock Converse events;
  it is read with `ast.literal_eval` (literals only, never code), and bytes become base64 text.
- AWS_EVENTSTREAM: Bedrock's binary frames (`wire.eventstream`), each chunk payload's base64 JSON
  decoded into one Anthropic event dict. An exception frame becomes an Anthropic error event
  (`{"type": "error", "error": {"type", "message"}}`), which the translators turn into the
  client's error event. A stream that starts with text instead of a frame is read as SSE, so a
  deployment that answers invoke-with-response-stream with SSE still works.

Everything is incremental: at most one incomplete event or frame is buffered.
"""

from __future__ import annotations

import ast
import base64
import binascii
from collections.abc import Iterable, Iterator
from itertools import chain
from typing import Any

from ftproxy._json import loads
from ftproxy.wire.apis import StreamFormat, UpstreamProtocolError
from ftproxy.wire.eventstream import EventStreamDecoder
from ftproxy.wire.sse import IDLE, Idle, iter_data

_MAX_LITERAL = 8 * 1024 * 1024
_EXCEPTION_TYPES = {
    "throttlingException": "rate_limit_error",
    "validationException": "invalid_request_error",
    "serviceUnavailableException": "overloaded_error",
    "modelTimeoutException": "api_error",
}


def decode_stream(
    stream_format: StreamFormat, chunks: Iterable[bytes], idle: bool = False
) -> Iterator[dict[str, Any] | Idle]:
    """Yields one dict per upstream event; ends at the stream's end or at `data: [DONE]`.

    An empty chunk (a wait that passed with nothing) is yielded as `IDLE` with `idle`.
    Raises `UpstreamProtocolError` for an event that is not valid in its framing.
    """
    if stream_format is StreamFormat.SSE_JSON:
        yield from _sse(chunks, python=False, idle=idle)
    elif stream_format is StreamFormat.SSE_JSON_OR_PYTHON:
        yield from _sse(chunks, python=True, idle=idle)
    elif stream_format is StreamFormat.AWS_EVENTSTREAM:
        yield from _eventstream(chunks, idle)
    else:
        raise UpstreamProtocolError(f"stream format {stream_format} is not supported")


def _sse(chunks: Iterable[bytes], *, python: bool, idle: bool = False) -> Iterator[dict[str, Any] | Idle]:
    for data in iter_data(chunks, idle):
        if data is IDLE:
            yield IDLE
            continue
        if data == "[DONE]":
            return
        try:
            event = loads(data)
        except ValueError as exc:
            if not python:
                raise UpstreamProtocolError(
                    f"upstream sent an event that is not JSON: {data[:200]!r}"
                ) from exc
            event = python_literal(data)
        if not isinstance(event, dict):
            raise UpstreamProtocolError(f"upstream sent an event that is not an object: {data[:200]!r}")
        yield event


def python_literal(data: str) -> dict[str, Any]:
    """A Python dict literal (as `str(dict)` prints it), safely: `ast.literal_eval` evaluates
    literals only. Bytes values become base64 text, as they are in JSON."""
    text = data.strip()
    if not text.startswith("{") or len(text) > _MAX_LITERAL:
        raise UpstreamProtocolError(f"upstream sent an event that is neither JSON nor a dict: {data[:200]!r}")
    try:
        value = ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise UpstreamProtocolError(f"upstream sent an event that cannot be read: {data[:200]!r}") from exc
    if not isinstance(value, dict):
        raise UpstreamProtocolError(f"upstream sent an event that is not an object: {data[:200]!r}")
    return _jsonable(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, set | frozenset | complex):
        raise UpstreamProtocolError("upstream sent an event with values JSON cannot hold")
    return value


def _eventstream(chunks: Iterable[bytes], idle: bool = False) -> Iterator[dict[str, Any] | Idle]:
    iterator = iter(chunks)
    first = b""
    for chunk in iterator:
        if chunk:
            first = chunk
            break
        if idle:
            yield IDLE
    if not first:
        return
    if first[:1] != b"\x00":  # a frame starts with its length's high byte, 0 for any sane frame
        yield from _sse(chain((first,), iterator), python=False, idle=idle)
        return
    decoder = EventStreamDecoder()
    for chunk in chain((first,), iterator):
        if not chunk:
            if idle:
                yield IDLE
            continue
        for frame in decoder.feed(chunk):
            event = _frame_event(frame.headers, frame.payload)
            if event is not None:
                yield event
    decoder.close()


def _frame_event(headers: dict[str, Any], payload: bytes) -> dict[str, Any] | None:
    message_type = headers.get(":message-type", "event")
    if message_type == "event":
        if headers.get(":event-type", "chunk") != "chunk":
            return None  # initial-response and the like
        try:
            body = loads(payload)
            event = loads(base64.b64decode(body["bytes"], validate=True))
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise UpstreamProtocolError(f"event stream chunk is not base64 JSON: {payload[:200]!r}") from exc
        if not isinstance(event, dict):
            raise UpstreamProtocolError("event stream chunk does not carry an object")
        return event
    if message_type == "exception":
        kind = str(headers.get(":exception-type") or "exception")
        message = _payload_message(payload) or kind
    elif message_type == "error":
        kind = str(headers.get(":error-code") or "error")
        message = str(headers.get(":error-message") or kind)
    else:
        return None
    error_type = _EXCEPTION_TYPES.get(kind, "api_error")
    return {"type": "error", "error": {"type": error_type, "message": f"{kind}: {message}"}}


def _payload_message(payload: bytes) -> str | None:
    try:
        body = loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace") or None
    if isinstance(body, dict):
        message = body.get("message") or body.get("Message")
        return str(message) if message else None
    return None
