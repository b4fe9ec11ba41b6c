"""Test helpers: one answer written in each upstream's format (streamed and whole), SSE parsing,
and the official SDKs reading what ftproxy produces (through an httpx mock transport)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx
import openai

from ftproxy import convert
from ftproxy._json import dumps
from ftproxy.convert import ClientApi, UpstreamApi

GEMINI_STOP = {"end_turn": "STOP", "tool_use": "STOP", "max_tokens": "MAX_TOKENS", "refusal": "SAFETY"}
OPENAI_STOP = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}


@dataclass
class Spec:
    """An answer: blocks ("text", text) | ("tool", id, name, args_json) | ("thinking", text, sig)."""

    blocks: list[tuple[Any, ...]] = field(default_factory=lambda: [("text", "Hello there, world!")])
    stop: str = "end_turn"
    usage: tuple[int, int] = (12, 7)
    piece: int = 4  # streamed text is cut into pieces of this many characters


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# --- Converse --------------------------------------------------------------------------------


def converse_stream(spec: Spec) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    for i, block in enumerate(spec.blocks):
        if block[0] == "text":
            for p in pieces(block[1], spec.piece):
                events.append({"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": i}})
        elif block[0] == "tool":
            start = {"toolUse": {"toolUseId": block[1], "name": block[2]}}
            events.append({"contentBlockStart": {"start": start, "contentBlockIndex": i}})
            for p in pieces(block[3], spec.piece):
                events.append(
                    {"contentBlockDelta": {"delta": {"toolUse": {"input": p}}, "contentBlockIndex": i}}
                )
        else:
            for p in pieces(block[1], spec.piece):
                delta = {"reasoningContent": {"text": p}}
                events.append({"contentBlockDelta": {"delta": delta, "contentBlockIndex": i}})
            delta = {"reasoningContent": {"signature": block[2]}}
            events.append({"contentBlockDelta": {"delta": delta, "contentBlockIndex": i}})
        events.append({"contentBlockStop": {"contentBlockIndex": i}})
    events.append({"messageStop": {"stopReason": spec.stop}})
    inp, out = spec.usage
    usage = {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out}
    events.append({"metadata": {"usage": usage, "metrics": {"latencyMs": 10}}})
    return events


def converse_whole(spec: Spec) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for block in spec.blocks:
        if block[0] == "text":
            content.append({"text": block[1]})
        elif block[0] == "tool":
            content.append(
                {"toolUse": {"toolUseId": block[1], "name": block[2], "input": json.loads(block[3])}}
            )
        else:
            content.append({"reasoningContent": {"reasoningText": {"text": block[1], "signature": block[2]}}})
    inp, out = spec.usage
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": spec.stop,
        "usage": {"inputTokens": inp, "outputTokens": out, "totalTokens": inp + out},
        "metrics": {"latencyMs": 10},
    }


# --- Anthropic (Bedrock invoke) ----------------------------------------------------------------


def anthropic_stream(spec: Spec) -> list[dict[str, Any]]:
    inp, out = spec.usage
    message = {
        "id": "msg_bdrk_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-sonnet-20240620",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": inp, "output_tokens": 1},
    }
    events: list[dict[str, Any]] = [{"type": "message_start", "message": message}]
    for i, block in enumerate(spec.blocks):
        if block[0] == "text":
            events.append(
                {"type": "content_block_start", "index": i, "content_block": {"type": "text", "text": ""}}
            )
            deltas = [{"type": "text_delta", "text": p} for p in pieces(block[1], spec.piece)]
        elif block[0] == "tool":
            start = {"type": "tool_use", "id": block[1], "name": block[2], "input": {}}
            events.append({"type": "content_block_start", "index": i, "content_block": start})
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in pieces(block[3], spec.piece)]
        else:
            start = {"type": "thinking", "thinking": "", "signature": ""}
            events.append({"type": "content_block_start", "index": i, "content_block": start})
            deltas = [{"type": "thinking_delta", "thinking": p} for p in pieces(block[1], spec.piece)]
            deltas.append({"type": "signature_delta", "signature": block[2]})
        events.extend({"type": "content_block_delta", "index": i, "delta": d} for d in deltas)
        events.append({"type": "content_block_stop", "index": i})
    delta = {"stop_reason": spec.stop, "stop_sequence": None}
    events.append({"type": "message_delta", "delta": delta, "usage": {"output_tokens": out}})
    metrics = {"inputTokenCount": inp, "outputTokenCount": out, "invocationLatency": 5, "firstByteLatency": 1}
    events.append({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics})
    return events


def anthropic_whole(spec: Spec) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for block in spec.blocks:
        if block[0] == "text":
            content.append({"type": "text", "text": block[1]})
        elif block[0] == "tool":
            content.append(
                {"type": "tool_use", "id": block[1], "name": block[2], "input": json.loads(block[3])}
            )
        else:
            content.append({"type": "thinking", "thinking": block[1], "signature": block[2]})
    inp, out = spec.usage
    return {
        "id": "msg_bdrk_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-3-5-sonnet-20240620",
        "content": content,
        "stop_reason": spec.stop,
        "stop_sequence": None,
        "usage": {"input_tokens": inp, "output_tokens": out},
    }


# --- Gemini ------------------------------------------------------------------------------------


def _gemini_parts(spec: Spec, *, streamed: bool) -> list[list[dict[str, Any]]]:
    chunks: list[list[dict[str, Any]]] = []
    for block in spec.blocks:
        if block[0] == "tool":
            chunks.append([{"functionCall": {"name": block[2], "args": json.loads(block[3])}}])
            continue
        thought = {"thought": True} if block[0] == "thinking" else {}
        texts = pieces(block[1], spec.piece) if streamed else [block[1]]
        chunks.extend([{"text": t, **thought}] for t in texts)
    return chunks


def _gemini_usage(spec: Spec) -> dict[str, Any]:
    inp, out = spec.usage
    return {"promptTokenCount": inp, "candidatesTokenCount": out, "totalTokenCount": inp + out}


def gemini_stream(spec: Spec) -> list[dict[str, Any]]:
    chunks = [
        {"candidates": [{"content": {"role": "model", "parts": parts}}], "modelVersion": "gemini-2.5-pro"}
        for parts in _gemini_parts(spec, streamed=True)
    ]
    last = {"content": {"role": "model", "parts": []}, "finishReason": GEMINI_STOP[spec.stop]}
    chunks.append(
        {"candidates": [last], "usageMetadata": _gemini_usage(spec), "modelVersion": "gemini-2.5-pro"}
    )
    return chunks


def gemini_whole(spec: Spec) -> dict[str, Any]:
    parts = [p for chunk in _gemini_parts(spec, streamed=False) for p in chunk]
    candidate = {"content": {"role": "model", "parts": parts}, "finishReason": GEMINI_STOP[spec.stop]}
    return {"candidates": [candidate], "usageMetadata": _gemini_usage(spec), "modelVersion": "gemini-2.5-pro"}


# --- OpenAI (Azure) ----------------------------------------------------------------------------


def openai_stream(spec: Spec) -> list[dict[str, Any]]:
    head = {"id": "chatcmpl-azure", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    chunks: list[dict[str, Any]] = [{"id": "", "object": "", "created": 0, "model": "", "choices": []}]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    chunks.append(chunk({"role": "assistant", "content": ""}))
    tool_index = 0
    for block in spec.blocks:
        if block[0] == "text":
            chunks.extend(chunk({"content": p}) for p in pieces(block[1], spec.piece))
        elif block[0] == "tool":
            first = {"index": tool_index, "id": block[1], "type": "function"}
            chunks.append(chunk({"tool_calls": [{**first, "function": {"name": block[2], "arguments": ""}}]}))
            for p in pieces(block[3], spec.piece):
                chunks.append(chunk({"tool_calls": [{"index": tool_index, "function": {"arguments": p}}]}))
            tool_index += 1
        else:
            chunks.extend(chunk({"reasoning_content": p}) for p in pieces(block[1], spec.piece))
    chunks.append(chunk({}, OPENAI_STOP[spec.stop]))
    inp, out = spec.usage
    chunks.append(
        {
            **head,
            "choices": [],
            "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out},
        }
    )
    return chunks


def openai_whole(spec: Spec) -> dict[str, Any]:
    text = "".join(b[1] for b in spec.blocks if b[0] == "text")
    calls = [
        {"id": b[1], "type": "function", "function": {"name": b[2], "arguments": b[3]}}
        for b in spec.blocks
        if b[0] == "tool"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    thinking = "".join(b[1] for b in spec.blocks if b[0] == "thinking")
    if thinking:
        message["reasoning_content"] = thinking
    inp, out = spec.usage
    return {
        "id": "chatcmpl-azure",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [{"index": 0, "message": message, "finish_reason": OPENAI_STOP[spec.stop]}],
        "usage": {"prompt_tokens": inp, "completion_tokens": out, "total_tokens": inp + out},
    }


# --- SAP Orchestration Service: the OpenAI answer inside its envelope ----------------------------

_MODULES = {"templating": [{"role": "user", "content": "hi"}], "input_masking": {"message": "masked"}}


def _orchestration_reasoning(part: dict[str, Any], spec: Spec) -> dict[str, Any]:
    """Orchestration's reasoning is a list of {content, signature} blocks, not OpenAI's text."""
    text = part.get("reasoning_content")
    if not isinstance(text, str):
        return part
    signature = next((b[2] for b in spec.blocks if b[0] == "thinking"), "")
    return {**part, "reasoning_content": [{"content": text, "signature": signature}]}


def orchestration_stream(spec: Spec) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"request_id": "req-1", "intermediate_results": _MODULES}]
    for chunk in openai_stream(spec)[1:]:  # the first is Azure's filter preamble
        if chunk["choices"]:
            choice = chunk["choices"][0]
            chunk = {
                **chunk,
                "choices": [{**choice, "delta": _orchestration_reasoning(choice["delta"], spec)}],
            }
        events.append({"request_id": "req-1", "intermediate_results": {}, "final_result": chunk})
    return events


def orchestration_whole(spec: Spec) -> dict[str, Any]:
    final = openai_whole(spec)
    choice = final["choices"][0]
    final["choices"] = [{**choice, "message": _orchestration_reasoning(choice["message"], spec)}]
    return {"request_id": "req-1", "intermediate_results": {**_MODULES, "llm": final}, "final_result": final}


UPSTREAM_FAKES: dict[
    UpstreamApi, tuple[Callable[[Spec], list[dict[str, Any]]], Callable[[Spec], dict[str, Any]]]
] = {
    UpstreamApi.BEDROCK_CONVERSE: (converse_stream, converse_whole),
    UpstreamApi.BEDROCK_INVOKE: (anthropic_stream, anthropic_whole),
    UpstreamApi.VERTEX_GEMINI: (gemini_stream, gemini_whole),
    UpstreamApi.AZURE_OPENAI_CHAT: (openai_stream, openai_whole),
    UpstreamApi.OPENAI_COMPATIBLE_CHAT: (openai_stream, openai_whole),
    UpstreamApi.ORCHESTRATION: (orchestration_stream, orchestration_whole),
}
UPSTREAM_MODELS = {
    UpstreamApi.BEDROCK_CONVERSE: "anthropic--claude-4.5-sonnet",
    UpstreamApi.BEDROCK_INVOKE: "anthropic--claude-3.5-sonnet",
    UpstreamApi.VERTEX_GEMINI: "gemini-2.5-pro",
    UpstreamApi.AZURE_OPENAI_CHAT: "gpt-4o",
    UpstreamApi.OPENAI_COMPATIBLE_CHAT: "mistralai--mistral-medium-instruct",
    UpstreamApi.ORCHESTRATION: "mistralai--mistral-large-instruct",
}
CLIENT_BODIES: dict[ClientApi, dict[str, Any]] = {
    ClientApi.OPENAI_CHAT: {"model": "my-model", "messages": [{"role": "user", "content": "hi"}]},
    ClientApi.ANTHROPIC_MESSAGES: {
        "model": "my-model",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    },
    ClientApi.OPENAI_RESPONSES: {"model": "my-model", "input": "hi"},
}


def run_stream(
    client: ClientApi, upstream: UpstreamApi, spec: Spec, body: dict[str, Any] | None = None
) -> bytes:
    body = dict(body or CLIENT_BODIES[client], stream=True)
    translator = convert.translator(client, upstream, model=UPSTREAM_MODELS[upstream], body=body)
    out = b""
    for event in UPSTREAM_FAKES[upstream][0](spec):
        out += b"".join(translator.stream_events(event))
    out += b"".join(translator.stream_end())
    return out


def run_whole(
    client: ClientApi, upstream: UpstreamApi, spec: Spec, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    body = body or CLIENT_BODIES[client]
    translator = convert.translator(client, upstream, model=UPSTREAM_MODELS[upstream], body=body)
    result = translator.complete(UPSTREAM_FAKES[upstream][1](spec))
    return json.loads(dumps(result))  # what goes on the wire


# --- reading what we produce --------------------------------------------------------------------


def parse_sse(data: bytes) -> list[tuple[str | None, str]]:
    """(event name, data) of each SSE event; comments skipped."""
    events = []
    for raw in data.decode().split("\n\n"):
        if not raw.strip():
            continue
        name, lines = None, []
        for line in raw.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                lines.append(line[6:])
        if lines:
            events.append((name, "\n".join(lines)))
    return events


def _transport(payload: bytes, content_type: str, http: Any = httpx) -> Any:
    def handler(request: Any) -> Any:
        return http.Response(200, headers={"content-type": content_type}, content=payload)

    return http.Client(transport=http.MockTransport(handler))


def _anthropic_http() -> Any:
    """The httpx flavour this anthropic SDK wants (newer ones use the `httpx2` fork)."""
    source = anthropic._base_client.__dict__.get("_reject_httpx_object")
    if source is None:
        return httpx
    import httpx2  # type: ignore[import-not-found]

    return httpx2


def sdk_anthropic_stream(payload: bytes) -> anthropic.types.Message:
    client = anthropic.Anthropic(
        api_key="k",
        base_url="http://ftproxy.test",
        http_client=_transport(payload, "text/event-stream", _anthropic_http()),
        max_retries=0,
    )
    with client.messages.stream(
        model="m", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        for _ in stream:
            pass
        return stream.get_final_message()


def sdk_openai(payload: bytes, content_type: str = "text/event-stream") -> openai.OpenAI:
    return openai.OpenAI(
        api_key="k",
        base_url="http://ftproxy.test/v1",
        http_client=_transport(payload, content_type),
        max_retries=0,
    )


def sdk_chat_stream(payload: bytes) -> openai.types.chat.ParsedChatCompletion[Any]:
    messages: Any = [{"role": "user", "content": "hi"}]
    with sdk_openai(payload).chat.completions.stream(model="m", messages=messages) as stream:
        for _ in stream:
            pass
        try:
            return stream.get_final_completion()
        except openai.LengthFinishReasonError as exc:  # the SDK's way of saying finish_reason=length
            return exc.completion  # type: ignore[return-value]


def sdk_chat_chunks(payload: bytes) -> Iterator[openai.types.chat.ChatCompletionChunk]:
    messages: Any = [{"role": "user", "content": "hi"}]
    yield from sdk_openai(payload).chat.completions.create(model="m", messages=messages, stream=True)


def sdk_responses_stream(payload: bytes) -> openai.types.responses.Response:
    with sdk_openai(payload).responses.stream(model="m", input="hi") as stream:
        for _ in stream:
            pass
        return stream.get_final_response()
