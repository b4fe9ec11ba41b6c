"""The decoders' `plain_answer` (the whole-answer fast path of `HubTranslator.complete`) is what a
`Collector` folds from `whole(body)`, or None; table-driven (each row says whether the fast path
takes it), then generated."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftproxy.convert.converse import ConverseDecoder
from ftproxy.convert.events import Answer, Collector
from ftproxy.convert.hub import Decoder
from ftproxy.convert.openai_events import OpenAIChatDecoder
from ftproxy.convert.orchestration import OrchestrationDecoder
from ftproxy.wire.apis import UpstreamProtocolError


def _folded(decoder: Decoder, body: dict[str, Any]) -> Answer | str:
    try:
        events = decoder.whole(body)
    except UpstreamProtocolError as error:
        return f"error: {error}"
    collector = Collector()
    for event in events:
        collector.add(event)
    return collector.answer


def _check(new_decoder: type[Decoder], body: dict[str, Any]) -> bool:
    """Whether the fast path took `body`; asserts that it then gave the general path's answer."""
    plain = new_decoder().plain_answer(body)
    if plain is not None:
        assert plain == _folded(new_decoder(), body)
    return plain is not None


def _chat(message: Any, finish: Any = "stop", **fields: Any) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": message, "finish_reason": finish}], **fields}


USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
TEXT = {"role": "assistant", "content": "Hello"}
CHAT_ANSWERS = [
    (_chat(TEXT, id="chatcmpl-1", usage=USAGE), True),
    (_chat({**TEXT, "refusal": None, "annotations": []}, "length", id=3, usage=USAGE), True),
    (_chat({"role": "assistant", "content": None}, "content_filter"), True),
    (_chat({"role": "assistant", "content": ""}, None, usage={"prompt_tokens": "5"}), True),
    (_chat(TEXT, ""), True),
    (_chat(TEXT, "tool_calls", usage={"prompt_tokens_details": {"cached_tokens": 2}}), True),
    (_chat(TEXT, "odd", usage=[]), True),
    (_chat({"content": "x", "tool_calls": []}), False),
    (_chat({"content": "x", "tool_calls": [{"id": "c", "function": {"name": "f"}}]}), False),
    (_chat({"content": "x", "reasoning_content": "think"}), False),
    (_chat({"content": "x", "reasoning_content": ""}), False),
    (_chat({"content": None, "refusal": "no"}), False),
    (_chat({"content": [{"type": "text", "text": "x"}]}), False),
    (_chat({"content": 5}), False),
    (_chat(TEXT, 5), False),
    (_chat(["x"]), False),
    ({"choices": ["x"]}, False),
    ({"choices": []}, False),
    ({"choices": {}}, False),
    ({}, False),
]


@pytest.mark.parametrize(("body", "fast"), CHAT_ANSWERS)
def test_chat_plain_answer_is_the_folded_one(body: dict[str, Any], fast: bool) -> None:
    assert _check(OpenAIChatDecoder, body) is fast


@pytest.mark.parametrize(
    ("body", "fast"),
    [({"final_result": body, "request_id": "r"}, fast) for body, fast in CHAT_ANSWERS]
    + [
        ({"final_result": _chat({"content": "x", "reasoning_content": [{"content": "t"}]})}, False),
        ({"final_result": None}, False),
        ({"intermediate_results": {}}, False),
    ],
)
def test_orchestration_plain_answer_is_the_folded_one(body: dict[str, Any], fast: bool) -> None:
    assert _check(OrchestrationDecoder, body) is fast


def _converse(content: Any, **fields: Any) -> dict[str, Any]:
    return {"output": {"message": {"role": "assistant", "content": content}}, **fields}


CONVERSE_USAGE = {"inputTokens": 5, "outputTokens": 7, "totalTokens": 12}


@pytest.mark.parametrize(
    ("body", "fast"),
    [
        (_converse([{"text": "Hello"}], stopReason="end_turn", usage=CONVERSE_USAGE), True),
        (_converse([{"text": "a"}, {"text": ""}, {"text": "b"}], stopReason="max_tokens"), True),
        (_converse([], stopReason="guardrail_intervened", usage={"cacheReadInputTokens": 3}), True),
        (
            _converse(
                [{"text": "a"}],
                stopReason="stop_sequence",
                additionalModelResponseFields={"stop_sequence": "END"},
            ),
            True,
        ),
        (_converse([{"text": "a"}], stopReason=7, additionalModelResponseFields=[]), True),
        (_converse([{"text": "a"}, {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]), False),
        (_converse([{"reasoningContent": {"reasoningText": {"text": "t"}}}, {"text": "a"}]), False),
        (_converse([{"text": "a", "toolUse": {"name": "f"}}]), False),
        (_converse([{"image": {}}]), False),
        (_converse([{"text": None}]), False),
        (_converse(["a"]), False),
        (_converse({"text": "a"}), False),
        ({"output": []}, False),
        ({}, False),
    ],
)
def test_converse_plain_answer_is_the_folded_one(body: dict[str, Any], fast: bool) -> None:
    assert _check(ConverseDecoder, body) is fast


odd = st.none() | st.booleans() | st.integers(-1, 9) | st.sampled_from(["", "x", "stop", "length"])
usage = odd | st.dictionaries(
    st.sampled_from(["prompt_tokens", "completion_tokens", "inputTokens", "outputTokens"]), odd
)
chat_message = st.fixed_dictionaries(
    {"content": odd},
    optional={"role": odd, "refusal": odd, "reasoning_content": odd, "tool_calls": st.none() | st.just([])},
)
chat_answer = st.fixed_dictionaries(
    {"choices": st.lists(st.fixed_dictionaries({"message": chat_message | odd, "finish_reason": odd}))},
    optional={"id": odd, "usage": usage},
)


@given(chat_answer)
@settings(max_examples=300, deadline=None)
def test_generated_chat_answers_fold_alike(body: dict[str, Any]) -> None:
    _check(OpenAIChatDecoder, body)
    _check(OrchestrationDecoder, {"final_result": body})


converse_block = st.dictionaries(st.sampled_from(["text", "image", "toolUse"]), odd, max_size=2)
converse_answer = st.fixed_dictionaries(
    {
        "output": st.fixed_dictionaries(
            {"message": st.fixed_dictionaries({"content": st.lists(converse_block)})}
        )
    },
    optional={"stopReason": odd, "usage": usage, "additionalModelResponseFields": odd},
)


@given(converse_answer)
@settings(max_examples=300, deadline=None)
def test_generated_converse_answers_fold_alike(body: dict[str, Any]) -> None:
    _check(ConverseDecoder, body)
