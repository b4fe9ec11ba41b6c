"""Vertex Gemini: `ChatRequest` → generateContent body, and Gemini answers → canonical events.

Request: the system prompt goes into `systemInstruction`; turns into `contents` (`user`/`model`)
with `text`, `inlineData` (base64 images and PDFs), `fileData` (image URLs), `functionCall` and
`functionResponse` parts. Gemini matches a function response to its call by name, so the name is
looked up from the tool_use id in the history. Tool parameter schemas are reduced to the OpenAPI
subset Gemini accepts (`gemini_schema`). `generationConfig` carries maxOutputTokens,
temperature, topP, topK, stopSequences, penalties, seed, JSON output and `thinkingConfig`.

Answer: each stream chunk (and the whole non-streamed reply, which has the same shape) carries
candidate parts; text parts (`thought: true` ones are thinking) extend the open block, each
`functionCall` is one whole tool_use block (Gemini gives no call ids: `call_<random>`). Gemini
says STOP even when it calls functions: that becomes `tool_use`. The message ends with the
chunk that has a finishReason, or with the first chunk after it that carries usage.
"""

from __future__ import annotations

import mimetypes
import re
from typing import Any

from ftproxy._json import dumps
from ftproxy.convert._lenient import as_int, as_obj
from ftproxy.convert.base import UpstreamRequest, Usage
from ftproxy.convert.canonical import ChatRequest, result_text, tool_names_by_id
from ftproxy.convert.events import (
    END_TURN,
    JSON,
    MAX_TOKENS,
    REFUSAL,
    TEXT,
    THINKING,
    TOOL_USE,
    TOOL_USE_STOP,
    Answer,
    BlockDelta,
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamError,
    new_id,
)
from ftproxy.convert.limits import EFFORT_BUDGETS, capped, gemini_cap, gemini_model_name
from ftproxy.wire.apis import StreamFormat, UpstreamProtocolError

_SCHEMA_KEYS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "items", "minItems", "maxItems",
        "properties", "required", "propertyOrdering", "minProperties", "maxProperties", "minLength",
        "maxLength", "pattern", "example", "anyOf", "minimum", "maximum", "default",
    }
)  # fmt: skip
_FINISH = {"STOP": END_TURN, "MAX_TOKENS": MAX_TOKENS}
_FILTERED = frozenset(
    {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"}
)


def build_request(request: ChatRequest, *, model: str, stream: bool) -> UpstreamRequest:
    names = tool_names_by_id(request.messages)
    body: dict[str, Any] = {
        "contents": [
            {
                "role": "model" if turn["role"] == "assistant" else "user",
                "parts": _parts(turn["content"], names),
            }
            for turn in request.messages
        ]
    }
    body["contents"] = [c for c in body["contents"] if c["parts"]]
    if request.system:
        body["systemInstruction"] = {"parts": [{"text": b["text"]} for b in request.system]}
    config: dict[str, Any] = {}
    max_tokens = capped(request.max_tokens, gemini_cap(model))
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    for key, name in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
        ("seed", "seed"),
    ):
        value = getattr(request, key)
        if value is not None:
            config[name] = value
    if request.stop:
        config["stopSequences"] = request.stop[:5]
    _response_format(request.response_format, config)
    thinking = _thinking_config(request, model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    if config:
        body["generationConfig"] = config
    if request.tools:
        body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
    if request.tool_choice is not None and (request.tools or request.tool_choice["type"] == "none"):
        choice = request.tool_choice
        mode = {"auto": "AUTO", "any": "ANY", "tool": "ANY", "none": "NONE"}[choice["type"]]
        calling: dict[str, Any] = {"mode": mode}
        if choice["type"] == "tool":
            calling["allowedFunctionNames"] = [choice["name"]]
        body["toolConfig"] = {"functionCallingConfig": calling}
    name = gemini_model_name(model)
    path = f"/models/{name}:streamGenerateContent?alt=sse" if stream else f"/models/{name}:generateContent"
    return UpstreamRequest(path=path, body=body, stream_format=StreamFormat.SSE_JSON)


def _parts(blocks: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            parts.append({"text": block["text"]})
        elif kind == "tool_use":
            parts.append({"functionCall": {"name": block["name"], "args": block.get("input") or {}}})
        elif kind == "tool_result":
            text = result_text(block)
            response = {"error": text} if block.get("is_error") else {"content": text}
            name = names.get(block["tool_use_id"], block["tool_use_id"])
            parts.append({"functionResponse": {"name": name, "response": response}})
            parts.extend(
                _media(b) for b in block.get("content") or () if b.get("type") in ("image", "document")
            )
        elif kind in ("image", "document"):
            parts.append(_media(block))
        # thinking blocks are Claude's (signed for Claude): Gemini cannot take them back
    return parts


def _media(block: dict[str, Any]) -> dict[str, Any]:
    source = block.get("source") or {}
    if source.get("type") == "text":
        return {"text": str(source.get("data") or "")}
    if source.get("type") == "url":
        url = str(source.get("url"))
        guessed = mimetypes.guess_type(url.split("?", 1)[0])[0]
        fallback = "image/jpeg" if block.get("type") == "image" else "application/pdf"
        return {"fileData": {"mimeType": guessed or fallback, "fileUri": url}}
    return {"inlineData": {"mimeType": str(source.get("media_type")), "data": str(source.get("data"))}}


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool["name"]}
    if tool.get("description"):
        declaration["description"] = tool["description"]
    schema = gemini_schema(tool["input_schema"])
    if schema.get("properties"):  # Gemini rejects an OBJECT without properties
        declaration["parameters"] = schema
    return declaration


def gemini_schema(schema: Any, defs: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """A JSON Schema reduced to what Gemini's OpenAPI-style Schema accepts: local `$ref`s inlined,
    `const` → `enum`, `oneOf` → `anyOf`, `["x", "null"]` types → `nullable`, unknown keywords
    (`$schema`, `additionalProperties`, `exclusiveMinimum`…) dropped."""
    if not isinstance(schema, dict) or depth > 12:
        return {}
    if defs is None:
        defs = {**as_obj(schema.get("definitions")), **as_obj(schema.get("$defs"))}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        return gemini_schema(target, defs, depth + 1) if isinstance(target, dict) else {"type": "object"}
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            props = {k: gemini_schema(v, defs, depth + 1) for k, v in value.items() if isinstance(k, str)}
            if props:
                out["properties"] = props
        elif key == "items":
            out["items"] = gemini_schema(value, defs, depth + 1)
        elif key in ("anyOf", "oneOf") and isinstance(value, list):
            options = [gemini_schema(v, defs, depth + 1) for v in value]
            nulls = [o for o in options if o.get("type") == "null"]
            options = [o for o in options if o.get("type") != "null"]
            if nulls:
                out["nullable"] = True
            if len(options) == 1:
                out.update(options[0])
            elif options:
                out["anyOf"] = options
        elif key == "type" and isinstance(value, list):
            types = [t for t in value if t != "null"]
            if len(types) < len(value):
                out["nullable"] = True
            if types:
                out["type"] = types[0]
        elif key == "const":
            out["enum"] = [value] if isinstance(value, str) else None
        elif key == "enum" and isinstance(value, list):
            out["enum"] = (
                [v for v in value if isinstance(v, str)] if all(isinstance(v, str) for v in value) else None
            )
        elif key in _SCHEMA_KEYS and key not in out:
            out[key] = value
    if out.get("enum") is None:
        out.pop("enum", None)
    elif "type" not in out:
        out["type"] = "string"
    if isinstance(out.get("required"), list) and "properties" in out:
        out["required"] = [r for r in out["required"] if r in out["properties"]]
    elif "required" in out:
        del out["required"]
    return out


def _response_format(value: dict[str, Any] | None, config: dict[str, Any]) -> None:
    kind = (value or {}).get("type")
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        config["responseMimeType"] = "application/json"
        schema = as_obj(as_obj((value or {}).get("json_schema")).get("schema"))
        if schema:
            config["responseSchema"] = gemini_schema(schema)


def _thinking_config(request: ChatRequest, model: str) -> dict[str, Any] | None:
    """Gemini 2.5+ thinking: a budget within the model's range (Pro 128 to 32768, others up to 24576),
    -1 for "dynamic"; models without thinking (1.x, 2.0) and efforts none/minimal get none."""
    name = gemini_model_name(model).lower()
    if re.search(r"gemini-(1\.|2\.0)", name):
        return None
    low, high = (128, 32768) if "pro" in name else (0, 24576)
    thinking = request.thinking or {}
    budget = thinking.get("budget_tokens")
    if thinking.get("type") == "enabled" and isinstance(budget, int):
        return {"thinkingBudget": max(low, min(budget, high)), "includeThoughts": True}
    if thinking.get("type") == "adaptive" and request.effort in EFFORT_BUDGETS:
        return {
            "thinkingBudget": max(low, min(EFFORT_BUDGETS[request.effort], high)),
            "includeThoughts": True,
        }
    if thinking.get("type") in ("enabled", "adaptive"):
        return {"thinkingBudget": -1, "includeThoughts": True}
    effort = request.reasoning_effort
    if effort in EFFORT_BUDGETS:
        return {"thinkingBudget": max(low, min(EFFORT_BUDGETS[effort], high)), "includeThoughts": True}
    return None


# --- answers → canonical events -----------------------------------------------------------------


def gemini_usage(value: Any) -> Usage | None:
    if not isinstance(value, dict):
        return None
    cached = as_int(value.get("cachedContentTokenCount"))
    return Usage(
        input_tokens=as_int(value.get("promptTokenCount")),
        output_tokens=as_int(value.get("candidatesTokenCount")) + as_int(value.get("thoughtsTokenCount")),
        cache_read_tokens=cached,
    )


class GeminiDecoder:
    """Gemini chunks (or a whole generateContent reply) → canonical events."""

    __slots__ = ("_done", "_kind", "_next", "_pending", "_started", "_tools", "_usage")

    def __init__(self) -> None:
        self._started = False
        self._kind: str | None = None  # kind of the open block
        self._next = 0
        self._tools = False
        self._usage: Usage | None = None
        self._pending: str | None = None  # stop reason waiting for usage
        self._done = False

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        error = chunk.get("error")
        if error is not None:
            error = as_obj(error)
            code = error.get("code")
            status = code if isinstance(code, int) and 400 <= code <= 599 else 502
            out.append(StreamError(status, str(error.get("message") or "Gemini reported an error")))
            return out
        if not self._started:
            self._started = True
            out.append(
                MessageStart(id=chunk.get("responseId") if isinstance(chunk.get("responseId"), str) else None)
            )
        usage = gemini_usage(chunk.get("usageMetadata"))
        if usage is not None:
            self._usage = usage
        candidates = chunk.get("candidates")
        candidate = as_obj(candidates[0]) if isinstance(candidates, list) and candidates else {}
        parts = as_obj(candidate.get("content")).get("parts")
        if isinstance(parts, dict):  # some deployments send a single part object
            parts = [parts]
        for part in parts if isinstance(parts, list) else ():
            self._part(as_obj(part), out)
        finish = candidate.get("finishReason")
        if not candidate and as_obj(chunk.get("promptFeedback")).get("blockReason"):
            finish = "SAFETY"
        if isinstance(finish, str) and finish:
            self._close(out)
            if finish in _FILTERED:
                reason = REFUSAL
            elif self._tools and finish == "STOP":
                reason = TOOL_USE_STOP
            else:
                reason = _FINISH.get(finish, END_TURN)
            self._pending = reason
            if usage is None:
                return out
        if self._pending is not None and usage is not None:
            self._end(out)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if self._pending is not None and not self._done:
            self._end(out)
        return out

    def plain_answer(self, body: dict[str, Any]) -> Answer | None:
        return None  # no fast path: `whole` decodes every answer

    def whole(self, body: dict[str, Any]) -> list[Event]:
        if not isinstance(body.get("candidates"), list) and not as_obj(body.get("promptFeedback")).get(
            "blockReason"
        ):
            raise UpstreamProtocolError("the Gemini answer has no candidates")
        out = self.feed(body)
        if self._pending is None and not self._done:  # a reply without finishReason is complete
            self._close(out)
            self._pending = TOOL_USE_STOP if self._tools else END_TURN
        out.extend(self.finish())
        return out

    def _end(self, out: list[Event]) -> None:
        out.append(MessageDelta(self._pending or END_TURN, None, self._usage))
        out.append(MessageStop())
        self._pending = None
        self._done = True

    def _part(self, part: dict[str, Any], out: list[Event]) -> None:
        call = part.get("functionCall")
        if isinstance(call, dict):
            self._close(out)
            call_id = (
                call.get("id") if isinstance(call.get("id"), str) and call.get("id") else new_id("call_")
            )
            out.append(BlockStart(self._next, TOOL_USE, id=call_id, name=str(call.get("name") or "")))
            out.append(BlockDelta(self._next, JSON, dumps(call.get("args") or {}).decode()))
            out.append(BlockStop(self._next))
            self._next += 1
            self._tools = True
            return
        text = part.get("text")
        if not isinstance(text, str):
            return  # inlineData, executableCode… carry nothing a chat client can show
        kind = THINKING if part.get("thought") is True else TEXT
        if self._kind != kind:
            self._close(out)
            out.append(BlockStart(self._next, kind))
            self._kind = kind
            self._next += 1
        if text:
            out.append(BlockDelta(self._next - 1, kind, text))

    def _close(self, out: list[Event]) -> None:
        if self._kind is not None:
            out.append(BlockStop(self._next - 1))
            self._kind = None
