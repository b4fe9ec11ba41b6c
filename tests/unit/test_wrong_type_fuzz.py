"""A wrong-type fuzz of every field: each value position of a rich, valid body (tools with
schemas, tool calls and results, system, sampling, stop, stream options) gets a value of another
type, on every endpoint, for every family (GPT, Claude, Gemini) and with both JSON backends. The
answer may be anything but a 500 or an exception out of the app: a 4xx names the mistake, a body
that passes is served by a real simulator, and whatever comes back is strict JSON (no NaN).

The app runs in process (the WSGI callable with a WSGI environ) against one simulator process,
so the default run stays bounded (a few hundred requests a backend). Issue 21's attack run sent
27,900 such requests and found 45 x 500 (raw surrogate bytes, Gemini tool schemas).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wsgi_call import gateway_on_simulator, post

from ftproxy.web.app import Gateway

FAMILIES = ["gpt-4.1", "anthropic--claude-4.5-sonnet", "gemini-2.5-pro"]
SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "where"}, "days": {"type": "integer"}},
    "required": ["city"],
}
ANTHROPIC_MESSAGES = [
    {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "x"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sunny"}]},
]
ANTHROPIC_BODY = {
    "max_tokens": 16,
    "system": [{"type": "text", "text": "be brief"}],
    "messages": ANTHROPIC_MESSAGES,
    "tools": [{"name": "w", "description": "weather", "input_schema": SCHEMA}],
    "tool_choice": {"type": "auto"},
    "temperature": 0.5,
    "stop_sequences": ["END"],
    "metadata": {"user_id": "u"},
}
BODIES: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"city":"x"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ],
        "tools": [
            {"type": "function", "function": {"name": "w", "description": "weather", "parameters": SCHEMA}}
        ],
        "tool_choice": "auto",
        "max_tokens": 16,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop": ["END"],
        "stream": False,
        "stream_options": {"include_usage": True},
        "response_format": {"type": "text"},
    },
    "/v1/responses": {
        "instructions": "be brief",
        "input": [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather?"}]},
            {"type": "function_call", "call_id": "c1", "name": "w", "arguments": '{"city":"x"}'},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
        "tools": [{"type": "function", "name": "w", "description": "weather", "parameters": SCHEMA}],
        "tool_choice": {"type": "function", "name": "w"},
        "max_output_tokens": 16,
        "temperature": 0.5,
        "stream": False,
        "text": {"format": {"type": "text"}},
    },
    "/v1/messages": {**ANTHROPIC_BODY, "stream": False},
    "/v1/messages/count_tokens": ANTHROPIC_BODY,
}
WRONG = [None, True, 0, -1, 1.5, "x", "", [], [{}], [["x"]], {}, {"x": 1}, [None], "\ud800"]


def positions(value: Any, steps: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every value position in a body, as the keys and indexes that reach it."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield (*steps, key)
        yield from positions(item, (*steps, key))


CASES = [
    (route, model, steps) for route, body in BODIES.items() for model in FAMILIES for steps in positions(body)
]


def with_value(route: str, model: str, steps: tuple[Any, ...], value: Any) -> bytes:
    body = {"model": model, **json.loads(json.dumps(BODIES[route]))}
    target = body
    for step in steps[:-1]:
        target = target[step]
    target[steps[-1]] = value
    # ensure_ascii=False + surrogatepass: a lone surrogate goes out as raw bytes (ED A0 80)
    return json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")


def strict_json(data: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(data, parse_constant=refuse)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_on_simulator(tmp_path_factory.mktemp("fuzz"), response_tokens=8) as gateway:
        yield gateway


def call(app: Gateway, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    return post(app, path, body)


def check_answer(route: str, model: str, steps: tuple[Any, ...], value: Any, answer: tuple) -> None:
    status, headers, data = answer
    where = (route, model, steps, value, data[:300])
    assert status != 500 and status < 600, where
    if headers.get("content-type", "").startswith("application/json"):
        strict_json(data)
    elif status == 200:  # a stream: every data line is strict JSON or [DONE]
        for line in data.split(b"\n"):
            if line.startswith(b"data: ") and line != b"data: [DONE]":
                strict_json(line[6:])


@settings(max_examples=250, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(case=st.sampled_from(CASES), value=st.sampled_from(WRONG))
def test_a_wrong_type_in_any_field_is_never_a_500(
    app: Gateway, json_backend: str, case: tuple[str, str, tuple[Any, ...]], value: Any
) -> None:
    route, model, steps = case
    check_answer(route, model, steps, value, call(app, route, with_value(route, model, steps, value)))


@pytest.mark.parametrize("route", list(BODIES))
@pytest.mark.parametrize("model", FAMILIES)
def test_the_fuzzed_bodies_are_served_as_they_are(
    app: Gateway, json_backend: str, route: str, model: str
) -> None:
    """The base bodies are valid, so what the fuzz finds is the wrong value, not the body."""
    body = json.dumps({"model": model, **BODIES[route]}).encode()
    status, _, data = call(app, route, body)
    assert status == 200, (route, model, data[:300])
    strict_json(data)


@pytest.mark.parametrize("route", list(BODIES))
def test_every_position_with_every_wrong_type(app: Gateway, json_backend: str, route: str) -> None:
    """The whole grid, deterministic (about 2,000 requests a route and backend, a second or two):
    the sample above finds a rare failure only by chance, this finds every one."""
    failures = []
    for case_route, model, steps in CASES:
        if case_route != route:
            continue
        for value in WRONG:
            try:
                check_answer(
                    route, model, steps, value, call(app, route, with_value(route, model, steps, value))
                )
            except AssertionError as failure:
                failures.append(str(failure)[:300])
    assert not failures, f"{len(failures)} failures, first: {failures[:5]}"
