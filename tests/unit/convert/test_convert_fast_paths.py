"""The common-shape fast paths give what the general paths give: the same ChatRequest, or the same
400 (message, param, code), for bodies near the common shape; table-driven, then generated."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftproxy.convert import ClientRequestError, anthropic_messages, openai_chat
from ftproxy.convert.base import Usage
from ftproxy.convert.canonical import check_chat_common, want_object
from ftproxy.convert.converse import ConverseDecoder, converse_usage
from ftproxy.convert.events import (
    BlockDelta,
    BlockStart,
    BlockStop,
    Collector,
    MessageDelta,
    MessageStart,
    MessageStop,
)
from ftproxy.convert.limits import claude_cap, claude_thinks, gemini_cap, gpt_cap


def _outcome(parse: Any, body: Any) -> Any:
    try:
        return parse(body)
    except ClientRequestError as error:
        return ("error", error.message, error.param, error.code)


def _general(body: Any) -> Any:
    body = want_object(body, "body")
    check_chat_common(body)
    return openai_chat._general_request(body)


PLAIN_BODIES = [
    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 256},
    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 256.0},
    {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 7, "max_tokens": 5},
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": ""},
            {"role": "user", "content": "hi"},
        ]
    },
    {
        "messages": [
            {"role": "system", "content": " "},
            {"role": "user", "content": "a"},
            {"role": "user", "content": "b"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "  "},
            {"role": "user", "content": "c"},
        ]
    },
    {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b", "tool_calls": None},
        ]
    },
    {
        "messages": [{"role": "user", "content": "a", "name": "x"}],
        "temperature": 1.5,
        "top_p": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    },
    {"messages": [{"role": "user", "content": "a"}], "stream_options": None, "temperature": 2},
    # the general path's cases (and errors), which the fast path must hand over
    {"messages": [{"role": "user", "content": " "}]},
    {"messages": [{"role": "system", "content": "only system"}]},
    {"messages": [{"role": "user", "content": "a"}], "stream_options": "yes"},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]},
    {"messages": [{"role": "user", "content": None}]},
    {"messages": [{"role": "tool", "content": "x", "tool_call_id": "c"}]},
    {"messages": [{"role": "function", "content": "x"}]},
    {"messages": [{"role": "assistant", "content": "x", "tool_calls": []}]},
    {"messages": [{"role": "user", "content": "a"}], "max_tokens": 0},
    {"messages": [{"role": "user", "content": "a"}], "temperature": 3, "max_tokens": -1, "top_p": 9},
    {"messages": [{"role": "user", "content": "a"}], "top_p": True, "temperature": "1"},
    {"messages": [{"role": "user", "content": "a"}], "n": 1, "stop": "x"},
    {"messages": [], "max_tokens": 1},
    {"messages": "hi"},
    [],
]


@pytest.mark.parametrize("body", PLAIN_BODIES)
def test_plain_chat_request_is_the_general_one(body: Any) -> None:
    assert _outcome(openai_chat.parse_request, body) == _outcome(_general, body)


text = st.sampled_from(["", " ", "hi", "\n", "x y"])
number = st.none() | st.integers(-3, 300) | st.floats(allow_nan=True) | st.booleans() | text
message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant", "system", "developer", "tool", "function", "x"]),
        "content": text | st.none(),
    },
    optional={"tool_calls": st.none() | st.just([]), "name": text},
)
body_strategy = st.fixed_dictionaries(
    {"messages": st.lists(message, max_size=4)},
    optional={
        "model": text, "stream": st.booleans(), "stream_options": st.none() | st.just({}) | text,
        "max_tokens": number, "max_completion_tokens": number, "temperature": number, "top_p": number,
        "seed": number, "n": number, "user": text | st.none(),
    },
)  # fmt: skip


@given(body_strategy)
@settings(max_examples=400, deadline=None)
def test_generated_chat_bodies_read_alike(body: dict[str, Any]) -> None:
    assert _outcome(openai_chat.parse_request, body) == _outcome(_general, body)


@pytest.mark.parametrize(
    ("model", "betas", "cap", "thinks"),
    [
        ("anthropic--claude-4.5-sonnet", (), 64_000, True),
        ("anthropic--claude-3.7-sonnet", ("output-128k-2025-02-19",), 128_000, True),
        ("anthropic--claude-3.7-sonnet", (), 64_000, True),
        ("anthropic--claude-3.5-sonnet", (), 8_192, False),
        ("anthropic--claude-3-haiku", (), 4_096, False),
        ("anthropic--claude-4-opus", (), 32_000, True),
        ("anthropic--claude-opus-4-5", (), 64_000, True),
        ("anthropic--claude-5-opus", (), 128_000, True),
        ("some-model", (), 128_000, True),
    ],
)
def test_claude_limits_by_name(model: str, betas: tuple[str, ...], cap: int, thinks: bool) -> None:
    for _ in range(2):  # the second read is the cached one
        assert claude_cap(model, betas) == cap
        assert claude_thinks(model) is thinks


@pytest.mark.parametrize(
    ("model", "cap"),
    [("gpt-4.1", 32_768), ("azure/gpt-4o", 16_384), ("gpt-5-mini", 128_000), ("o3", 100_000), ("x", 128_000)],
)
def test_gpt_caps_by_name(model: str, cap: int) -> None:
    assert gpt_cap(model) == gpt_cap(model) == cap


def test_gemini_caps_by_name() -> None:
    assert gemini_cap("google--gemini-2.0-flash") == 8_192
    assert gemini_cap("google--gemini-2.5-pro") == 65_535


class _Start(BlockStart):
    __slots__ = ()


def test_collector_folds_subclassed_events_as_their_base_type() -> None:
    collector = Collector()
    events = [MessageStart("m1"), _Start(0, "text"), BlockDelta(0, "text", "a"), BlockDelta(0, "text", "b"),
              BlockStop(0), MessageDelta("end_turn", None, Usage(1, 2)), MessageStop()]  # fmt: skip
    for event in events:
        collector.add(event)
    answer = collector.answer
    assert (answer.id, answer.text, answer.usage, answer.complete) == ("m1", "ab", Usage(1, 2), True)


def test_collector_fills_a_gap_in_block_numbers() -> None:
    collector = Collector()
    for event in [
        MessageStart(),
        BlockStart(1, "tool_use", "t", "f"),
        BlockDelta(1, "json", "{}"),
        MessageStop(),
    ]:
        collector.add(event)
    assert [(b.kind, b.text, b.id) for b in collector.answer.blocks] == [
        ("text", "", ""),
        ("tool_use", "{}", "t"),
    ]


def _general_messages(body: Any, headers: dict[str, str] | None = None) -> Any:
    return anthropic_messages._general_request(want_object(body, "body"), headers)


MESSAGES_BODIES = [
    {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 256},
    {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "user", "content": " "},
            {"role": "assistant", "content": "b"},
        ],
        "system": "Be brief.",
        "stream": False,
    },
    {
        "messages": [{"role": "user", "content": "a"}],
        "system": "",
        "temperature": 1,
        "top_p": 0.5,
        "top_k": 3,
    },
    {"messages": [{"role": "user", "content": "a"}], "max_tokens": 0, "temperature": 5},
    {"messages": [{"role": "user", "content": "a"}], "max_tokens": 2.0},
    {"messages": [{"role": "user", "content": "a"}], "temperature": True, "top_k": -1},
    {"messages": [{"role": "user", "content": "a"}], "system": [{"type": "text", "text": "s"}]},
    {"messages": [{"role": "user", "content": "a"}], "system": 5},
    {"messages": [{"role": "system", "content": "a"}, {"role": "user", "content": "b"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "a"}]}]},
    {"messages": [{"role": "user", "content": None}]},
    {"messages": [{"role": "tool", "content": "a"}]},
    {"messages": [{"role": "user", "content": "  "}]},
    {"messages": ["x"]},
    {"messages": "x"},
    {},
]


@pytest.mark.parametrize("body", MESSAGES_BODIES)
@pytest.mark.parametrize("headers", [None, {}, {"anthropic-beta": "output-128k-2025-02-19,nope"}])
def test_plain_messages_request_is_the_general_one(body: Any, headers: dict[str, str] | None) -> None:
    parse = anthropic_messages.parse_request
    assert _outcome(lambda b: parse(b, headers), body) == _outcome(
        lambda b: _general_messages(b, headers), body
    )


messages_body = st.fixed_dictionaries(
    {"messages": st.lists(message, max_size=4)},
    optional={
        "model": text, "stream": st.booleans(), "system": text | st.none() | st.just([]) | number,
        "max_tokens": number, "temperature": number, "top_p": number, "top_k": number,
    },
)  # fmt: skip


@given(messages_body)
@settings(max_examples=400, deadline=None)
def test_generated_messages_bodies_read_alike(body: dict[str, Any]) -> None:
    assert _outcome(anthropic_messages.parse_request, body) == _outcome(_general_messages, body)


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"inputTokens": 15, "outputTokens": 16, "totalTokens": 31}, Usage(15, 16)),
        ({"inputTokens": 15, "outputTokens": 16, "cacheReadInputTokens": 4}, Usage(19, 16, 4, 0)),
        ({"inputTokens": 15, "outputTokens": 16, "cacheWriteInputTokens": 5}, Usage(20, 16, 0, 5)),
        ({"inputTokens": 15, "outputTokens": 16, "cacheReadInputTokens": None}, Usage(15, 16)),
        ({"inputTokens": True, "outputTokens": 16}, Usage(0, 16)),
        ({"inputTokens": "15", "outputTokens": 16.0}, Usage(0, 0)),
        ({}, Usage()),
        ([], None),
    ],
)
def test_converse_usage(usage: Any, expected: Usage | None) -> None:
    assert converse_usage(usage) == expected


@pytest.mark.parametrize(
    ("fields", "sequence"),
    [(None, None), ({"stop_sequence": "END"}, "END"), ({"stop_sequence": 3}, None), ([], None), ("x", None)],
)
def test_converse_stop_sequence(fields: Any, sequence: str | None) -> None:
    answer = {"output": {"message": {"content": [{"text": "a"}]}}, "stopReason": "stop_sequence"}
    if fields is not None:
        answer["additionalModelResponseFields"] = fields
    events = ConverseDecoder().whole(answer)
    assert [e for e in events if isinstance(e, MessageDelta)] == [
        MessageDelta("stop_sequence", sequence, None)
    ]
