"""Every request field the official SDKs can send is mapped, deliberately dropped (documented in
`convert.DROPPED_FIELDS`) or refused (`convert.REFUSED_FIELDS`) — never lost by accident — and
count_tokens gives a deterministic estimate."""

# ruff: noqa: E501  (the tables keep one case per line)

from __future__ import annotations

import typing

import pytest

from ftproxy import convert
from ftproxy.convert import ClientApi, ClientRequestError, UpstreamApi

MAPPED = {
    ClientApi.OPENAI_CHAT: {
        "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "stop", "tools",
        "tool_choice", "reasoning_effort",
    },
    ClientApi.ANTHROPIC_MESSAGES: {
        "messages", "system", "max_tokens", "temperature", "top_p", "stop_sequences", "tools", "tool_choice",
        "thinking",
    },
    ClientApi.OPENAI_RESPONSES: {
        "input", "instructions", "max_output_tokens", "temperature", "top_p", "tools", "tool_choice",
        "parallel_tool_calls", "reasoning", "text",
    },
}  # fmt: skip


def sdk_fields(client: ClientApi) -> set[str]:
    if client is ClientApi.OPENAI_CHAT:
        from openai.types.chat import completion_create_params as params

        return set(typing.get_type_hints(params.CompletionCreateParamsBase))
    if client is ClientApi.OPENAI_RESPONSES:
        from openai.types.responses import response_create_params as params

        return set(typing.get_type_hints(params.ResponseCreateParamsBase))
    from anthropic.types import message_create_params as params

    return set(typing.get_type_hints(params.MessageCreateParamsBase)) | {"top_k", "temperature", "top_p"}


@pytest.mark.parametrize("client", list(ClientApi))
def test_every_sdk_field_is_mapped_dropped_or_refused(client: ClientApi) -> None:
    handled = MAPPED[client] | set(convert.DROPPED_FIELDS[client]) | set(convert.REFUSED_FIELDS[client])
    assert sdk_fields(client) - handled == set()
    assert all(reason for reason in convert.DROPPED_FIELDS[client].values())


@pytest.mark.parametrize(
    ("client", "field", "value"),
    [(ClientApi.OPENAI_CHAT, k, True) for k in ("logprobs", "store", "service_tier", "verbosity")]
    + [(ClientApi.ANTHROPIC_MESSAGES, k, {"x": 1}) for k in ("metadata", "container", "service_tier")]
    + [(ClientApi.OPENAI_RESPONSES, k, "x") for k in ("truncation", "include", "service_tier")],
)
def test_dropped_fields_do_not_reach_any_converted_upstream(
    client: ClientApi, field: str, value: object
) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "input": "hi", field: value}
    for upstream, model in ((UpstreamApi.BEDROCK_CONVERSE, "anthropic--claude-4-sonnet"),
                            (UpstreamApi.VERTEX_GEMINI, "gemini-2.5-pro")):  # fmt: skip
        request = convert.build_request(client, upstream, body, model=model, stream=False)
        assert field not in repr(request.body)


def test_native_claude_pair_forwards_only_what_bedrock_accepts() -> None:
    body = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], "metadata": {"user_id": "u"},
            "service_tier": "auto", "container": "c", "mcp_servers": [], "stream": True, "top_k": 3}  # fmt: skip
    request = convert.build_request(
        ClientApi.ANTHROPIC_MESSAGES,
        UpstreamApi.BEDROCK_INVOKE,
        body,
        model="anthropic--claude-3.5-sonnet",
        stream=True,
    )
    assert set(request.body) == {"anthropic_version", "max_tokens", "messages", "top_k"}


# --- count_tokens ----------------------------------------------------------------------------------

COUNTS = [
    ("one short message", {"messages": [{"role": "user", "content": "hello world"}]}, 3 + 4 + 3),
    ("system string", {"system": "abcd" * 10, "messages": [{"role": "user", "content": "hi"}]}, 3 + 10 + 4 + 1),
    ("non-ASCII counts per character", {"messages": [{"role": "user", "content": "你好"}]}, 3 + 4 + 2),
    (
        "an image is 1600",
        {"messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 10000}}]}]},
        3 + 4 + 1600,
    ),
    (
        "tool calls and results",
        {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "read",
                                                          "input": {"p": "a"}}]},
                      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "12345678"}]}]},
        3 + 4 + 1 + 3 + 4 + 2,  # name "read"; input {"p":"a"} is 9 characters
    ),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "expected"), COUNTS, ids=[c[0] for c in COUNTS])
def test_count_tokens(name: str, body: dict[str, object], expected: int) -> None:
    assert convert.count_tokens({"model": "m", **body}) == expected


def test_count_tokens_grows_with_tools_and_text() -> None:
    base = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    tools = [{"name": "Read", "description": "Read a file from disk", "input_schema": {"type": "object"}}]
    assert convert.count_tokens({**base, "tools": tools}) > convert.count_tokens(base)
    longer = {"model": "m", "messages": [{"role": "user", "content": "hi " * 100}]}
    assert convert.count_tokens(longer) > convert.count_tokens(base)


@pytest.mark.parametrize(
    ("body", "param"),
    [({}, "messages"), ({"messages": [1]}, "messages[0]"), ({"messages": [{"role": "x"}]}, "messages[0].role"),
     ({"messages": [], "tools": 3}, "tools")],
)  # fmt: skip
def test_count_tokens_bad_bodies(body: dict[str, object], param: str) -> None:
    with pytest.raises(ClientRequestError) as info:
        convert.count_tokens(body)
    assert info.value.param == param
