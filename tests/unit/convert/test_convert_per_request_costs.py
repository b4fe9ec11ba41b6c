"""The per-request shortcuts of the orchestration and GPT converters (issue 25) read what the
longer forms read: inlined lenient readers, facts of a model name cached per name, the
orchestration translator's direct calls of the hub's methods."""

from __future__ import annotations

from typing import Any

import pytest

from ftproxy.convert import model_rules, orchestration
from ftproxy.convert._lenient import as_int, as_obj
from ftproxy.convert.base import UpstreamRequest, Usage
from ftproxy.convert.canonical import ChatRequest
from ftproxy.convert.openai_events import OpenAIChatEncoder
from ftproxy.convert.openai_passthrough import _REASONING_MODEL, is_reasoning_model, openai_usage
from ftproxy.wire.apis import StreamFormat, UpstreamApi

_ODD = [None, True, False, "7", 7.0, [], {}, 0, 3, -1]


@pytest.mark.parametrize("value", _ODD)
def test_openai_usage_reads_each_count_as_as_int_does(value: Any) -> None:
    for details in (None, [], {"cached_tokens": value}, value):
        body = {"prompt_tokens": value, "completion_tokens": value, "prompt_tokens_details": details}
        expected = Usage(as_int(value), as_int(value), as_int(as_obj(details).get("cached_tokens")))
        assert openai_usage(body) == expected
    assert openai_usage(value if not isinstance(value, dict) else None) is None


def test_rules_empty_is_the_rules_having_nothing_to_apply() -> None:
    for name in (
        "amazon--nova-micro",
        "sonar-pro",
        "deepseek-r1",
        "mistralai--mistral-small-instruct",
        "gpt-4.1",
    ):
        rules = model_rules.rules_for(name)
        assert rules.empty is not bool(
            rules.refuses or rules.drops or rules.drops_headers or rules.max_output_tokens
        )


@pytest.mark.parametrize("model", ["gpt-5", "gpt-5.1", "o3-mini", "o1", "gpt-4.1", "gpt-50", "mistral"])
def test_reasoning_model_cached_answer_is_the_regex_answer(model: str) -> None:
    assert is_reasoning_model(model) is (_REASONING_MODEL.match(model) is not None)
    assert is_reasoning_model(model) is is_reasoning_model(model)


def _full_request() -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        max_tokens=9,
        temperature=0.5,
        top_p=0.9,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        seed=4,
        stop=["a", "b", "c", "d", "e"],
        tools=[{"name": "f", "input_schema": {"type": "object"}}],
        tool_choice={"type": "tool", "name": "f"},
        parallel_tool_calls=False,
        reasoning_effort="low",
    )


@pytest.mark.parametrize(
    ("model", "openai_only"),
    [
        ("gpt-5", ["parallel_tool_calls", "reasoning_effort"]),
        ("gpt-4.1", ["parallel_tool_calls"]),
        ("mistral", []),
    ],
)
def test_params_keep_their_names_values_and_order(model: str, openai_only: list[str]) -> None:
    params = orchestration._params(_full_request(), model)
    common = ["max_tokens", "temperature", "top_p", "presence_penalty", "frequency_penalty", "seed"]
    assert list(params) == [*common, "stop", "tool_choice", *openai_only]
    assert params["stop"] == ["a", "b", "c", "d"]
    assert params["tool_choice"] == {"type": "function", "function": {"name": "f"}}


@pytest.mark.parametrize("intermediate", [False, True])
def test_stream_events_is_lazy_either_way(intermediate: bool) -> None:
    translator = orchestration.OrchestrationTranslator(
        orchestration.OrchestrationDecoder(),
        OpenAIChatEncoder(model="m", wants_usage=False),
        intermediate=intermediate,
    )
    event: dict[str, Any] = {"intermediate_results": {"x": 1}}
    chunks = translator.stream_events(event)
    event["final_result"] = {"choices": [{"delta": {"content": "hi"}}]}  # read when iterated
    out = b"".join(chunks)
    assert b'"content":"hi"' in out
    assert out.startswith(b": intermediate_results ") is intermediate


def test_upstream_request_is_immutable_and_its_default_headers_read_only() -> None:
    request = UpstreamRequest("/converse", {"messages": []})
    with pytest.raises(AttributeError):
        request.path = "/other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        request.headers["anthropic-beta"] = "x"  # type: ignore[index]
    assert (request.stream_format, request.headers) == (StreamFormat.SSE_JSON, {})


def test_short_tool_ids_give_a_new_request_and_keep_the_rest() -> None:
    messages = [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "toolu_01abc", "type": "function"}]},
        {"role": "tool", "tool_call_id": "toolu_01abc", "content": "42"},
    ]
    request = UpstreamRequest("/chat/completions", {"messages": messages}, StreamFormat.SSE_JSON, {"a": "b"})
    adapted = model_rules.adapt_request(
        UpstreamApi.OPENAI_COMPATIBLE_CHAT, "mistralai--mistral-medium-instruct", request
    )
    short = model_rules.short_id("toolu_01abc")
    assert adapted.body["messages"][0]["tool_calls"][0]["id"] == short
    assert adapted.body["messages"][1]["tool_call_id"] == short
    assert (adapted.path, adapted.stream_format, adapted.headers) == (
        request.path,
        request.stream_format,
        {"a": "b"},
    )
    assert request.body["messages"] is messages and messages[1]["tool_call_id"] == "toolu_01abc"
