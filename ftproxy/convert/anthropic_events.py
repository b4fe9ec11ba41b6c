"""Anthropic Messages answers: decoding them (Claude on Bedrock invoke) and encoding them for
Anthropic clients (Claude Code), plus the native pair's translator.

Client SSE: `event: <type>\\ndata: {json}\\n\\n` in Anthropic's order — message_start, then per
block content_block_start, content_block_delta…, content_block_stop, then message_delta and
message_stop — and never `data: [DONE]`. A failure after the first byte is
`event: error` with `{"type":"error","error":{"type","message"}}`.

Usage: Anthropic reports `input_tokens` without the cached ones, which come apart as
`cache_read_input_tokens` / `cache_creation_input_tokens`; `Usage.input_tokens` holds all three.
Converted upstreams know the input tokens only at the end: message_start then says 0 and
message_delta carries the real numbers (message_delta's usage may hold input_tokens).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ftproxy._json import dumps
from ftproxy.convert._lenient import as_int, as_obj, as_str
from ftproxy.convert.base import Usage
from ftproxy.convert.events import (
    ANTHROPIC_STOP_REASONS,
    END_TURN,
    JSON,
    REDACTED_THINKING,
    SIGNATURE,
    TEXT,
    THINKING,
    TOOL_USE,
    Answer,
    BlockDelta,
    BlockStart,
    BlockStop,
    Collector,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamError,
    new_id,
    parse_arguments,
)
from ftproxy.wire.apis import UpstreamProtocolError
from ftproxy.wire.sse import encode_event

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_ERROR_STATUS = {v: k for k, v in _ERROR_TYPES.items()} | {"api_error": 500, "overloaded_error": 529}
_BLOCK_KINDS = {
    "text": TEXT,
    "tool_use": TOOL_USE,
    "thinking": THINKING,
    "redacted_thinking": REDACTED_THINKING,
}
_DELTA_KINDS = {
    "text_delta": (TEXT, "text"),
    "input_json_delta": (JSON, "partial_json"),
    "thinking_delta": (THINKING, "thinking"),
    "signature_delta": (SIGNATURE, "signature"),
}


def anthropic_usage(value: Any, base: Usage | None = None) -> Usage | None:
    """Usage from an Anthropic `usage` object; fields it lacks keep the values in `base`."""
    if not isinstance(value, dict):
        return base
    base = base or Usage()
    fresh = as_int(value.get("input_tokens"))
    read = as_int(value.get("cache_read_input_tokens"))
    write = as_int(value.get("cache_creation_input_tokens"))
    has_input = any(
        k in value for k in ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
    )
    return Usage(
        input_tokens=fresh + read + write if has_input else base.input_tokens,
        output_tokens=as_int(value["output_tokens"]) if "output_tokens" in value else base.output_tokens,
        cache_read_tokens=read if has_input else base.cache_read_tokens,
        cache_write_tokens=write if has_input else base.cache_write_tokens,
    )


def usage_json(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage()
    return {
        "input_tokens": max(0, usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens),
        "output_tokens": usage.output_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def error_event(status: int, message: str) -> bytes:
    kind = _ERROR_TYPES.get(status, "api_error")
    return encode_event("error", {"type": "error", "error": {"type": kind, "message": message}})


class AnthropicDecoder:
    """Anthropic stream events (or a whole message) → canonical events. Blocks of types a chat
    client cannot use (server tool results, …) are skipped and the others renumbered."""

    __slots__ = ("_index", "_next", "_usage")

    def __init__(self) -> None:
        self._index: dict[Any, int | None] = {}  # upstream index → canonical index (None: skipped)
        self._next = 0
        self._usage: Usage | None = None

    def feed(self, event: dict[str, Any]) -> list[Event]:
        kind = event.get("type")
        if kind == "content_block_delta":
            index = self._index.get(_block_index(event))
            delta = as_obj(event.get("delta"))
            spec = _DELTA_KINDS.get(as_str(delta.get("type")) or "")
            if index is None or spec is None:
                return []
            text = delta.get(spec[1])
            if not isinstance(text, str):
                raise UpstreamProtocolError(f"an Anthropic {delta.get('type')} carries no text")
            return [BlockDelta(index, spec[0], text)] if text else []
        if kind == "content_block_start":
            return self._block_start(_block_index(event), as_obj(event.get("content_block")))
        if kind == "content_block_stop":
            index = self._index.get(_block_index(event))
            return [] if index is None else [BlockStop(index)]
        if kind == "message_start":
            message = as_obj(event.get("message"))
            self._usage = anthropic_usage(message.get("usage"))
            return [
                MessageStart(
                    id=message.get("id") if isinstance(message.get("id"), str) else None, usage=self._usage
                )
            ]
        if kind == "message_delta":
            delta = as_obj(event.get("delta"))
            self._usage = anthropic_usage(event.get("usage"), self._usage)
            return [
                MessageDelta(
                    _stop_reason(delta.get("stop_reason")), as_str(delta.get("stop_sequence")), self._usage
                )
            ]
        if kind == "message_stop":
            return [MessageStop()]
        if kind == "error":
            error = as_obj(event.get("error"))
            status = _ERROR_STATUS.get(as_str(error.get("type")) or "", 502)
            return [StreamError(status, str(error.get("message") or "the upstream reported an error"))]
        return []  # ping, and event types added later

    def finish(self) -> list[Event]:
        return []

    def plain_answer(self, body: dict[str, Any]) -> Answer | None:
        return None  # no fast path: `whole` decodes every answer

    def whole(self, body: dict[str, Any]) -> list[Event]:
        content = body.get("content")
        if not isinstance(content, list):
            raise UpstreamProtocolError("the Anthropic answer has no content list")
        self._usage = anthropic_usage(body.get("usage"))
        out: list[Event] = [MessageStart(id=as_str(body.get("id")), usage=self._usage)]
        for i, block in enumerate(content):
            block = as_obj(block)
            started = self._block_start(i, {**block, "input": {}, "text": "", "thinking": ""})
            if not started:
                continue
            out.extend(started)
            index = self._next - 1
            kind = _BLOCK_KINDS.get(as_str(block.get("type")) or "", TOOL_USE)
            if kind == TOOL_USE:
                out.append(BlockDelta(index, JSON, dumps(as_obj(block.get("input"))).decode()))
            elif kind in (TEXT, THINKING):
                text = block.get(kind)
                if isinstance(text, str) and text:
                    out.append(BlockDelta(index, kind, text))
                if kind == THINKING and isinstance(block.get("signature"), str) and block["signature"]:
                    out.append(BlockDelta(index, SIGNATURE, block["signature"]))
            out.append(BlockStop(index))
        out.append(
            MessageDelta(
                _stop_reason(body.get("stop_reason")), as_str(body.get("stop_sequence")), self._usage
            )
        )
        out.append(MessageStop())
        return out

    def _block_start(self, upstream_index: Any, block: dict[str, Any]) -> list[Event]:
        canonical = _BLOCK_KINDS.get(as_str(block.get("type")) or "")
        if canonical is None:  # server_tool_use, web_search_tool_result…: run by Anthropic, not the client
            self._index[upstream_index] = None
            return []
        index = self._next
        self._next += 1
        self._index[upstream_index] = index
        out: list[Event] = [
            BlockStart(
                index,
                canonical,
                id=as_str(block.get("id")) or "",
                name=as_str(block.get("name")) or "",
                data=as_str(block.get("data")) or "",
            )
        ]
        initial = block.get(canonical) if canonical in (TEXT, THINKING) else None
        if isinstance(initial, str) and initial:
            out.append(BlockDelta(index, canonical, initial))
        return out


def _block_index(event: dict[str, Any]) -> int:
    index = event.get("index")
    if not isinstance(index, int) or isinstance(index, bool):
        raise UpstreamProtocolError(f"an Anthropic {event.get('type')} event has no block index")
    return index


def _stop_reason(value: Any) -> str:
    return value if isinstance(value, str) and value in ANTHROPIC_STOP_REASONS else END_TURN


class AnthropicEncoder:
    """Canonical events → Anthropic client SSE, or a whole Anthropic message."""

    __slots__ = ("_id", "_model", "_started")

    def __init__(self, *, model: str) -> None:
        self._id = new_id("msg_")
        self._model = model
        self._started = False

    def stream(self, event: Event) -> Iterator[bytes]:
        if isinstance(event, BlockDelta):
            if event.kind == TEXT:
                delta = {"type": "text_delta", "text": event.text}
            elif event.kind == JSON:
                delta = {"type": "input_json_delta", "partial_json": event.text}
            elif event.kind == THINKING:
                delta = {"type": "thinking_delta", "thinking": event.text}
            else:
                delta = {"type": "signature_delta", "signature": event.text}
            yield encode_event(
                "content_block_delta", {"type": "content_block_delta", "index": event.index, "delta": delta}
            )
        elif isinstance(event, BlockStart):
            if event.kind == TOOL_USE:
                block: dict[str, Any] = {"type": "tool_use", "id": event.id, "name": event.name, "input": {}}
            elif event.kind == THINKING:
                block = {"type": "thinking", "thinking": "", "signature": ""}
            elif event.kind == REDACTED_THINKING:
                block = {"type": "redacted_thinking", "data": event.data}
            else:
                block = {"type": "text", "text": ""}
            yield encode_event(
                "content_block_start",
                {"type": "content_block_start", "index": event.index, "content_block": block},
            )
        elif isinstance(event, BlockStop):
            yield encode_event("content_block_stop", {"type": "content_block_stop", "index": event.index})
        elif isinstance(event, MessageStart):
            self._started = True
            message = self._message([], None, None, event.usage)
            message["usage"]["output_tokens"] = 0
            yield encode_event("message_start", {"type": "message_start", "message": message})
        elif isinstance(event, MessageDelta):
            yield encode_event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": event.stop_reason, "stop_sequence": event.stop_sequence},
                    "usage": usage_json(event.usage),
                },
            )
        elif isinstance(event, MessageStop):
            yield encode_event("message_stop", {"type": "message_stop"})

    def stream_end(self) -> Iterator[bytes]:
        return iter(())

    def error(self, status: int, message: str) -> bytes:
        return error_event(status, message)

    def render(self, answer: Answer) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        for block in answer.blocks:
            if block.kind == TOOL_USE:
                content.append(
                    {
                        "type": "tool_use",
                        "id": block.id,
                        "name": block.name,
                        "input": parse_arguments(block.text),
                    }
                )
            elif block.kind == THINKING:
                content.append({"type": "thinking", "thinking": block.text, "signature": block.signature})
            elif block.kind == REDACTED_THINKING:
                content.append({"type": "redacted_thinking", "data": block.data})
            else:
                content.append({"type": "text", "text": block.text})
        return self._message(content, answer.stop_reason, answer.stop_sequence, answer.usage)

    def _message(
        self, content: list[dict[str, Any]], stop: str | None, sequence: str | None, usage: Usage | None
    ) -> dict[str, Any]:
        return {
            "id": self._id,
            "type": "message",
            "role": "assistant",
            "model": self._model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": sequence,
            "usage": usage_json(usage),
        }


class AnthropicPassthroughTranslator:
    """Anthropic client ← Claude on Bedrock invoke: the upstream's own events and message, passed
    on as they are (with the client's model name, without Bedrock's invocation metrics); a decoder
    follows along to know the usage and whether the answer was complete."""

    def __init__(self, *, model: str) -> None:
        self.usage: Usage | None = None
        self.content_started = False
        self._model = model
        self._decoder = AnthropicDecoder()
        self._complete = False
        self._failed = False

    def stream_events(self, event: dict[str, Any]) -> Iterator[bytes]:
        if self._failed or self._complete:
            return
        kind = event.get("type")
        if not isinstance(kind, str):
            raise UpstreamProtocolError("an Anthropic stream event has no type")
        for canonical in self._decoder.feed(event):
            if isinstance(canonical, StreamError):
                self._failed = True
                yield error_event(canonical.status, canonical.message)
                return
            if isinstance(canonical, MessageDelta | MessageStart) and canonical.usage is not None:
                self.usage = canonical.usage
            elif isinstance(canonical, MessageStop):
                self._complete = True
            elif isinstance(canonical, BlockDelta):
                self.content_started = True
        if kind == "message_start":
            message = event.get("message")
            if isinstance(message, dict):
                event = {**event, "message": {**message, "model": self._model}}
        elif kind == "message_stop":
            event = {"type": "message_stop"}
        yield encode_event(kind, event)

    def stream_end(self) -> Iterator[bytes]:
        if not self._complete and not self._failed:
            yield error_event(502, "the upstream stream ended before the answer was complete")

    def stream_error(self, status: int, message: str) -> bytes:
        self._failed = True
        return error_event(status, message)

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        collector = Collector()
        for event in AnthropicDecoder().whole(body):
            collector.add(event)
        self.usage = collector.answer.usage
        return {**body, "model": self._model}
