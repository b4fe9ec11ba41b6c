"""Property tests: odd client bodies give a ClientRequestError or a valid request, odd upstream
answers an UpstreamProtocolError or client bytes, and generated answers read the same streamed
and whole, for every pair."""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
from typing import Any

from convert_fakes import UPSTREAM_FAKES, UPSTREAM_MODELS, Spec, parse_sse, run_stream, run_whole
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftproxy import convert
from ftproxy._json import dumps
from ftproxy.convert import ClientApi, ClientRequestError, UpstreamApi, UpstreamProtocolError

leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-3, max_value=300_000)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=6)
)
junk = st.recursive(
    leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=6,
)
DATA_URL = "data:image/png;base64,iVBORw0KGgo="
PART_TYPES = [
    "text",
    "image_url",
    "image",
    "file",
    "input_audio",
    "tool_use",
    "tool_result",
    "thinking",
    "redacted_thinking",
    "document",
    "input_text",
    "output_text",
    "input_image",
    "refusal",
    "zzz",
]
part = st.fixed_dictionaries(
    {"type": st.sampled_from(PART_TYPES) | junk},
    optional={
        "text": st.text(max_size=8) | junk,
        "image_url": st.just({"url": DATA_URL})
        | st.just(DATA_URL)
        | st.just({"url": "https://x/y.gif"})
        | junk,
        "source": st.just({"type": "base64", "media_type": "image/png", "data": "AAAA"})
        | st.just({"type": "url", "url": "https://x/y.pdf"})
        | junk,
        "id": st.text(max_size=6) | junk,
        "name": st.text(max_size=6) | junk,
        "input": st.dictionaries(st.text(max_size=3), leaf, max_size=2) | junk,
        "tool_use_id": st.text(max_size=6) | junk,
        "content": st.text(max_size=6) | junk,
        "is_error": junk,
        "thinking": st.text(max_size=6) | junk,
        "data": st.text(max_size=6) | junk,
        "file": st.just({"file_data": "data:application/pdf;base64,JVBERi0="}) | junk,
        "cache_control": st.just({"type": "ephemeral"}),
    },
)
tool_call = st.fixed_dictionaries(
    {"id": st.text(max_size=6) | junk, "type": st.just("function"),
     "function": st.fixed_dictionaries({"name": st.text(max_size=6) | junk,
                                         "arguments": st.text(max_size=8) | st.just('{"a":1}') | junk})}
)  # fmt: skip
message = st.fixed_dictionaries(
    {},
    optional={
        "role": st.sampled_from(["user", "assistant", "system", "developer", "tool", "function", "x"]) | junk,
        "content": st.text(max_size=8) | st.lists(part, max_size=3) | junk,
        "tool_calls": st.lists(tool_call, max_size=2) | junk,
        "tool_call_id": st.text(max_size=6) | junk,
        "type": st.sampled_from(
            ["message", "function_call", "function_call_output", "reasoning", "custom_tool_call"]
        ),
        "call_id": st.text(max_size=5),
        "name": st.text(max_size=5),
        "arguments": st.text(max_size=5) | junk,
        "output": st.text(max_size=5) | junk,
    },
)
tool = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["function", "custom", "web_search_20250305", "web_search"]) | junk,
        "function": st.fixed_dictionaries({"name": st.text(min_size=1, max_size=5)},
                                          optional={"parameters": junk | st.just({"type": "object"})}) | junk,
        "name": st.text(min_size=1, max_size=5) | junk,
        "input_schema": st.just({"type": "object", "properties": {"a": {"type": "string"}}}) | junk,
        "parameters": st.just({"type": "object", "properties": {"$ref": "#/$defs/x"}}) | junk,
        "description": st.text(max_size=5) | junk,
    },
)  # fmt: skip
body = st.fixed_dictionaries(
    {"model": st.just("client-model")},
    optional={
        "messages": st.lists(message, max_size=4) | junk,
        "input": st.text(max_size=5) | st.lists(message, max_size=3) | junk,
        "instructions": st.text(max_size=5) | junk,
        "system": st.text(max_size=5) | st.lists(part, max_size=2) | junk,
        "max_tokens": st.integers(min_value=-1, max_value=10**7) | junk,
        "max_completion_tokens": st.integers(min_value=0, max_value=10**6) | junk,
        "max_output_tokens": st.integers(min_value=0, max_value=10**6) | junk,
        "temperature": st.floats(min_value=-1, max_value=3) | junk,
        "top_p": junk,
        "top_k": junk,
        "stop": st.text(max_size=3) | st.lists(st.text(max_size=3), max_size=6) | junk,
        "stop_sequences": st.lists(st.text(max_size=3), max_size=3) | junk,
        "tools": st.lists(tool, max_size=3) | junk,
        "tool_choice": st.sampled_from(["auto", "none", "required", "any"])
        | st.just({"type": "tool", "name": "f"})
        | st.just({"type": "function", "function": {"name": "f"}})
        | junk,
        "thinking": st.just({"type": "enabled", "budget_tokens": 2048})
        | st.just({"type": "adaptive"})
        | junk,
        "reasoning_effort": st.sampled_from(["low", "medium", "high", "minimal"]) | junk,
        "reasoning": st.just({"effort": "high"}) | junk,
        "response_format": st.just({"type": "json_object"}) | junk,
        "stream_options": st.just({"include_usage": True}) | junk,
        "n": st.integers(0, 3) | junk,
        "parallel_tool_calls": junk,
        "metadata": junk,
        "text": junk,
    },
)
# Mostly well-formed bodies, to reach the deeper conversion code as often as the checks.
valid_part = st.sampled_from(
    [{"type": "text", "text": "hello"}, {"type": "image_url", "image_url": {"url": DATA_URL}},
     {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
     {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}},
     {"type": "tool_result", "tool_use_id": "t1", "content": "ok", "is_error": True},
     {"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "input_text", "text": "x"},
     {"type": "text", "text": "  "}]
)  # fmt: skip
good_message = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "system", "tool"]),
     "content": st.text(max_size=5) | st.lists(valid_part, max_size=3)},
    optional={"tool_calls": st.lists(tool_call, max_size=2), "tool_call_id": st.just("t1")},
)  # fmt: skip
good_body = st.fixed_dictionaries(
    {"model": st.just("m"), "messages": st.lists(good_message, min_size=1, max_size=5)},
    optional={
        "input": st.lists(good_message, max_size=3),
        "max_tokens": st.integers(1, 300_000),
        "temperature": st.floats(0, 1),
        "tools": st.lists(tool, max_size=2),
        "tool_choice": st.sampled_from(["auto", "none", "required"]),
        "thinking": st.just({"type": "enabled", "budget_tokens": 2048}),
        "reasoning_effort": st.sampled_from(["low", "high"]),
        "stop_sequences": st.lists(st.text(min_size=1, max_size=3), max_size=2),
    },
)
MODELS = {**UPSTREAM_MODELS, UpstreamApi.AZURE_OPENAI_CHAT: "gpt-5"}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=body | good_body, headers=st.none() | st.just({"anthropic-beta": "context-1m-2025-08-07,nope"}))
def test_odd_bodies_give_a_client_error_or_a_valid_request(
    body: dict[str, Any], headers: dict[str, str] | None
) -> None:
    for client in ClientApi:
        for upstream in UpstreamApi:
            model = MODELS[upstream]
            try:
                request = convert.build_request(
                    client, upstream, body, model=model, stream=True, headers=headers
                )
            except ClientRequestError as exc:
                assert exc.message
                continue
            assert isinstance(request.body, dict)
            json.loads(dumps(request.body))  # JSON on the wire
            if upstream is UpstreamApi.BEDROCK_CONVERSE:
                roles = [m["role"] for m in request.body["messages"]]
                assert all(a != b for a, b in itertools.pairwise(roles))
                assert all(c.get("text", "x").strip() for m in request.body["messages"] for c in m["content"])
            convert.translator(client, upstream, model=model, body=body)


upstream_event = st.dictionaries(
    st.sampled_from(
        [
            "type",
            "index",
            "delta",
            "content_block",
            "message",
            "usage",
            "choices",
            "id",
            "error",
            "candidates",
            "usageMetadata",
            "messageStart",
            "contentBlockStart",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata",
            "throttlingException",
            "promptFeedback",
            "output",
            "stopReason",
            "content",
        ]
    ),
    junk
    | st.sampled_from(
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
            "error",
            "ping",
            "text_delta",
            "input_json_delta",
        ]
    )
    | st.just([{"delta": {"content": "x", "tool_calls": [{"index": 0, "function": {"arguments": "{"}}]}}])
    | st.just({"delta": {"text": "x"}, "contentBlockIndex": 0})
    | st.just(
        [{"content": {"parts": [{"text": "x"}, {"functionCall": {"name": "f"}}]}, "finishReason": "STOP"}]
    ),
    max_size=4,
)


@settings(max_examples=120, deadline=None)
@given(events=st.lists(upstream_event, max_size=6), whole=upstream_event)
def test_odd_upstream_answers_give_a_protocol_error_or_bytes(
    events: list[dict[str, Any]], whole: dict[str, Any]
) -> None:
    for client in ClientApi:
        for upstream in UpstreamApi:
            body = {"model": "m", "stream_options": {"include_usage": True}}
            translator = convert.translator(client, upstream, model=MODELS[upstream], body=body)
            try:
                for event in events:
                    for chunk in translator.stream_events(dict(event)):
                        assert isinstance(chunk, bytes)
                for chunk in translator.stream_end():
                    assert isinstance(chunk, bytes)
            except UpstreamProtocolError:
                pass
            assert isinstance(translator.stream_error(502, "boom"), bytes)
            translator = convert.translator(client, upstream, model=MODELS[upstream], body=body)
            with contextlib.suppress(UpstreamProtocolError):
                json.loads(dumps(translator.complete(dict(whole))))


# --- streamed == whole ---------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=30)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)  # what JSON parsers give back
args = st.dictionaries(st.text(max_size=5), int64 | st.text(max_size=5) | st.booleans(), max_size=3)
call_id = st.from_regex(r"call_[a-z0-9]{4}", fullmatch=True)
name = st.from_regex(r"[a-z_]{1,8}", fullmatch=True)
block = (
    st.tuples(st.just("text"), text)
    | st.tuples(st.just("tool"), call_id, name, args.map(json.dumps))
    | st.tuples(st.just("thinking"), text, st.from_regex(r"[A-Za-z0-9]{4,8}", fullmatch=True))
)


def _spec(blocks: list[tuple[Any, ...]], stop: str, usage: tuple[int, int], piece: int) -> Spec:
    # Adjacent blocks of one kind are one block upstream (Gemini and GPT cannot tell them apart)
    merged: list[tuple[Any, ...]] = []
    for b in blocks:
        if merged and b[0] == merged[-1][0] and b[0] != "tool":
            merged[-1] = (b[0], merged[-1][1] + b[1], *b[2:])
        else:
            merged.append(b)
    if any(b[0] == "tool" for b in merged) and stop == "end_turn":
        stop = "tool_use"
    if not any(b[0] == "tool" for b in merged) and stop == "tool_use":
        stop = "end_turn"
    return Spec(blocks=merged, stop=stop, usage=usage, piece=piece)


def _summary(client: ClientApi, streamed: bytes | None, whole: dict[str, Any] | None) -> tuple[Any, ...]:
    """(text, [(tool name, args)], stop, (input, output)) of an answer, streamed or whole."""
    if client is ClientApi.OPENAI_CHAT:
        if whole is not None:
            message = whole["choices"][0]["message"]
            calls = [
                (c["function"]["name"], json.loads(c["function"]["arguments"]))
                for c in message.get("tool_calls", [])
            ]
            usage = whole["usage"]
            return (
                message["content"] or "",
                calls,
                whole["choices"][0]["finish_reason"],
                (usage["prompt_tokens"], usage["completion_tokens"]),
            )
        chunks = [json.loads(d) for _, d in parse_sse(streamed or b"") if d != "[DONE]"]
        content, tools, finish, usage = "", {}, None, None
        for chunk in chunks:
            if chunk.get("usage"):
                usage = (chunk["usage"]["prompt_tokens"], chunk["usage"]["completion_tokens"])
            for choice in chunk["choices"]:
                content += choice["delta"].get("content") or ""
                finish = choice.get("finish_reason") or finish
                for call in choice["delta"].get("tool_calls", []):
                    entry = tools.setdefault(call["index"], ["", ""])
                    entry[0] += call.get("function", {}).get("name", "")
                    entry[1] += call.get("function", {}).get("arguments", "")
        calls = [(n, json.loads(a)) for n, a in (tools[i] for i in sorted(tools))]
        return content, calls, finish, usage
    if client is ClientApi.ANTHROPIC_MESSAGES:
        if whole is not None:
            blocks, stop, usage = whole["content"], whole["stop_reason"], whole["usage"]
        else:
            blocks, stop, usage, partial = [], None, {}, {}
            for _, data in parse_sse(streamed or b""):
                event = json.loads(data)
                if event["type"] == "message_start":
                    usage = event["message"]["usage"]
                elif event["type"] == "content_block_start":
                    blocks.append(dict(event["content_block"]))
                elif event["type"] == "content_block_delta":
                    delta, target = event["delta"], blocks[event["index"]]
                    if delta["type"] == "text_delta":
                        target["text"] += delta["text"]
                    elif delta["type"] == "input_json_delta":
                        partial[event["index"]] = partial.get(event["index"], "") + delta["partial_json"]
                elif event["type"] == "content_block_stop" and event["index"] in partial:
                    blocks[event["index"]]["input"] = json.loads(partial[event["index"]])
                elif event["type"] == "message_delta":
                    stop, usage = event["delta"]["stop_reason"], {**usage, **event["usage"]}
        text_ = "".join(b["text"] for b in blocks if b["type"] == "text")
        calls = [(b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"]
        return text_, calls, stop, (usage["input_tokens"], usage["output_tokens"])
    response = whole
    if response is None:
        response = json.loads(parse_sse(streamed or b"")[-1][1])["response"]
    text_ = "".join(c["text"] for o in response["output"] if o["type"] == "message" for c in o["content"])
    calls = [
        (o["name"], json.loads(o["arguments"])) for o in response["output"] if o["type"] == "function_call"
    ]
    usage = response["usage"]
    return text_, calls, response["status"], (usage["input_tokens"], usage["output_tokens"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    blocks=st.lists(block, min_size=1, max_size=4),
    stop=st.sampled_from(["end_turn", "tool_use", "max_tokens"]),
    usage=st.tuples(st.integers(0, 10**6), st.integers(0, 10**5)),
    piece=st.integers(1, 7),
)
def test_streamed_and_whole_answers_agree(
    blocks: list[tuple[Any, ...]], stop: str, usage: tuple[int, int], piece: int
) -> None:
    spec = _spec(blocks, stop, usage, piece)
    expected_text = "".join(b[1] for b in spec.blocks if b[0] == "text")
    expected_calls = [(b[2], json.loads(b[3])) for b in spec.blocks if b[0] == "tool"]
    for client in ClientApi:
        for upstream in UpstreamApi:
            body = {
                "model": "m",
                "messages": [{"role": "user", "content": "q"}],
                "input": "q",
                "max_tokens": 9,
                "stream_options": {"include_usage": True},
            }
            streamed = _summary(client, run_stream(client, upstream, spec, body), None)
            whole = _summary(client, None, run_whole(client, upstream, spec, body))
            assert streamed == whole, (client, upstream)
            assert streamed[0] == expected_text and streamed[1] == expected_calls, (client, upstream)
            assert streamed[3] == usage, (client, upstream)


def _mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """The value with some of its parts replaced by junk (drawn by hypothesis)."""
    if depth > 0 and data.draw(st.integers(0, 9)) == 0:
        return data.draw(junk)
    if isinstance(value, dict):
        return {k: _mutate(v, data, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_mutate(v, data, depth + 1) for v in value]
    return value


SPEC = Spec(
    blocks=[("thinking", "t", "s"), ("text", "hello"), ("tool", "call_1", "f", '{"a": 1}')], stop="tool_use"
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_upstream_answers_give_a_protocol_error_or_bytes(data: st.DataObject) -> None:
    for upstream, (stream_fake, whole_fake) in UPSTREAM_FAKES.items():
        events = [_mutate(e, data) for e in stream_fake(SPEC)]
        whole = _mutate(whole_fake(SPEC), data)
        for client in ClientApi:
            body = {"model": "m", "stream_options": {"include_usage": True}}
            translator = convert.translator(client, upstream, model=MODELS[upstream], body=body)
            with contextlib.suppress(UpstreamProtocolError):
                for event in events:
                    for chunk in translator.stream_events(copy.deepcopy(event)):
                        assert isinstance(chunk, bytes)
                for chunk in translator.stream_end():
                    assert isinstance(chunk, bytes)
            translator = convert.translator(client, upstream, model=MODELS[upstream], body=body)
            with contextlib.suppress(UpstreamProtocolError):
                json.loads(dumps(translator.complete(copy.deepcopy(whole))))
