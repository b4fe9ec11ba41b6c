"""Stream behaviour beyond the happy path: truncation, upstream errors, upstream quirks, usage."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from convert_fakes import (
    UPSTREAM_FAKES,
    UPSTREAM_MODELS,
    Spec,
    anthropic_stream,
    converse_stream,
    gemini_stream,
    openai_stream,
    parse_sse,
    run_whole,
    sdk_anthropic_stream,
)

from ftproxy import convert
from ftproxy.convert import ClientApi, StreamFormat, UpstreamApi, UpstreamProtocolError
from ftproxy.wire.eventstream import event_frame, exception_frame
from ftproxy.wire.upstream import decode_stream

CHAT, ANTHROPIC, RESPONSES = ClientApi.OPENAI_CHAT, ClientApi.ANTHROPIC_MESSAGES, ClientApi.OPENAI_RESPONSES
BODY = {"model": "my-model", "messages": [{"role": "user", "content": "hi"}], "input": "hi",
        "stream_options": {"include_usage": True}}  # fmt: skip


def translate(client: ClientApi, upstream: UpstreamApi, events: list[dict[str, Any]]) -> bytes:
    translator = convert.translator(client, upstream, model=UPSTREAM_MODELS[upstream], body=BODY)
    out = b"".join(b for e in events for b in translator.stream_events(e))
    return out + b"".join(translator.stream_end())


def assert_client_error(client: ClientApi, out: bytes, message: str) -> None:
    """The stream ends with an error event in the client's protocol, and no success."""
    events = parse_sse(out)
    name, data = events[-1]
    payload = json.loads(data)
    if client is CHAT:
        assert payload["error"]["message"].find(message) >= 0
        assert "[DONE]" not in out.decode()
    elif client is ANTHROPIC:
        assert name == "error" and payload["type"] == "error" and message in payload["error"]["message"]
        assert "message_stop" not in [n for n, _ in events]
    else:
        assert name == "response.failed" and message in payload["response"]["error"]["message"]
        openai.types.responses.ResponseFailedEvent.model_validate(payload)
        assert "response.completed" not in [n for n, _ in events]


@pytest.mark.parametrize("client", list(ClientApi))
@pytest.mark.parametrize("upstream", list(UpstreamApi))
def test_truncated_upstream_stream_is_an_error_not_a_short_success(
    client: ClientApi, upstream: UpstreamApi
) -> None:
    events = UPSTREAM_FAKES[upstream][0](Spec(blocks=[("text", "a long answer that breaks off")]))
    out = translate(client, upstream, events[: len(events) // 2])
    assert_client_error(client, out, "ended before the answer was complete")


UPSTREAM_ERRORS = {
    UpstreamApi.BEDROCK_CONVERSE: {"throttlingException": {"message": "Too many requests"}},
    UpstreamApi.BEDROCK_INVOKE: {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    },
    UpstreamApi.VERTEX_GEMINI: {
        "error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}
    },
    UpstreamApi.AZURE_OPENAI_CHAT: {
        "error": {"message": "server busy", "type": "server_error", "code": "500"}
    },
    UpstreamApi.OPENAI_COMPATIBLE_CHAT: {
        "error": {"message": "server busy", "type": "server_error", "code": "500"}
    },
    UpstreamApi.ORCHESTRATION: {
        "error": {"request_id": "r", "code": 500, "message": "LLM Module failed", "location": "LLM Module"}
    },
}


# The OpenAI chat passthrough (GPT and the OpenAI-compatible deployments) relays OpenAI's own
# error chunks as they are: not a translation to test.
PASSTHROUGHS = {(CHAT, UpstreamApi.AZURE_OPENAI_CHAT), (CHAT, UpstreamApi.OPENAI_COMPATIBLE_CHAT)}
TRANSLATED_PAIRS = [
    pytest.param(client, upstream, id=f"{client.value}-{upstream.value}")
    for client in ClientApi
    for upstream in UpstreamApi
    if (client, upstream) not in PASSTHROUGHS
]


@pytest.mark.parametrize(("client", "upstream"), TRANSLATED_PAIRS)
def test_upstream_error_event_mid_stream(client: ClientApi, upstream: UpstreamApi) -> None:
    events = UPSTREAM_FAKES[upstream][0](Spec())
    out = translate(client, upstream, [*events[:3], UPSTREAM_ERRORS[upstream], *events[3:]])
    events_out = parse_sse(out)
    errors = [d for _, d in events_out if d != "[DONE]" and ("error" in json.loads(d) or "failed" in d)]
    assert len(errors) == 1  # one error, then nothing: not even the end of the stream
    assert out.endswith(b"\n\n") and json.loads(events_out[-1][1]) == json.loads(errors[0])


@pytest.mark.parametrize("client", list(ClientApi))
def test_stream_error_shapes(client: ClientApi) -> None:
    translator = convert.translator(client, UpstreamApi.BEDROCK_CONVERSE, model="m", body=BODY)
    list(translator.stream_events({"messageStart": {"role": "assistant"}}))
    out = translator.stream_error(429, "slow down")
    assert_client_error(client, out, "slow down")
    if client is ANTHROPIC:
        assert json.loads(parse_sse(out)[0][1])["error"]["type"] == "rate_limit_error"
    assert list(translator.stream_end()) == []  # nothing after the error


# --- upstream quirks -----------------------------------------------------------------------------


def test_converse_python_literal_stream_end_to_end() -> None:
    """Converse events as SAP AI Core may relay them (Python reprs), through the wire decoder,
    the translator and the Anthropic SDK."""
    spec = Spec(blocks=[("text", 'It\'s "fine"'), ("tool", "tooluse_1", "f", '{"a": true}')], stop="tool_use")
    raw = b"".join(b"data: " + repr(e).encode() + b"\n\n" for e in converse_stream(spec))
    assert b"'messageStart'" in raw
    translator = convert.translator(ANTHROPIC, UpstreamApi.BEDROCK_CONVERSE, model="c", body=BODY)
    out = b"".join(
        b for e in decode_stream(StreamFormat.SSE_JSON_OR_PYTHON, [raw]) for b in translator.stream_events(e)
    )
    out += b"".join(translator.stream_end())
    message = sdk_anthropic_stream(out)
    assert message.content[0].type == "text" and message.content[0].text == 'It\'s "fine"'
    assert message.content[1].type == "tool_use" and message.content[1].input == {"a": True}
    assert (
        message.stop_reason == "tool_use"
        and translator.usage is not None
        and translator.usage.input_tokens == 12
    )


def test_native_claude_stream_through_the_event_stream() -> None:
    spec = Spec(blocks=[("thinking", "hmm", "SIG"), ("text", "Hi")])
    raw = b"".join(event_frame(json.dumps(e).encode()) for e in anthropic_stream(spec))
    raw += b""  # nothing after message_stop
    translator = convert.translator(ANTHROPIC, UpstreamApi.BEDROCK_INVOKE, model="c", body=BODY)
    chunks = [raw[i : i + 7] for i in range(0, len(raw), 7)]
    out = b"".join(
        b for e in decode_stream(StreamFormat.AWS_EVENTSTREAM, chunks) for b in translator.stream_events(e)
    )
    out += b"".join(translator.stream_end())
    assert b"amazon-bedrock-invocationMetrics" not in out
    events = parse_sse(out)
    assert json.loads(events[0][1])["message"]["model"] == "my-model"
    message = sdk_anthropic_stream(out)
    assert [b.type for b in message.content] == ["thinking", "text"]
    assert (
        message.usage.output_tokens == 7
        and translator.usage is not None
        and translator.usage.input_tokens == 12
    )


def test_native_claude_exception_frame() -> None:
    raw = event_frame(json.dumps(anthropic_stream(Spec())[0]).encode()) + exception_frame(
        "throttlingException", "slow"
    )
    translator = convert.translator(ANTHROPIC, UpstreamApi.BEDROCK_INVOKE, model="c", body=BODY)
    out = b"".join(
        b for e in decode_stream(StreamFormat.AWS_EVENTSTREAM, [raw]) for b in translator.stream_events(e)
    )
    out += b"".join(translator.stream_end())
    name, data = parse_sse(out)[-1]
    assert name == "error" and json.loads(data)["error"] == {
        "type": "rate_limit_error",
        "message": "throttlingException: slow",
    }


def test_gemini_function_call_with_stop_is_tool_use_and_safety_is_a_filter() -> None:
    spec = Spec(blocks=[("tool", "x", "lookup", '{"q": 1}')], stop="tool_use")
    out = translate(CHAT, UpstreamApi.VERTEX_GEMINI, gemini_stream(spec))
    finish = [
        c["choices"][0]["finish_reason"] for _, d in parse_sse(out)[:-1] if (c := json.loads(d))["choices"]
    ]
    assert finish[-1] == "tool_calls"
    blocked = [{"candidates": [{"content": {"parts": [{"text": "I"}]}, "finishReason": "SAFETY"}],
                "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1}}]  # fmt: skip
    whole = convert.translator(ANTHROPIC, UpstreamApi.VERTEX_GEMINI, model="g", body=BODY).complete(
        blocked[0]
    )
    assert whole["stop_reason"] == "refusal"
    out = translate(CHAT, UpstreamApi.VERTEX_GEMINI, blocked)
    assert '"finish_reason":"content_filter"' in out.decode()


def test_gemini_usage_may_come_after_the_finish_chunk() -> None:
    chunks = [
        {"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]},
        {"candidates": [{"content": {"parts": [{"text": "!"}]}, "finishReason": "STOP"}]},
        {"usageMetadata": {"promptTokenCount": 4, "candidatesTokenCount": 2, "thoughtsTokenCount": 5}},
    ]
    translator = convert.translator(CHAT, UpstreamApi.VERTEX_GEMINI, model="g", body=BODY)
    out = b"".join(b for c in chunks for b in translator.stream_events(c)) + b"".join(translator.stream_end())
    usage = json.loads(parse_sse(out)[-2][1])["usage"]
    assert usage == {"prompt_tokens": 4, "completion_tokens": 7, "total_tokens": 11}  # thoughts are output


def test_gemini_single_part_object_and_prompt_block() -> None:
    decoder_answer = {
        "candidates": [{"content": {"role": "model", "parts": {"text": "one"}}, "finishReason": "STOP"}]
    }
    whole = convert.translator(CHAT, UpstreamApi.VERTEX_GEMINI, model="g", body=BODY).complete(decoder_answer)
    assert whole["choices"][0]["message"]["content"] == "one"
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}}
    whole = convert.translator(CHAT, UpstreamApi.VERTEX_GEMINI, model="g", body=BODY).complete(blocked)
    assert whole["choices"][0]["finish_reason"] == "content_filter"


def test_converse_without_metadata_still_completes_and_guardrail_is_a_filter() -> None:
    events = [e for e in converse_stream(Spec()) if "metadata" not in e]
    out = translate(ANTHROPIC, UpstreamApi.BEDROCK_CONVERSE, events)
    assert parse_sse(out)[-1][0] == "message_stop"
    events = converse_stream(Spec())
    events[-2] = {"messageStop": {"stopReason": "guardrail_intervened"}}
    out = translate(CHAT, UpstreamApi.BEDROCK_CONVERSE, events)
    assert '"finish_reason":"content_filter"' in out.decode()


def test_openai_upstream_preamble_and_cached_tokens() -> None:
    events = openai_stream(Spec())
    events[-1]["usage"]["prompt_tokens_details"] = {"cached_tokens": 10}
    out = translate(ANTHROPIC, UpstreamApi.AZURE_OPENAI_CHAT, events)
    delta = next(json.loads(d) for n, d in parse_sse(out) if n == "message_delta")
    assert delta["usage"] == {"input_tokens": 2, "output_tokens": 7, "cache_creation_input_tokens": 0,
                              "cache_read_input_tokens": 10}  # fmt: skip


def test_anthropic_cache_usage_becomes_openai_prompt_tokens() -> None:
    body = {
        **anthropic_stream(Spec())[0]["message"],
        "content": [{"type": "text", "text": "x"}],
        "stop_reason": "end_turn",
    }
    body["usage"] = {
        "input_tokens": 5,
        "output_tokens": 2,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 20,
    }
    translator = convert.translator(CHAT, UpstreamApi.BEDROCK_INVOKE, model="c", body=BODY)
    out = translator.complete(body)
    assert out["usage"] == {"prompt_tokens": 125, "completion_tokens": 2, "total_tokens": 127,
                            "prompt_tokens_details": {"cached_tokens": 100}}  # fmt: skip
    assert translator.usage == convert.Usage(125, 2, 100, 20)
    native = convert.translator(ANTHROPIC, UpstreamApi.BEDROCK_INVOKE, model="c", body=BODY)
    assert native.complete(dict(body))["usage"] == body["usage"] and native.usage == translator.usage


@pytest.mark.parametrize("upstream", list(UpstreamApi))
def test_translator_usage_is_known_after_stream_and_whole(upstream: UpstreamApi) -> None:
    spec = Spec(usage=(31, 9))
    for client in ClientApi:
        translator = convert.translator(client, upstream, model=UPSTREAM_MODELS[upstream], body=BODY)
        for event in UPSTREAM_FAKES[upstream][0](spec):
            list(translator.stream_events(event))
        list(translator.stream_end())
        assert translator.usage is not None and (
            translator.usage.input_tokens,
            translator.usage.output_tokens,
        ) == (31, 9)
        translator = convert.translator(client, upstream, model=UPSTREAM_MODELS[upstream], body=BODY)
        translator.complete(UPSTREAM_FAKES[upstream][1](spec))
        assert translator.usage is not None and translator.usage.total_tokens == 40


@pytest.mark.parametrize("upstream", list(UpstreamApi))
def test_whole_answers_without_content_are_protocol_errors(upstream: UpstreamApi) -> None:
    for client in ClientApi:
        if (client, upstream) in PASSTHROUGHS:
            continue
        translator = convert.translator(client, upstream, model="m", body=BODY)
        with pytest.raises(UpstreamProtocolError):
            translator.complete({"unexpected": True})


def test_interleaved_tool_call_fragments_are_a_protocol_error() -> None:
    head = {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": None}]}

    def calls(*items: dict[str, Any]) -> dict[str, Any]:
        return {
            **head,
            "choices": [{"index": 0, "delta": {"tool_calls": list(items)}, "finish_reason": None}],
        }

    events = [
        calls({"index": 0, "id": "a", "function": {"name": "f", "arguments": "{"}}),
        calls({"index": 1, "id": "b", "function": {"name": "g", "arguments": "{"}}),
        calls({"index": 0, "function": {"arguments": "}"}}),
    ]
    translator = convert.translator(ANTHROPIC, UpstreamApi.AZURE_OPENAI_CHAT, model="g", body=BODY)
    with pytest.raises(UpstreamProtocolError):
        for event in events:
            list(translator.stream_events(event))


def test_whole_answers_validate_with_the_sdks() -> None:
    spec = Spec(
        blocks=[("thinking", "t", "s"), ("text", "x"), ("tool", "call_1", "f", '{"a": 1}')], stop="tool_use"
    )
    for upstream in UpstreamApi:
        anthropic.types.Message.model_validate(run_whole(ANTHROPIC, upstream, spec))
        openai.types.responses.Response.model_validate(run_whole(RESPONSES, upstream, spec))
        if (CHAT, upstream) not in PASSTHROUGHS:
            completion = openai.types.chat.ChatCompletion.model_validate(run_whole(CHAT, upstream, spec))
            assert completion.choices[0].message.content == "x"
