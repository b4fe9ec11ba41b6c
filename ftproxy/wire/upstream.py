"""Decoding upstream streams into event dicts, whatever their framing."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ftproxy._json import loads
from ftproxy.convert.base import StreamFormat, UpstreamProtocolError
from ftproxy.wire.sse import iter_data


def decode_stream(stream_format: StreamFormat, chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Yields one dict per upstream event; ends at the stream's end or at `data: [DONE]`.

    Raises `UpstreamProtocolError` for an event that is not valid in its framing.
    """
    if stream_format is StreamFormat.SSE_JSON:
        yield from _sse_json(chunks)
    else:
        raise UpstreamProtocolError(f"stream format {stream_format.value} is not supported yet")


def _sse_json(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    for data in iter_data(chunks):
        if data == "[DONE]":
            return
        try:
            event = loads(data)
        except ValueError as exc:
            raise UpstreamProtocolError(f"upstream sent an event that is not JSON: {data[:200]!r}") from exc
        if not isinstance(event, dict):
            raise UpstreamProtocolError(f"upstream sent an event that is not an object: {data[:200]!r}")
        yield event
