"""The Orchestration Service pair, table by table: request bodies, answer envelopes, embeddings,
errors. (Every client and every upstream, orchestration included, also runs in
test_convert_answers/streams through `convert_fakes.orchestration_*`.)"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ftproxy import convert
from ftproxy._json import dumps
from ftproxy.convert import ClientApi, ClientRequestError, UpstreamApi, UpstreamProtocolError
from ftproxy.convert import orchestration as orch
from ftproxy.errors import upstream_filtered, upstream_message

ORCH = UpstreamApi.ORCHESTRATION
CHAT, MESSAGES, RESPONSES = ClientApi.OPENAI_CHAT, ClientApi.ANTHROPIC_MESSAGES, ClientApi.OPENAI_RESPONSES
MODEL = "mistralai--mistral-large-instruct"
IMAGE = "data:image/png;base64,iVBORw0KGgo="
TOOL = {"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}


def build(client: ClientApi, body: dict[str, Any], stream: bool = False) -> dict[str, Any]:
    request = convert.build_request(client, ORCH, {"model": "m", **body}, model=MODEL, stream=stream)
    assert request.path == "/v2/completion" and ("stream" in request.body["config"]) is stream
    return request.body


def templating(body: dict[str, Any]) -> dict[str, Any]:
    return body["config"]["modules"]["prompt_templating"]


REQUESTS: list[tuple[str, ClientApi, dict[str, Any], str, Any]] = [
    # (case, client, body, path into prompt_templating, expected)
    (
        "user text",
        CHAT,
        {"messages": [{"role": "user", "content": "hi"}]},
        "prompt.template",
        [{"role": "user", "content": "hi"}],
    ),
    (
        "system merged first",
        CHAT,
        {
            "messages": [
                {"role": "system", "content": "a"},
                {"role": "developer", "content": "b"},
                {"role": "user", "content": "hi"},
            ]
        },
        "prompt.template.0",
        {"role": "system", "content": "a\n\nb"},
    ),
    (
        "image part",
        CHAT,
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what"},
                        {"type": "image_url", "image_url": {"url": IMAGE}},
                    ],
                }
            ]
        },
        "prompt.template.0.content.1",
        {"type": "image_url", "image_url": {"url": IMAGE}},
    ),
    (
        "tool result",
        CHAT,
        {
            "messages": [
                {"role": "user", "content": "w"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
            ]
        },
        "prompt.template.2",
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
    ),
    (
        "assistant tool call",
        CHAT,
        {
            "messages": [
                {"role": "user", "content": "w"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "x"},
            ]
        },
        "prompt.template.1.tool_calls.0.function",
        {"name": "f", "arguments": '{"a":1}'},
    ),
    (
        "tools",
        CHAT,
        {"messages": [{"role": "user", "content": "hi"}], "tools": [TOOL]},
        "prompt.tools",
        [TOOL],
    ),
    (
        "response format",
        CHAT,
        {"messages": [{"role": "user", "content": "hi"}], "response_format": {"type": "json_object"}},
        "prompt.response_format",
        {"type": "json_object"},
    ),
    (
        "model and version",
        CHAT,
        {"messages": [{"role": "user", "content": "hi"}]},
        "model",
        {"name": MODEL, "version": "latest"},
    ),
    (
        "params",
        CHAT,
        {
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.5,
            "top_p": 0.9,
            "max_completion_tokens": 50,
            "stop": ["x"],
            "seed": 3,
            "presence_penalty": 1,
        },
        "model.params",
        {"temperature": 0.5, "top_p": 0.9, "max_tokens": 50, "stop": ["x"], "seed": 3, "presence_penalty": 1},
    ),
    (
        "required tool",
        CHAT,
        {"messages": [{"role": "user", "content": "hi"}], "tools": [TOOL], "tool_choice": "required"},
        "model.params.tool_choice",
        "required",
    ),
    (
        "named tool",
        CHAT,
        {
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
        },
        "model.params.tool_choice",
        {"type": "function", "function": {"name": "f"}},
    ),
    (
        "anthropic system and max_tokens",
        MESSAGES,
        {"max_tokens": 99, "system": "be kind", "messages": [{"role": "user", "content": "hi"}]},
        "prompt.template",
        [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hi"}],
    ),
    (
        "anthropic tool result",
        MESSAGES,
        {
            "max_tokens": 9,
            "messages": [
                {"role": "user", "content": "w"},
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}],
                },
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
            ],
        },
        "prompt.template.2",
        {"role": "tool", "tool_call_id": "t1", "content": "ok"},
    ),
    (
        "anthropic tool choice any",
        MESSAGES,
        {
            "max_tokens": 9,
            "messages": [{"role": "user", "content": "w"}],
            "tools": [{"name": "f", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "any"},
        },
        "model.params.tool_choice",
        "required",
    ),
    (
        "responses input",
        RESPONSES,
        {"input": "hi", "instructions": "sys"},
        "prompt.template",
        [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
    ),
]


def _at(value: Any, path: str) -> Any:
    for part in path.split("."):
        value = value[int(part)] if isinstance(value, list) else value[part]
    return value


@pytest.mark.parametrize(
    ("case", "client", "body", "path", "expected"), REQUESTS, ids=[r[0] for r in REQUESTS]
)
def test_request(case: str, client: ClientApi, body: dict[str, Any], path: str, expected: Any) -> None:
    assert _at(templating(build(client, body)), path) == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (MODEL, {"max_tokens": 1000}),
        ("gpt-4.1", {"max_tokens": 1000, "parallel_tool_calls": False}),
        ("gpt-5", {"max_tokens": 1000, "parallel_tool_calls": False, "reasoning_effort": "medium"}),
    ],
)
def test_openai_only_params_go_to_gpt_models_only(model: str, expected: dict[str, Any]) -> None:
    body = {
        "model": "m",
        "input": "hi",
        "tools": [{"type": "function", "name": "f", "parameters": {}}],
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium"},
        "max_output_tokens": 1000,
    }
    request = convert.build_request(RESPONSES, ORCH, body, model=model, stream=False)
    params = templating(request.body)["model"]["params"]
    assert {k: v for k, v in params.items() if k != "tool_choice"} == expected


def test_stream_config_only_when_streaming() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}]}
    assert "stream" not in build(CHAT, body)["config"]
    assert build(CHAT, body, stream=True)["config"]["stream"] == {"enabled": True}
    assert "params" not in templating(build(CHAT, body))["model"]  # nothing asked: service defaults


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE"}}
                        ],
                    }
                ]
            },
            "messages[0].content",
        ),
    ],
)
def test_documents_are_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ClientRequestError) as caught:
        build(CHAT, body)
    assert caught.value.param == param and "Orchestration" in caught.value.message


def envelope(final: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {
        "request_id": "r",
        "intermediate_results": {"templating": [{"role": "user", "content": "secret"}]},
        "final_result": final,
        **extra,
    }


COMPLETION = {
    "id": "chatcmpl-x",
    "object": "chat.completion",
    "created": 1,
    "model": MODEL,
    "choices": [
        {
            "index": 0,
            "finish_reason": "stop",
            "message": {
                "role": "assistant",
                "content": "42",
                "reasoning_content": [{"content": "think", "signature": "sig"}],
            },
        }
    ],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
}


def translator(client: ClientApi, headers: dict[str, str] | None = None) -> Any:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 9}
    if client is RESPONSES:
        body = {"model": "m", "input": "hi"}
    return convert.translator(client, ORCH, model=MODEL, body=body, headers=headers)


def test_whole_answer_thinking_signature_and_usage() -> None:
    answer = translator(MESSAGES).complete(envelope(COMPLETION))
    assert answer["content"][0] == {"type": "thinking", "thinking": "think", "signature": "sig"}
    assert answer["content"][1] == {"type": "text", "text": "42"}
    assert answer["usage"]["input_tokens"] == 3 and answer["usage"]["output_tokens"] == 2
    assert "intermediate_results" not in answer


@pytest.mark.parametrize(
    ("header", "shown"), [(None, False), ("true", True), ("1", True), ("false", False), ("no", False)]
)
@pytest.mark.parametrize("client", list(ClientApi))
def test_module_results_only_when_asked(client: ClientApi, header: str | None, shown: bool) -> None:
    headers = {orch.INTERMEDIATE_HEADER: header} if header else None
    answer = translator(client, headers).complete(envelope(COMPLETION))
    assert ("intermediate_results" in answer) is shown
    assert ("secret" in dumps(answer).decode()) is shown
    stream = translator(client, headers)
    chunk = {
        **COMPLETION,
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "42"}, "finish_reason": "stop"}],
    }
    out = b"".join(stream.stream_events(envelope(chunk))) + b"".join(stream.stream_end())
    assert (b"secret" in out) is shown
    assert out.startswith(b": intermediate_results {") is shown


ERROR_EVENTS = [
    ({"error": {"code": 400, "message": "bad", "location": "LLM Module"}}, 400, "bad"),
    ({"error": [{"code": 429, "message": "slow"}, {"code": 500, "message": "x"}]}, 429, "slow"),
    ({"error": {"code": "503", "message": "down"}}, 503, "down"),
    ({"error": {"code": 200, "message": "odd"}}, 502, "odd"),
    ({"error": "text"}, 502, "the Orchestration Service reported an error"),
]


@pytest.mark.parametrize(("event", "status", "message"), ERROR_EVENTS)
def test_stream_error_event(event: dict[str, Any], status: int, message: str) -> None:
    out = b"".join(translator(CHAT).stream_events(event))
    error = json.loads(out.decode().removeprefix("data: "))["error"]
    assert error["message"] == message and error["code"] == str(status)


def test_module_only_events_are_skipped_and_a_missing_final_result_is_a_protocol_error() -> None:
    stream = translator(CHAT)
    assert b"".join(stream.stream_events(envelope(None))) == b""
    with pytest.raises(UpstreamProtocolError):
        translator(CHAT).complete({"request_id": "r", "intermediate_results": {}})


def test_output_filter_is_content_filter_and_refusal() -> None:
    blocked = {
        **COMPLETION,
        "choices": [
            {"index": 0, "finish_reason": "content_filter", "message": {"role": "assistant", "content": ""}}
        ],
    }
    assert translator(CHAT).complete(envelope(blocked))["choices"][0]["finish_reason"] == "content_filter"
    assert translator(MESSAGES).complete(envelope(blocked))["stop_reason"] == "refusal"


EMBEDDINGS = [
    ({"input": "a"}, {"name": "e", "version": "latest"}, "a"),
    (
        {"input": ["a", "b"], "dimensions": 8, "encoding_format": "base64"},
        {"name": "e", "version": "latest", "params": {"dimensions": 8, "encoding_format": "base64"}},
        ["a", "b"],
    ),
]


@pytest.mark.parametrize(("body", "model", "text"), EMBEDDINGS)
def test_embeddings_request(body: dict[str, Any], model: dict[str, Any], text: Any) -> None:
    out = orch.build_embeddings_request(body, model="e")
    assert out == {"config": {"modules": {"embeddings": {"model": model}}}, "input": {"text": text}}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": [[1, 2]]}, "input"),
        ({"input": "a", "dimensions": 0}, "dimensions"),
        ({"input": "a", "encoding_format": "int8"}, "encoding_format"),
    ],
)
def test_embeddings_request_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(ClientRequestError) as caught:
        orch.build_embeddings_request(body, model="e")
    assert caught.value.param == param


def test_embeddings_answer() -> None:
    final = {"object": "list", "data": [{"index": 0, "embedding": [0.1]}], "model": "e", "usage": {}}
    assert orch.embeddings_answer({"request_id": "r", "final_result": final}) is final
    with pytest.raises(UpstreamProtocolError):
        orch.embeddings_answer({"request_id": "r"})


FILTER_ERROR = {
    "error": {
        "request_id": "r",
        "code": 400,
        "message": "400 - Filtering Module - Input Filter: no",
        "location": "Filtering Module - Input Filter",
        "intermediate_results": {"x": 1},
    }
}
ERRORS = [
    (FILTER_ERROR, True, "400 - Filtering Module - Input Filter: no"),
    ({"error": [FILTER_ERROR["error"]]}, True, "400 - Filtering Module - Input Filter: no"),
    (
        {"error": {"code": 400, "message": "Model x not found", "location": "LLM Module"}},
        False,
        "Model x not found",
    ),
    ({"error": {"message": "Filter this", "code": "400"}}, False, "Filter this"),  # no location: no filter
]


@pytest.mark.parametrize(("body", "filtered", "message"), ERRORS)
def test_error_envelopes(body: dict[str, Any], filtered: bool, message: str) -> None:
    raw = dumps(body)
    assert upstream_filtered(raw) is filtered
    assert upstream_message(raw) == message
