"""Bedrock Converse (Claude): `ChatRequest` → Converse body, and Converse answers → canonical events.

Request: the system prompt goes into `system`, turns into `messages` with `text`, `image`,
`document`, `toolUse`, `toolResult` and `reasoningContent` blocks; `inferenceConfig` carries
maxTokens/temperature/topP/stopSequences; Claude-only fields (`top_k`, `thinking`,
`anthropic_beta`) go into `additionalModelRequestFields`; Anthropic `cache_control` marks become
Converse `cachePoint` blocks. Converse rejects a conversation with toolUse/toolResult blocks
unless `toolConfig` is present, so when the client sent none (or `tool_choice: none`) a minimal
spec is declared for each tool the history uses.

Answer: stream events (`messageStart`, `contentBlockStart`, `contentBlockDelta`,
`contentBlockStop`, `messageStop`, `metadata`, or an exception) and the whole `/converse` reply
decode into the same canonical events. The stop reason arrives in `messageStop` and the usage
in the `metadata` event after it; the message ends with `metadata` (or with the stream, if a
deployment leaves `metadata` out).
"""

from __future__ import annotations

import base64
from typing import Any

from ftproxy._json import dumps
from ftproxy.convert._lenient import as_int, as_obj
from ftproxy.convert.base import ClientRequestError, UpstreamRequest, Usage
from ftproxy.convert.canonical import ChatRequest, claude_tool_id
from ftproxy.convert.claude_invoke import claude_sampling, claude_thinking
from ftproxy.convert.events import (
    JSON,
    REDACTED_THINKING,
    REFUSAL,
    SIGNATURE,
    TEXT,
    THINKING,
    TOOL_USE,
    Answer,
    BlockDelta,
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamError,
    text_answer,
)
from ftproxy.wire.apis import StreamFormat, UpstreamProtocolError

_IMAGE_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/gif": "gif"}
_IMAGE_FORMATS["image/webp"] = "webp"
_DOC_FORMATS = {"application/pdf": "pdf", "text/plain": "txt", "text/csv": "csv", "text/html": "html"}
_DOC_FORMATS["text/markdown"] = "md"
_CACHE_POINT = {"cachePoint": {"type": "default"}}
_AUTO = {"type": "auto"}  # read only
_STOP_REASONS = {"guardrail_intervened": REFUSAL, "content_filtered": REFUSAL}
_EXCEPTION_STATUS = {
    "throttlingException": 429,
    "validationException": 400,
    "serviceUnavailableException": 503,
    "modelStreamErrorException": 502,
    "modelTimeoutException": 504,
    "internalServerException": 500,
}


def build_request(request: ChatRequest, *, model: str, stream: bool) -> UpstreamRequest:
    thinking, max_tokens = claude_thinking(request, model)
    # Tool ids are made Bedrock's (`claude_tool_id`) in `_block`, as `claude_messages` would, without
    # copying every turn for it.
    body: dict[str, Any] = {"messages": [_message(turn, i) for i, turn in enumerate(request.messages)]}
    if request.system:
        system: list[dict[str, Any]] = []
        for block in request.system:
            system.append({"text": block["text"]})
            if block.get("cache_control"):
                system.append(_CACHE_POINT)
        body["system"] = system
    sampling = claude_sampling(request, thinking)
    config: dict[str, Any] = {"maxTokens": max_tokens}
    if "temperature" in sampling:
        config["temperature"] = sampling["temperature"]
    if "top_p" in sampling:
        config["topP"] = sampling["top_p"]
    if request.stop:
        config["stopSequences"] = request.stop
    body["inferenceConfig"] = config
    extra: dict[str, Any] = {}
    if "top_k" in sampling:
        extra["top_k"] = sampling["top_k"]
    if thinking is not None:
        extra["thinking"] = thinking
    if request.betas:
        extra["anthropic_beta"] = request.betas
    if extra:
        body["additionalModelRequestFields"] = extra
    tool_config = _tool_config(request, body["messages"])
    if tool_config:
        body["toolConfig"] = tool_config
    path = "/converse-stream" if stream else "/converse"
    stream_format = StreamFormat.SSE_JSON_OR_PYTHON if stream else StreamFormat.SSE_JSON
    return UpstreamRequest(path, body, stream_format)


def _message(turn: dict[str, Any], index: int) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for j, block in enumerate(turn["content"]):
        # text, by far the commonest block, without the call
        converted = {"text": block["text"]} if block.get("type") == "text" else _block(block, index, j)
        if converted is not None:
            content.append(converted)
            if block.get("cache_control"):
                content.append(_CACHE_POINT)
    return {"role": turn["role"], "content": content}


def _block(block: dict[str, Any], index: int, j: int) -> dict[str, Any] | None:
    """The Converse block of a canonical one; (index, j) name it in an error (`_media`)."""
    kind = block.get("type")
    if kind == "text":
        return {"text": block["text"]}
    if kind == "tool_use":
        return {
            "toolUse": {
                "toolUseId": claude_tool_id(block["id"]),
                "name": block["name"],
                "input": block.get("input") or {},
            }
        }
    if kind == "tool_result":
        inner = [_block(b, index, j) for b in block.get("content") or ()]
        result: dict[str, Any] = {
            "toolUseId": claude_tool_id(block["tool_use_id"]),
            "content": [b for b in inner if b is not None] or [{"text": "(no output)"}],
        }
        if block.get("is_error"):
            result["status"] = "error"
        return {"toolResult": result}
    if kind == "thinking":
        text: dict[str, Any] = {"text": block["thinking"]}
        if block.get("signature"):
            text["signature"] = block["signature"]
        return {"reasoningContent": {"reasoningText": text}}
    if kind == "redacted_thinking":
        return {"reasoningContent": {"redactedContent": block["data"]}}
    if kind in ("image", "document"):
        return _media(block, kind, f"messages[{index}].content[{j}]")
    return None


def _media(block: dict[str, Any], kind: str, param: str) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "url":
        raise ClientRequestError(f"this model takes {kind}s as base64 data, not URLs", param)
    media_type = str(source.get("media_type") or "").lower()
    data = str(source.get("data") or "")
    if source.get("type") == "text":
        media_type, data = "text/plain", base64.b64encode(data.encode()).decode()
    if kind == "image":
        image_format = _IMAGE_FORMATS.get(media_type)
        if image_format is None:
            raise ClientRequestError(
                f"image type '{media_type}' is not supported (png, jpeg, gif, webp)", param
            )
        return {"image": {"format": image_format, "source": {"bytes": data}}}
    doc_format = _DOC_FORMATS.get(media_type)
    if doc_format is None:
        raise ClientRequestError(f"document type '{media_type}' is not supported", param)
    # Converse requires a name: letters, digits, spaces, hyphens, parentheses, brackets.
    name = "".join(c for c in str(block.get("title") or "document") if c.isalnum() or c in " -()[]")
    return {"document": {"format": doc_format, "name": name.strip() or "document", "source": {"bytes": data}}}


def _tool_config(request: ChatRequest, messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    choice = request.tool_choice or _AUTO
    specs = [] if choice["type"] == "none" else request.tools
    used: set[str] = set()
    has_results = False
    for message in messages:  # one pass over the blocks: most conversations have no tool at all
        for b in message["content"]:
            if "toolUse" in b:
                used.add(b["toolUse"]["name"])
            elif "toolResult" in b:
                has_results = True
    if not specs and not used and not has_results:
        return None
    tools: list[dict[str, Any]] = []
    for tool in specs:
        spec: dict[str, Any] = {"name": tool["name"], "inputSchema": {"json": tool["input_schema"]}}
        if tool.get("description"):
            spec["description"] = tool["description"]
        tools.append({"toolSpec": spec})
        if tool.get("cache_control"):
            tools.append(_CACHE_POINT)
    declared = {t["name"] for t in specs}
    for name in sorted(used - declared):
        tools.append({"toolSpec": {"name": name, "inputSchema": {"json": {"type": "object"}}}})
    if not tools:  # only tool results whose calls are gone: declare a placeholder
        tools.append({"toolSpec": {"name": "unused_tool", "inputSchema": {"json": {"type": "object"}}}})
    config: dict[str, Any] = {"tools": tools}
    if specs and choice["type"] == "any":
        config["toolChoice"] = {"any": {}}
    elif specs and choice["type"] == "tool":
        config["toolChoice"] = {"tool": {"name": choice["name"]}}
    return config


# --- answers → canonical events -----------------------------------------------------------------


def converse_usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    fresh, output = value.get("inputTokens"), value.get("outputTokens")
    # the common answer: two plain counts (`type` is exact: no bool), no prompt cache
    cached = "cacheReadInputTokens" in value or "cacheWriteInputTokens" in value
    if type(fresh) is int and type(output) is int and not cached:
        return Usage(fresh, output)
    read = as_int(value.get("cacheReadInputTokens"))
    write = as_int(value.get("cacheWriteInputTokens"))
    # positional: a keyword call costs more than the dataclass's whole __init__
    return Usage(
        as_int(value.get("inputTokens")) + read + write, as_int(value.get("outputTokens")), read, write
    )


def _stop_reason(value: Any) -> str:
    if not isinstance(value, str):
        return "end_turn"
    return _STOP_REASONS.get(value, value)


class ConverseDecoder:
    """Converse stream events (or a whole `/converse` reply) → canonical events."""

    __slots__ = ("_kind", "_next", "_open", "_started", "_stop")

    def __init__(self) -> None:
        self._open: Any = None  # upstream index of the open block
        self._kind = ""
        self._next = 0  # next canonical index
        self._started = False
        self._stop: tuple[str, str | None] | None = None

    def feed(self, event: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        if "contentBlockDelta" in event:
            self._start(out)
            self._delta(as_obj(event["contentBlockDelta"]), out)
        elif "contentBlockStart" in event:
            self._start(out)
            body = as_obj(event["contentBlockStart"])
            tool = as_obj(as_obj(body.get("start")).get("toolUse"))
            if tool:
                self._open_block(body.get("contentBlockIndex"), TOOL_USE, out, tool=tool)
        elif "contentBlockStop" in event:
            self._close(out)
        elif "messageStart" in event:
            self._start(out)
        elif "messageStop" in event:
            body = as_obj(event["messageStop"])
            self._start(out)
            self._close(out)
            self._stop = (_stop_reason(body.get("stopReason")), _stop_sequence(body))
        elif "metadata" in event:
            if self._stop is not None:
                reason, sequence = self._stop
                out.append(
                    MessageDelta(reason, sequence, converse_usage(as_obj(event["metadata"]).get("usage")))
                )
                out.append(MessageStop())
                self._stop = None
        else:
            for key, value in event.items():
                if isinstance(key, str) and key.endswith("Exception"):
                    message = as_obj(value).get("message") or key
                    out.append(StreamError(_EXCEPTION_STATUS.get(key, 502), f"{key}: {message}"))
                    break
        return out

    def finish(self) -> list[Event]:
        if self._stop is None:
            return []
        reason, sequence = self._stop
        self._stop = None
        return [MessageDelta(reason, sequence, None), MessageStop()]

    def plain_answer(self, body: dict[str, Any]) -> Answer | None:
        """`whole(body)`'s answer when every content block is a text block alone (`{"text": str}`),
        read as `whole` reads it."""
        content = as_obj(as_obj(body.get("output")).get("message")).get("content")
        if type(content) is not list:
            return None
        texts: list[str] = []
        for block in content:
            if type(block) is not dict or len(block) != 1 or type(text := block.get("text")) is not str:
                return None
            texts.append(text)
        return text_answer(
            None,
            texts,
            _stop_reason(body.get("stopReason")),
            _stop_sequence(body),
            converse_usage(body.get("usage")),
        )

    def whole(self, body: dict[str, Any]) -> list[Event]:
        content = as_obj(as_obj(body.get("output")).get("message")).get("content")
        if not isinstance(content, list):
            raise UpstreamProtocolError("the Converse answer has no output.message.content")
        out: list[Event] = []
        self._start(out)
        for i, block in enumerate(content):
            block = as_obj(block)
            if "toolUse" in block:
                tool = as_obj(block["toolUse"])
                self._open_block(i, TOOL_USE, out, tool=tool)
                out.append(BlockDelta(self._next - 1, JSON, dumps(tool.get("input") or {}).decode()))
            elif "reasoningContent" in block:
                reasoning = as_obj(block["reasoningContent"])
                if "redactedContent" in reasoning:
                    self._redacted(i, reasoning["redactedContent"], out)
                else:
                    text = as_obj(reasoning.get("reasoningText"))
                    self._delta(
                        {"contentBlockIndex": i, "delta": {"reasoningContent": {"text": text.get("text")}}},
                        out,
                    )
                    if isinstance(text.get("signature"), str):
                        out.append(BlockDelta(self._next - 1, SIGNATURE, text["signature"]))
            elif isinstance(plain := block.get("text"), str):
                # what `_delta` does with this text as a delta, without building the delta
                if self._open is not None:  # never: each block is closed below
                    self._close(out)
                self._open, self._kind = i, TEXT
                out.append(BlockStart(self._next, TEXT))
                self._next += 1
                if plain:
                    out.append(BlockDelta(self._next - 1, TEXT, plain))
            self._close(out)
        out.append(
            MessageDelta(
                _stop_reason(body.get("stopReason")), _stop_sequence(body), converse_usage(body.get("usage"))
            )
        )
        out.append(MessageStop())
        return out

    def _start(self, out: list[Event]) -> None:
        if not self._started:
            self._started = True
            out.append(MessageStart())

    def _open_block(
        self, index: Any, kind: str, out: list[Event], *, tool: Any = None, data: str = ""
    ) -> None:
        self._close(out)
        self._open, self._kind = index, kind
        if tool is None:  # a text or thinking block
            out.append(BlockStart(self._next, kind, "", "", data))
        else:
            tool = as_obj(tool)
            out.append(
                BlockStart(
                    self._next, kind, str(tool.get("toolUseId") or ""), str(tool.get("name") or ""), data
                )
            )
        self._next += 1

    def _close(self, out: list[Event]) -> None:
        if self._open is not None:
            out.append(BlockStop(self._next - 1))
            self._open = None

    def _redacted(self, index: Any, data: Any, out: list[Event]) -> None:
        if isinstance(data, bytes | bytearray):
            data = base64.b64encode(data).decode()
        self._open_block(index, REDACTED_THINKING, out, data=str(data))

    def _delta(self, body: dict[str, Any], out: list[Event]) -> None:
        index = body.get("contentBlockIndex")
        delta = as_obj(body.get("delta"))
        if "text" in delta:
            kind, block_kind, text = TEXT, TEXT, delta["text"]
        elif "toolUse" in delta:
            kind, block_kind, text = JSON, TOOL_USE, as_obj(delta["toolUse"]).get("input")
        elif "reasoningContent" in delta:
            reasoning = as_obj(delta["reasoningContent"])
            if "redactedContent" in reasoning:
                self._redacted(index, reasoning["redactedContent"], out)
                return
            if "signature" in reasoning:
                kind, block_kind, text = SIGNATURE, THINKING, reasoning["signature"]
            else:
                kind, block_kind, text = THINKING, THINKING, reasoning.get("text")
        else:
            return
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise UpstreamProtocolError("a Converse content delta is not text")
        if self._open is None or self._open != index or self._kind != block_kind:
            if kind == JSON:
                raise UpstreamProtocolError("a Converse toolUse delta arrived outside a toolUse block")
            self._open_block(index, block_kind, out)
        if text:
            out.append(BlockDelta(self._next - 1, kind, text))


def _stop_sequence(body: dict[str, Any]) -> str | None:
    fields = body.get("additionalModelResponseFields")
    if fields is None:  # the common answer
        return None
    sequence = as_obj(fields).get("stop_sequence")
    return sequence if isinstance(sequence, str) else None
