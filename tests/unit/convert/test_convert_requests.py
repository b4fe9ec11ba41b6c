"""Request conversion, table-driven: (name, client body, expected upstream body fragment)."""

# ruff: noqa: E501  (the tables keep one case per line)

from __future__ import annotations

from typing import Any

import pytest

from ftproxy import convert
from ftproxy.convert import ClientApi, ClientRequestError, StreamFormat, UpstreamApi

CHAT, ANTHROPIC, RESPONSES = ClientApi.OPENAI_CHAT, ClientApi.ANTHROPIC_MESSAGES, ClientApi.OPENAI_RESPONSES
AZURE, CONVERSE, INVOKE, GEMINI = (
    UpstreamApi.AZURE_OPENAI_CHAT,
    UpstreamApi.BEDROCK_CONVERSE,
    UpstreamApi.BEDROCK_INVOKE,
    UpstreamApi.VERTEX_GEMINI,
)
PNG = "iVBORw0KGgo="
USER_HI = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}  # fmt: skip
TOOL_HISTORY = [
    {"role": "user", "content": "Weather in Paris and Rome?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'}},
    ]},
    {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "rainy"}]},
    {"role": "user", "content": "Thanks. Which is warmer?"},
]  # fmt: skip


def build(client: ClientApi, upstream: UpstreamApi, body: dict[str, Any], model: str, **kw: Any) -> Any:
    return convert.build_request(
        client, upstream, {"model": "client-name", **body}, model=model, **{"stream": False, **kw}
    )


def subset(expected: Any, actual: Any, path: str = "") -> None:
    """Every key of `expected` is in `actual` with that value (recursively for dicts)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        for key, value in expected.items():
            if value is ABSENT:
                assert key not in actual, f"{path}.{key} should be absent, is {actual[key]!r}"
            else:
                assert key in actual, f"{path}.{key} missing in {actual!r}"
                subset(value, actual[key], f"{path}.{key}")
    else:
        assert expected == actual, f"{path}: expected {expected!r}, got {actual!r}"


ABSENT = object()

# --- OpenAI chat → Converse -------------------------------------------------------------------

OPENAI_TO_CONVERSE = [
    (
        "system prompts go to system, not to a user turn",
        {"messages": [{"role": "system", "content": "Be brief."}, {"role": "developer", "content": "Use French."},
                      {"role": "user", "content": "hi"}]},
        {"system": [{"text": "Be brief."}, {"text": "Use French."}],
         "messages": [{"role": "user", "content": [{"text": "hi"}]}]},
    ),
    (
        "sampling, stop and max tokens",
        {"messages": USER_HI, "max_completion_tokens": 300, "max_tokens": 5, "temperature": 1.7, "top_p": 0.9, "stop": "END"},
        {"inferenceConfig": {"maxTokens": 300, "temperature": 1.0, "topP": 0.9, "stopSequences": ["END"]}},
    ),
    ("no max tokens: a sane default", {"messages": USER_HI}, {"inferenceConfig": {"maxTokens": 4096}}),
    ("max tokens capped at the model's maximum", {"messages": USER_HI, "max_tokens": 200000},
     {"inferenceConfig": {"maxTokens": 64000}}),
    (
        "data-URL image",
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "what is this"},
                                                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]}]},
        {"messages": [{"role": "user", "content": [{"text": "what is this"},
                                                   {"image": {"format": "png", "source": {"bytes": PNG}}}]}]},
    ),
    (
        "tools and a forced tool",
        {"messages": USER_HI, "tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
        {"toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "description": "Weather",
                                                "inputSchema": {"json": TOOL["function"]["parameters"]}}}],
                        "toolChoice": {"tool": {"name": "get_weather"}}}},
    ),
    ("tool_choice required", {"messages": USER_HI, "tools": [TOOL], "tool_choice": "required"},
     {"toolConfig": {"toolChoice": {"any": {}}}}),
    ("tool_choice none without history: no toolConfig", {"messages": USER_HI, "tools": [TOOL], "tool_choice": "none"},
     {"toolConfig": ABSENT}),
    (
        "tool calls and results; results merged into one user turn before the text",
        {"messages": TOOL_HISTORY, "tools": [TOOL]},
        {"messages": [
            {"role": "user", "content": [{"text": "Weather in Paris and Rome?"}]},
            {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "call_2", "name": "get_weather", "input": {"city": "Rome"}}}]},
            {"role": "user", "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "sunny"}]}},
                {"toolResult": {"toolUseId": "call_2", "content": [{"text": "rainy"}]}},
                {"text": "Thanks. Which is warmer?"}]},
        ]},
    ),
    (
        "tool history without tools: Converse still gets a toolConfig",
        {"messages": TOOL_HISTORY},
        {"toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}},
    ),
    (
        "reasoning_effort becomes a thinking budget; sampling left out",
        {"messages": USER_HI, "reasoning_effort": "medium", "temperature": 0.2},
        {"additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 8192}},
         "inferenceConfig": {"maxTokens": 8192 + 4096, "temperature": ABSENT}},
    ),
    (
        "reasoning budget fits under the client's max_tokens",
        {"messages": USER_HI, "reasoning_effort": "high", "max_tokens": 5000},
        {"additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 4999}},
         "inferenceConfig": {"maxTokens": 5000}},
    ),
    ("no room for thinking: none", {"messages": USER_HI, "reasoning_effort": "low", "max_tokens": 500},
     {"additionalModelRequestFields": ABSENT, "inferenceConfig": {"maxTokens": 500}}),
    (
        "unknown fields are dropped deliberately",
        {"messages": USER_HI, "logprobs": True, "logit_bias": {"1": 2}, "store": True, "metadata": {"a": "b"},
         "service_tier": "auto", "user": "u1", "seed": 3, "presence_penalty": 1},
        {"logprobs": ABSENT, "logit_bias": ABSENT, "store": ABSENT, "metadata": ABSENT, "user": ABSENT, "seed": ABSENT},
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "body", "expected"), OPENAI_TO_CONVERSE, ids=[c[0] for c in OPENAI_TO_CONVERSE]
)
def test_openai_to_converse(name: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    request = build(CHAT, CONVERSE, body, "anthropic--claude-4.5-sonnet")
    assert request.path == "/converse" and request.stream_format is StreamFormat.SSE_JSON
    subset(expected, request.body)
    assert set(request.body) <= {
        "messages",
        "system",
        "inferenceConfig",
        "additionalModelRequestFields",
        "toolConfig",
    }


def test_converse_stream_path_and_format() -> None:
    request = build(CHAT, CONVERSE, {"messages": USER_HI}, "anthropic--claude-4-sonnet", stream=True)
    assert request.path == "/converse-stream" and request.stream_format is StreamFormat.SSE_JSON_OR_PYTHON


# --- OpenAI chat → Bedrock invoke ---------------------------------------------------------------

OPENAI_TO_INVOKE = [
    (
        "the Anthropic body Bedrock expects",
        {"messages": [{"role": "system", "content": "sys"}, *USER_HI], "max_tokens": 99, "stop": ["a", "b"], "top_p": 0.5},
        {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 99, "system": [{"type": "text", "text": "sys"}],
         "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "stop_sequences": ["a", "b"],
         "top_p": 0.5, "model": ABSENT, "stream": ABSENT},
    ),
    ("max tokens capped for Claude 3.5", {"messages": USER_HI, "max_tokens": 100000}, {"max_tokens": 8192}),
    (
        "tools; parallel_tool_calls false; forced tool",
        {"messages": USER_HI, "tools": [TOOL], "parallel_tool_calls": False, "tool_choice": "required"},
        {"tools": [{"name": "get_weather", "description": "Weather", "input_schema": TOOL["function"]["parameters"]}],
         "tool_choice": {"type": "any", "disable_parallel_tool_use": True}},
    ),
    (
        "tool ids Bedrock would reject are rewritten consistently",
        {"messages": [USER_HI[0], {"role": "assistant", "tool_calls": [
            {"id": "call.1:x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call.1:x", "content": "ok"}]},
        {"messages": [{}, {"content": [{"type": "tool_use", "id": "call_1_x", "name": "f", "input": {}}]},
                      {"content": [{"type": "tool_result", "tool_use_id": "call_1_x"}]}]},
    ),
    (
        "invalid JSON arguments in history are kept, not lost",
        {"messages": [USER_HI[0], {"role": "assistant", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": '}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "err"}]},
        {"messages": [{}, {"content": [{"type": "tool_use", "input": {"raw_arguments": '{"a": '}}]}, {}]},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "expected"), OPENAI_TO_INVOKE, ids=[c[0] for c in OPENAI_TO_INVOKE])
def test_openai_to_invoke(name: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    request = build(CHAT, INVOKE, body, "anthropic--claude-3.5-sonnet")
    assert request.path == "/invoke"
    _subset_lists(expected, request.body)


def _subset_lists(expected: Any, actual: Any) -> None:
    """Like `subset`, with lists compared item by item (same length)."""
    if isinstance(expected, dict):
        for key, value in expected.items():
            if value is ABSENT:
                assert key not in actual
            else:
                _subset_lists(value, actual[key])
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (expected, actual)
        for e, a in zip(expected, actual, strict=True):
            _subset_lists(e, a)
    else:
        assert expected == actual


def test_invoke_stream_uses_the_binary_event_stream() -> None:
    request = build(CHAT, INVOKE, {"messages": USER_HI}, "anthropic--claude-3-haiku", stream=True)
    assert request.path == "/invoke-with-response-stream"
    assert request.headers == {"Accept": "application/vnd.amazon.eventstream"}
    assert request.stream_format is StreamFormat.AWS_EVENTSTREAM
    assert request.body["max_tokens"] == 4096


# --- OpenAI chat → Gemini ------------------------------------------------------------------------

OPENAI_TO_GEMINI = [
    (
        "system instruction, roles, generation config",
        {"messages": [{"role": "system", "content": "sys"}, *USER_HI, {"role": "assistant", "content": "hello"},
                      {"role": "user", "content": "bye"}],
         "max_tokens": 50, "temperature": 1.5, "top_p": 0.5, "stop": ["1", "2", "3", "4", "5", "6"],
         "presence_penalty": 0.5, "seed": 7},
        {"systemInstruction": {"parts": [{"text": "sys"}]},
         "contents": [{"role": "user", "parts": [{"text": "hi"}]}, {"role": "model", "parts": [{"text": "hello"}]},
                      {"role": "user", "parts": [{"text": "bye"}]}],
         "generationConfig": {"maxOutputTokens": 50, "temperature": 1.5, "topP": 0.5,
                              "stopSequences": ["1", "2", "3", "4", "5"], "presencePenalty": 0.5, "seed": 7}},
    ),
    ("no max tokens: none sent", {"messages": USER_HI}, {"generationConfig": ABSENT}),
    (
        "function calls and responses, matched by name",
        {"messages": TOOL_HISTORY, "tools": [TOOL], "tool_choice": "auto"},
        {"contents": [{}, {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                                                      {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
                      {"role": "user", "parts": [
                          {"functionResponse": {"name": "get_weather", "response": {"content": "sunny"}}},
                          {"functionResponse": {"name": "get_weather", "response": {"content": "rainy"}}},
                          {"text": "Thanks. Which is warmer?"}]}],
         "tools": [{"functionDeclarations": [{"name": "get_weather", "description": "Weather",
                                              "parameters": TOOL["function"]["parameters"]}]}],
         "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}}},
    ),
    (
        "images inline and by URL",
        {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}},
            {"type": "image_url", "image_url": "https://example.com/cat.png"}]}]},
        {"contents": [{"parts": [{"inlineData": {"mimeType": "image/jpeg", "data": PNG}},
                                 {"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}}]}]},
    ),
    (
        "JSON output and reasoning",
        {"messages": USER_HI, "reasoning_effort": "low",
         "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {
             "type": "object", "properties": {"a": {"type": ["string", "null"]}}, "additionalProperties": False}}}},
        {"generationConfig": {"responseMimeType": "application/json",
                              "responseSchema": {"type": "object", "properties": {"a": {"type": "string", "nullable": True}}},
                              "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}}},
    ),
    ("tool_choice for one function", {"messages": USER_HI, "tools": [TOOL],
                                      "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
     {"toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}}),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "expected"), OPENAI_TO_GEMINI, ids=[c[0] for c in OPENAI_TO_GEMINI])
def test_openai_to_gemini(name: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    request = build(CHAT, GEMINI, body, "gemini-2.5-pro")
    assert request.path == "/models/gemini-2.5-pro:generateContent"
    _subset_lists_loose(expected, request.body)


def _subset_lists_loose(expected: Any, actual: Any) -> None:
    if isinstance(expected, dict):
        for key, value in expected.items():
            if value is ABSENT:
                assert key not in actual, (key, actual)
            else:
                assert key in actual, (key, actual)
                _subset_lists_loose(value, actual[key])
    elif isinstance(expected, list):
        assert isinstance(actual, list) and len(actual) == len(expected), (expected, actual)
        for e, a in zip(expected, actual, strict=True):
            _subset_lists_loose(e, a)
    else:
        assert expected == actual


def test_gemini_stream_path_strips_the_provider_prefix() -> None:
    request = build(CHAT, GEMINI, {"messages": USER_HI}, "google--gemini-2.5-flash", stream=True)
    assert request.path == "/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert request.stream_format is StreamFormat.SSE_JSON


def test_gemini_schema_inlines_refs_and_drops_unknown_keywords() -> None:
    from ftproxy.convert.gemini import gemini_schema

    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "$defs": {"Pt": {"type": "object", "properties": {"x": {"type": "integer", "exclusiveMinimum": 0}}}},
        "properties": {
            "p": {"$ref": "#/$defs/Pt"},
            "kind": {"const": "a"},
            "n": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
            "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        },
        "required": ["p", "missing"],
        "additionalProperties": False,
    }
    assert gemini_schema(schema) == {
        "type": "object",
        "properties": {
            "p": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "kind": {"enum": ["a"], "type": "string"},
            "n": {"nullable": True, "type": "integer", "default": None},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["p"],
    }


def test_gemini_tool_without_parameters_has_no_parameters() -> None:
    tool = {
        "type": "function",
        "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
    }
    request = build(CHAT, GEMINI, {"messages": USER_HI, "tools": [tool]}, "gemini-2.0-flash")
    assert request.body["tools"] == [{"functionDeclarations": [{"name": "now"}]}]


# --- Anthropic Messages → each upstream -----------------------------------------------------------

CLAUDE_CODE_BODY: dict[str, Any] = {
    "max_tokens": 32000,
    "stream": True,
    "temperature": 1,
    "metadata": {"user_id": "user_abc"},
    "system": [
        {"type": "text", "text": "You are Claude Code."},
        {"type": "text", "text": "Project rules.", "cache_control": {"type": "ephemeral"}},
    ],
    "thinking": {"type": "enabled", "budget_tokens": 10000},
    "tools": [
        {"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {
            "path": {"type": "string"}}, "required": ["path"]}},
        {"type": "web_search_20250305", "name": "web_search", "max_uses": 5},
    ],
    "messages": [
        {"role": "user", "content": [{"type": "text", "text": "Read a.py"}]},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "I should read it.", "signature": "SIG"},
            {"type": "text", "text": "Reading."},
            {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"path": "a.py"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "print(1)", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Explain it."}]},
    ],
}  # fmt: skip
BETA = {
    "anthropic-beta": "interleaved-thinking-2025-05-14,claude-code-20250219,fine-grained-tool-streaming-2025-05-14"
}


def test_anthropic_to_invoke_is_native() -> None:
    request = convert.build_request(
        ANTHROPIC, INVOKE, {"model": "claude", **CLAUDE_CODE_BODY}, model="anthropic--claude-3.7-sonnet",
        stream=True, headers=BETA,
    )  # fmt: skip
    body = request.body
    assert (
        request.path == "/invoke-with-response-stream"
        and request.stream_format is StreamFormat.AWS_EVENTSTREAM
    )
    assert body["anthropic_version"] == "bedrock-2023-05-31"
    assert body["anthropic_beta"] == ["interleaved-thinking-2025-05-14"]
    assert "model" not in body and "stream" not in body and "metadata" not in body
    assert body["messages"] == CLAUDE_CODE_BODY["messages"]  # untouched: cache_control, signatures…
    assert body["system"] == CLAUDE_CODE_BODY["system"]
    assert body["thinking"] == CLAUDE_CODE_BODY["thinking"] and body["max_tokens"] == 32000
    assert [t["name"] for t in body["tools"]] == ["Read"]  # Anthropic-hosted web search dropped


def test_anthropic_to_invoke_defaults_and_caps_max_tokens() -> None:
    base = {"model": "c", "messages": USER_HI}
    assert (
        convert.build_request(ANTHROPIC, INVOKE, base, model="anthropic--claude-3-haiku", stream=False).body[
            "max_tokens"
        ]
        == 4096
    )
    capped = convert.build_request(
        ANTHROPIC, INVOKE, {**base, "max_tokens": 10**6}, model="anthropic--claude-3.5-sonnet", stream=False
    )
    assert capped.body["max_tokens"] == 8192 and capped.path == "/invoke" and capped.headers == {}


def test_anthropic_to_converse() -> None:
    request = convert.build_request(
        ANTHROPIC, CONVERSE, {"model": "claude", **CLAUDE_CODE_BODY}, model="anthropic--claude-4.5-sonnet",
        stream=True, headers=BETA,
    )  # fmt: skip
    body = request.body
    assert body["system"] == [
        {"text": "You are Claude Code."},
        {"text": "Project rules."},
        {"cachePoint": {"type": "default"}},
    ]
    assert body["inferenceConfig"] == {"maxTokens": 32000, "temperature": 1}
    assert body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "anthropic_beta": ["interleaved-thinking-2025-05-14"],
    }
    assert body["messages"][1]["content"] == [
        {"reasoningContent": {"reasoningText": {"text": "I should read it.", "signature": "SIG"}}},
        {"text": "Reading."},
        {"toolUse": {"toolUseId": "toolu_1", "name": "Read", "input": {"path": "a.py"}}},
    ]
    assert body["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "toolu_1", "content": [{"text": "print(1)"}]}},
        {"cachePoint": {"type": "default"}},
        {"text": "Explain it."},
    ]
    specs = [t["toolSpec"]["name"] for t in body["toolConfig"]["tools"]]
    assert specs == ["Read"]


def test_anthropic_to_gemini() -> None:
    request = convert.build_request(
        ANTHROPIC, GEMINI, {"model": "g", **CLAUDE_CODE_BODY}, model="gemini-2.5-flash", stream=False
    )
    body = request.body
    assert body["systemInstruction"] == {
        "parts": [{"text": "You are Claude Code."}, {"text": "Project rules."}]
    }
    assert body["contents"][1] == {
        "role": "model",
        "parts": [{"text": "Reading."}, {"functionCall": {"name": "Read", "args": {"path": "a.py"}}}],
    }  # Claude's signed thinking cannot go to Gemini
    assert body["contents"][2]["parts"][0] == {
        "functionResponse": {"name": "Read", "response": {"content": "print(1)"}}
    }
    assert body["generationConfig"] == {
        "maxOutputTokens": 32000,
        "temperature": 1,
        "thinkingConfig": {"thinkingBudget": 10000, "includeThoughts": True},
    }


def test_anthropic_to_gpt() -> None:
    body = {
        **CLAUDE_CODE_BODY,
        "model": "gpt",
        "stop_sequences": ["STOP"],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
        "messages": [
            *CLAUDE_CODE_BODY["messages"][:2],
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": True, "content": [
                    {"type": "text", "text": "no such file"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}]},
                {"type": "text", "text": "Try again."}]},
        ],
    }  # fmt: skip
    request = convert.build_request(ANTHROPIC, AZURE, body, model="gpt-4o", stream=True)
    out = request.body
    assert out["messages"] == [
        {"role": "system", "content": "You are Claude Code.\n\nProject rules."},
        {"role": "user", "content": "Read a.py"},
        {"role": "assistant", "content": "Reading.", "tool_calls": [
            {"id": "toolu_1", "type": "function", "function": {"name": "Read", "arguments": '{"path":"a.py"}'}}]},
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: no such file"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                                     {"type": "text", "text": "Try again."}]},
    ]  # fmt: skip
    assert out["max_tokens"] == 16384  # gpt-4o's maximum, not Claude Code's 32000
    assert (
        out["stop"] == ["STOP"] and out["tool_choice"] == "required" and out["parallel_tool_calls"] is False
    )
    assert out["stream_options"] == {"include_usage": True}
    assert "reasoning_effort" not in out and [t["function"]["name"] for t in out["tools"]] == ["Read"]
    reasoning = convert.build_request(ANTHROPIC, AZURE, body, model="gpt-5", stream=False).body
    assert reasoning["reasoning_effort"] == "high" and "temperature" not in reasoning
    assert reasoning["max_completion_tokens"] == 32000


# --- Responses → chat ------------------------------------------------------------------------------

CODEX_BODY: dict[str, Any] = {
    "model": "codex-model",
    "instructions": "You are Codex.",
    "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "env context"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"},
                                                        {"type": "input_image", "image_url": f"data:image/png;base64,{PNG}"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": None},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Running ls."}]},
        {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": '{"command":["ls"]}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "a.py\nb.py"},
    ],
    "tools": [
        {"type": "function", "name": "shell", "description": "Run a command", "strict": False,
         "parameters": {"type": "object", "properties": {"command": {"type": "array", "items": {"type": "string"}}}}},
        {"type": "web_search"},
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "reasoning": {"effort": "medium", "summary": "auto"},
    "store": False,
    "stream": True,
    "include": ["reasoning.encrypted_content"],
    "max_output_tokens": 1000,
}  # fmt: skip


def test_responses_to_chat() -> None:
    from ftproxy.convert.responses_request import to_chat

    chat = to_chat(CODEX_BODY)
    assert chat["messages"] == [
        {"role": "system", "content": "You are Codex."},
        {"role": "developer", "content": [{"type": "text", "text": "env context"}]},
        {"role": "user", "content": [{"type": "text", "text": "list files"},
                                     {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}]},
        {"role": "assistant", "content": "Running ls.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "shell", "arguments": '{"command":["ls"]}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "a.py\nb.py"},
    ]  # fmt: skip
    assert chat["tools"] == [{"type": "function", "function": {
        "name": "shell", "description": "Run a command", "strict": False,
        "parameters": CODEX_BODY["tools"][0]["parameters"]}}]  # fmt: skip
    assert chat["max_tokens"] == 1000 and chat["reasoning_effort"] == "medium"
    assert chat["parallel_tool_calls"] is False and chat["tool_choice"] == "auto"
    assert "include" not in chat and "store" not in chat


@pytest.mark.parametrize("upstream", list(UpstreamApi))
def test_responses_reaches_every_upstream(upstream: UpstreamApi) -> None:
    model = {AZURE: "gpt-4.1", CONVERSE: "anthropic--claude-4-sonnet", INVOKE: "anthropic--claude-3.5-sonnet",
             GEMINI: "gemini-2.5-pro", UpstreamApi.ORCHESTRATION: "mistralai--mistral-large-instruct",
             UpstreamApi.OPENAI_COMPATIBLE_CHAT: "mistralai--mistral-medium-instruct"}[upstream]  # fmt: skip
    request = convert.build_request(RESPONSES, upstream, CODEX_BODY, model=model, stream=True)
    if upstream in (AZURE, UpstreamApi.OPENAI_COMPATIBLE_CHAT):
        assert request.body["stream_options"] == {"include_usage": True}
        assert request.body["messages"][0] == {"role": "system", "content": "You are Codex."}
    elif upstream is CONVERSE:
        assert request.body["system"] == [{"text": "You are Codex."}, {"text": "env context"}]
        assert request.body["messages"][-1]["content"][0]["toolResult"]["toolUseId"] == "call_1"
    elif upstream is GEMINI:
        assert request.body["contents"][-1]["parts"][0]["functionResponse"]["name"] == "shell"
    elif upstream is UpstreamApi.ORCHESTRATION:
        template = request.body["config"]["modules"]["prompt_templating"]["prompt"]["template"]
        assert template[0] == {"role": "system", "content": "You are Codex.\n\nenv context"}
        assert template[-1]["role"] == "tool" and template[-1]["tool_call_id"] == "call_1"


def test_responses_string_input() -> None:
    request = convert.build_request(
        RESPONSES, CONVERSE, {"model": "m", "input": "hi"}, model="anthropic--claude-4-sonnet", stream=False
    )
    assert request.body["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


# --- errors: ClientRequestError with the param ---------------------------------------------------

ERRORS = [
    (CHAT, {}, "messages"),
    (CHAT, {"messages": "hi"}, "messages"),
    (CHAT, {"messages": [3]}, "messages[0]"),
    (CHAT, {"messages": [{"role": "robot", "content": "x"}]}, "messages[0].role"),
    (CHAT, {"messages": [{"role": "user", "content": 5}]}, "messages[0].content"),
    (CHAT, {"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages[0].content[0].type"),
    (CHAT, {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]}]},
     "messages[0].content[0].image_url.url"),
    (CHAT, {"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
    (CHAT, {"messages": [{"role": "assistant", "tool_calls": [{"id": "1"}]}]}, "messages[0].tool_calls[0].function"),
    (CHAT, {"messages": USER_HI, "temperature": "hot"}, "temperature"),
    (CHAT, {"messages": USER_HI, "temperature": 3}, "temperature"),
    (CHAT, {"messages": USER_HI, "max_tokens": 0}, "max_tokens"),
    (CHAT, {"messages": USER_HI, "max_tokens": True}, "max_tokens"),
    (CHAT, {"messages": USER_HI, "stop": [1]}, "stop[0]"),
    (CHAT, {"messages": USER_HI, "tools": [{"type": "function"}]}, "tools[0].function"),
    (CHAT, {"messages": USER_HI, "tools": [{"type": "function", "function": {"name": 1}}]}, "tools[0].function.name"),
    (CHAT, {"messages": USER_HI, "tool_choice": "sometimes"}, "tool_choice"),
    (CHAT, {"messages": USER_HI, "n": 2}, "n"),
    (CHAT, {"messages": USER_HI, "functions": [{"name": "f"}]}, "functions"),
    (CHAT, {"messages": [{"role": "user", "content": ""}]}, "messages"),
    (ANTHROPIC, {"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    (ANTHROPIC, {"messages": [{"role": "user", "content": [{"type": "video"}]}]}, "messages[0].content[0].type"),
    (ANTHROPIC, {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": "f"}]}]},
     "messages[0].content[0].id"),
    (ANTHROPIC, {"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file"}}]}]},
     "messages[0].content[0].source.type"),
    (ANTHROPIC, {"messages": USER_HI, "temperature": 1.5}, "temperature"),
    (ANTHROPIC, {"messages": USER_HI, "top_k": -1}, "top_k"),
    (ANTHROPIC, {"messages": USER_HI, "system": [{"type": "image"}]}, "system[0].type"),
    (ANTHROPIC, {"messages": USER_HI, "thinking": {"type": "sometimes"}}, "thinking.type"),
    (ANTHROPIC, {"messages": USER_HI, "tool_choice": {"type": "tool"}}, "tool_choice.name"),
    (RESPONSES, {"input": 5}, "input"),
    (RESPONSES, {"input": [{"type": "mystery"}]}, "input[0].type"),
    (RESPONSES, {"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    (RESPONSES, {"input": "hi", "previous_response_id": "resp_1"}, "previous_response_id"),
    (RESPONSES, {"input": "hi", "conversation": "conv_1"}, "conversation"),
    (RESPONSES, {"input": [{"type": "function_call", "name": "f"}]}, "input[0].call_id"),
    (RESPONSES, {"input": "hi", "tools": [{"type": "function"}]}, "tools[0].name"),
]  # fmt: skip


_SHALLOW_PARAMS = ("messages", "messages[0]", "messages[0].role", "max_tokens")


def _checked_by_us(client: ClientApi, upstream: UpstreamApi, param: str) -> bool:
    """The GPT passthrough forwards the body as it is; the native Claude pair checks only the
    shape it needs and leaves deep checks to the upstream."""
    if (client, upstream) == (CHAT, AZURE):
        return False
    return (client, upstream) != (ANTHROPIC, INVOKE) or param in _SHALLOW_PARAMS


ERROR_CASES = [
    pytest.param(client, body, param, upstream, id=f"{client.value}:{param}:{upstream.value}")
    for client, body, param in ERRORS
    for upstream in (CONVERSE, INVOKE, GEMINI, AZURE)
    if _checked_by_us(client, upstream, param)
]


@pytest.mark.parametrize(("client", "body", "param", "upstream"), ERROR_CASES)
def test_bad_requests_name_the_param(
    client: ClientApi, body: dict[str, Any], param: str, upstream: UpstreamApi
) -> None:
    with pytest.raises(ClientRequestError) as info:
        convert.build_request(client, upstream, {"model": "m", **body}, model="gemini-2.5-pro", stream=False)
    assert info.value.param == param


def test_non_object_body_is_a_client_error() -> None:
    for client in ClientApi:
        for upstream in UpstreamApi:
            with pytest.raises(ClientRequestError):
                convert.build_request(client, upstream, [1, 2], model="m", stream=False)  # type: ignore[arg-type]


def test_converse_refuses_image_urls() -> None:
    body = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
        ]
    }
    with pytest.raises(ClientRequestError, match="base64"):
        build(CHAT, CONVERSE, body, "anthropic--claude-4-sonnet")
