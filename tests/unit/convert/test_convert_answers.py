"""Every client and every upstream: the streamed and the whole answer, read back by the official
SDKs, carry the same text, tool calls, stop reason and usage."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from convert_fakes import (
    Spec,
    parse_sse,
    run_stream,
    run_whole,
    sdk_anthropic_stream,
    sdk_chat_chunks,
    sdk_chat_stream,
    sdk_responses_stream,
)

from ftproxy.convert import ClientApi, UpstreamApi

SPECS = [
    ("text", Spec()),
    ("unicode text", Spec(blocks=[("text", 'Grüße — 你好 🌍 "quoted"\nnew line')], piece=3)),
    (
        "tool call",
        Spec(
            blocks=[("text", "Let me look."), ("tool", "toolu_01", "get_weather", '{"city": "Paris"}')],
            stop="tool_use",
        ),
    ),
    (
        "parallel tool calls",
        Spec(
            blocks=[
                ("tool", "call_a", "f", '{"x": 1}'),
                ("tool", "call_b", "g", '{"y": [1, 2, {"z": "w"}]}'),
            ],
            stop="tool_use",
            usage=(100, 30),
        ),
    ),
    ("tool without arguments", Spec(blocks=[("tool", "call_c", "now", "{}")], stop="tool_use")),
    ("thinking then text", Spec(blocks=[("thinking", "Let me think about it.", "sig123"), ("text", "42")])),
    ("max tokens", Spec(blocks=[("text", "This answer was cut")], stop="max_tokens", usage=(5, 5))),
]
UPSTREAMS = list(UpstreamApi)
OPENAI_FINISH = {"end_turn": "stop", "tool_use": "tool_calls", "max_tokens": "length"}


def _expected_text(spec: Spec) -> str:
    return "".join(b[1] for b in spec.blocks if b[0] == "text")


def _expected_tools(spec: Spec) -> list[tuple[str, dict[str, Any]]]:
    return [(b[2], json.loads(b[3])) for b in spec.blocks if b[0] == "tool"]


def _keeps_ids(upstream: UpstreamApi) -> bool:
    return upstream is not UpstreamApi.VERTEX_GEMINI  # Gemini gives calls no ids: ftproxy makes them


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[s[0] for s in SPECS])
def test_openai_chat_client(upstream: UpstreamApi, name: str, spec: Spec) -> None:
    # the passthrough keeps the upstream's id and model
    passthrough = upstream in (UpstreamApi.AZURE_OPENAI_CHAT, UpstreamApi.OPENAI_COMPATIBLE_CHAT)
    body = {
        "model": "my-model",
        "messages": [{"role": "user", "content": "hi"}],
        "stream_options": {"include_usage": True},
    }
    streamed_bytes = run_stream(ClientApi.OPENAI_CHAT, upstream, spec, body)
    whole = run_whole(ClientApi.OPENAI_CHAT, upstream, spec, body)
    # the whole answer is a valid chat.completion
    completion = openai.types.chat.ChatCompletion.model_validate(whole)
    assert completion.model == ("gpt-4o" if passthrough else "my-model") and completion.id.startswith(
        "chatcmpl-"
    )
    # the stream: one id, role first, exactly one [DONE] at the very end, usage chunk before it
    events = parse_sse(streamed_bytes)
    assert [d for _, d in events].count("[DONE]") == 1 and events[-1][1] == "[DONE]"
    chunks = [json.loads(d) for _, d in events[:-1]]
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["prompt_tokens"] == spec.usage[0]
    assert all(c["model"] == ("gpt-4o" if passthrough else "my-model") for c in chunks)
    streamed = sdk_chat_stream(streamed_bytes)
    for result in (completion, streamed):
        message = result.choices[0].message
        assert (message.content or "") == _expected_text(spec)
        calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
        assert calls == _expected_tools(spec)
        assert result.choices[0].finish_reason == OPENAI_FINISH[spec.stop]
        assert result.usage is not None
        assert (result.usage.prompt_tokens, result.usage.completion_tokens) == spec.usage
        assert result.usage.total_tokens == sum(spec.usage)
    if _keeps_ids(upstream):
        ids = [b[1] for b in spec.blocks if b[0] == "tool"]
        assert [c.id for c in completion.choices[0].message.tool_calls or []] == ids
        assert [c.id for c in streamed.choices[0].message.tool_calls or []] == ids


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[s[0] for s in SPECS])
def test_anthropic_client(upstream: UpstreamApi, name: str, spec: Spec) -> None:
    streamed_bytes = run_stream(ClientApi.ANTHROPIC_MESSAGES, upstream, spec)
    whole = anthropic.types.Message.model_validate(run_whole(ClientApi.ANTHROPIC_MESSAGES, upstream, spec))
    events = parse_sse(streamed_bytes)
    names = [n for n, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert "[DONE]" not in streamed_bytes.decode()
    for name_, data in events:
        assert json.loads(data)["type"] == name_
    streamed = sdk_anthropic_stream(streamed_bytes)
    for message in (whole, streamed):
        assert message.model == "my-model"
        text = "".join(b.text for b in message.content if b.type == "text")
        assert text == _expected_text(spec)
        tools = [(b.name, b.input) for b in message.content if b.type == "tool_use"]
        assert tools == _expected_tools(spec)
        assert message.stop_reason == spec.stop
        assert (message.usage.input_tokens, message.usage.output_tokens) == spec.usage
        thinking = [b.thinking for b in message.content if b.type == "thinking"]
        expected = [b[1] for b in spec.blocks if b[0] == "thinking"]
        assert thinking == expected
    if upstream in (UpstreamApi.BEDROCK_CONVERSE, UpstreamApi.BEDROCK_INVOKE):
        signatures = [b.signature for b in streamed.content if b.type == "thinking"]
        assert signatures == [b[2] for b in spec.blocks if b[0] == "thinking"]
    if _keeps_ids(upstream):
        ids = [b[1] for b in spec.blocks if b[0] == "tool"]
        assert [b.id for b in whole.content if b.type == "tool_use"] == ids


@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize(("name", "spec"), SPECS, ids=[s[0] for s in SPECS])
def test_responses_client(upstream: UpstreamApi, name: str, spec: Spec) -> None:
    streamed_bytes = run_stream(ClientApi.OPENAI_RESPONSES, upstream, spec)
    whole_json = run_whole(ClientApi.OPENAI_RESPONSES, upstream, spec)
    whole = openai.types.responses.Response.model_validate(whole_json)
    events = parse_sse(streamed_bytes)
    payloads = [json.loads(d) for _, d in events]
    assert [p["sequence_number"] for p in payloads] == list(range(len(payloads)))
    assert all(name_ == p["type"] for (name_, _), p in zip(events, payloads, strict=True))
    assert payloads[0]["type"] == "response.created" and payloads[1]["type"] == "response.in_progress"
    final = "response.completed" if spec.stop != "max_tokens" else "response.incomplete"
    assert payloads[-1]["type"] == final
    streamed = sdk_responses_stream(streamed_bytes) if final == "response.completed" else None
    final_response = openai.types.responses.Response.model_validate(payloads[-1]["response"])
    for response in (whole, final_response, streamed):
        if response is None:
            continue
        assert response.output_text == _expected_text(spec)
        calls = [(o.name, json.loads(o.arguments)) for o in response.output if o.type == "function_call"]
        assert calls == _expected_tools(spec)
        assert response.usage is not None
        assert (response.usage.input_tokens, response.usage.output_tokens) == spec.usage
        assert response.status == ("completed" if spec.stop != "max_tokens" else "incomplete")
    if spec.stop == "max_tokens":
        assert whole.incomplete_details is not None and whole.incomplete_details.reason == "max_output_tokens"
    # streamed final object and whole object agree except for ids and timestamps
    strip = _strip_ids(payloads[-1]["response"]), _strip_ids(whole_json)
    assert strip[0] == strip[1]


def _strip_ids(value: Any) -> Any:
    """Without ids and timestamps, and with arguments parsed (a streamed call keeps the model's
    own JSON spacing, a whole one is re-serialized)."""
    if isinstance(value, dict):
        return {
            k: json.loads(v) if k == "arguments" else _strip_ids(v)
            for k, v in value.items()
            if k not in ("id", "created_at", "call_id")
        }
    if isinstance(value, list):
        return [_strip_ids(v) for v in value]
    return value


def test_openai_chunks_without_include_usage_have_no_usage_chunk() -> None:
    spec = Spec()
    out = run_stream(ClientApi.OPENAI_CHAT, UpstreamApi.BEDROCK_CONVERSE, spec)
    chunks = list(sdk_chat_chunks(out))
    assert all(c.choices for c in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_tool_call_chunks_carry_id_and_name_first_then_fragments() -> None:
    spec = Spec(
        blocks=[("tool", "toolu_9", "search", '{"query": "long query text"}')], stop="tool_use", piece=5
    )
    out = run_stream(ClientApi.OPENAI_CHAT, UpstreamApi.BEDROCK_INVOKE, spec)
    deltas = [
        json.loads(d)["choices"][0]["delta"] for _, d in parse_sse(out)[:-1] if json.loads(d)["choices"]
    ]
    calls = [d["tool_calls"][0] for d in deltas if "tool_calls" in d]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_9",
        "type": "function",
        "function": {"name": "search", "arguments": ""},
    }
    assert all(set(c) == {"index", "function"} and set(c["function"]) == {"arguments"} for c in calls[1:])
    assert "".join(c["function"]["arguments"] for c in calls) == '{"query": "long query text"}'
    assert len(calls) > 3  # streamed in fragments, not buffered
