"""The Anthropic SDK (as Claude Code uses it) against /v1/messages for every family."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest
from e2e_models import CALL_WEATHER, CLAUDE, IDS, MODELS, WEATHER_TOOL_SCHEMA

pytestmark = pytest.mark.e2e

TOOLS = [{"name": "get_weather", "description": "Weather of a city", "input_schema": WEATHER_TOOL_SCHEMA}]
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture
def client(proxy) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.root, api_key=proxy.key, max_retries=0)


def sse_events(proxy, body: dict) -> list[tuple[str, dict]]:
    headers = {"x-api-key": proxy.key, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", proxy.url + "/messages", json=body, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        raw = response.read().decode()
    assert "[DONE]" not in raw
    events = []
    for block in filter(None, raw.split("\n\n")):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(lines["data"])
        assert data["type"] == lines["event"]
        events.append((lines["event"], data))
    return events


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_message(client: anthropic.Anthropic, model: str) -> None:
    answer = client.messages.create(model=model, max_tokens=100, messages=HI)
    assert answer.type == "message" and answer.role == "assistant" and answer.model == model
    assert answer.stop_reason == "end_turn"
    assert answer.content[0].type == "text" and answer.content[0].text
    assert answer.usage.input_tokens > 0 and answer.usage.output_tokens > 0


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_stream_event_order(proxy, model: str) -> None:
    events = sse_events(proxy, {"model": model, "max_tokens": 100, "messages": HI, "stream": True})
    names = [name for name, _ in events if name != "ping"]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names[1] == "content_block_start" and names[-3] == "content_block_stop"
    assert set(names[2:-3]) == {"content_block_delta"}
    ids = {data["message"]["id"] for name, data in events if name == "message_start"}
    assert len(ids) == 1


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_tool_use_round_trip(client: anthropic.Anthropic, model: str) -> None:
    question = {"role": "user", "content": CALL_WEATHER}
    first = client.messages.create(model=model, max_tokens=200, tools=TOOLS, messages=[question])
    assert first.stop_reason == "tool_use"
    (call,) = [b for b in first.content if b.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "Paris"} and call.id
    result = {"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees, sunny"}
    second = client.messages.create(
        model=model,
        max_tokens=200,
        tools=TOOLS,
        messages=[
            question,
            {"role": "assistant", "content": first.content},
            {"role": "user", "content": [result]},
        ],
    )
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
    assert second.usage.input_tokens > first.usage.input_tokens  # the tool result reached the model


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_streamed_tool_call_arrives_in_fragments(proxy, model: str) -> None:
    body = {"model": model, "max_tokens": 200, "tools": TOOLS, "stream": True,
            "messages": [{"role": "user", "content": CALL_WEATHER}]}  # fmt: skip
    events = sse_events(proxy, body)
    starts = [d["content_block"] for n, d in events if n == "content_block_start"]
    assert any(b["type"] == "tool_use" and b["name"] == "get_weather" for b in starts)
    fragments = [d["delta"]["partial_json"] for n, d in events if n == "content_block_delta"
                 and d["delta"]["type"] == "input_json_delta"]  # fmt: skip
    assert json.loads("".join(fragments)) == {"city": "Paris"}
    (stop,) = [d["delta"]["stop_reason"] for n, d in events if n == "message_delta"]
    assert stop == "tool_use"


@pytest.mark.parametrize("model", MODELS, ids=IDS)
def test_system_prompt_reaches_the_model(client: anthropic.Anthropic, model: str) -> None:
    plain = client.messages.create(model=model, max_tokens=50, messages=HI)
    system = "You are a terse assistant who answers in one sentence. " * 4
    with_system = client.messages.create(model=model, max_tokens=50, system=system, messages=HI)
    assert with_system.usage.input_tokens >= plain.usage.input_tokens + len(system) // 4 - 1


@pytest.mark.parametrize("model", CLAUDE)
def test_thinking_blocks_streamed_and_whole(client: anthropic.Anthropic, model: str) -> None:
    args = {"model": model, "max_tokens": 2000, "messages": HI,
            "thinking": {"type": "enabled", "budget_tokens": 1024}}  # fmt: skip
    whole = client.messages.create(**args)
    with client.messages.stream(**args) as stream:
        streamed = stream.get_final_message()
    for answer in (whole, streamed):
        assert [b.type for b in answer.content] == ["thinking", "text"]
        assert answer.content[0].thinking and answer.content[0].signature
    assert streamed.content[0].thinking == whole.content[0].thinking
    assert streamed.usage.output_tokens == whole.usage.output_tokens


def test_count_tokens_is_an_estimate_that_grows_with_the_input(proxy, client: anthropic.Anthropic) -> None:
    model = CLAUDE[0]
    short = client.messages.count_tokens(model=model, messages=HI)
    long = client.messages.count_tokens(model=model, system="Be brief. " * 50, messages=HI, tools=TOOLS)
    assert 0 < short.input_tokens < long.input_tokens
    response = httpx.post(
        proxy.url + "/messages/count_tokens",
        json={"model": model, "messages": HI},
        headers={"x-api-key": proxy.key},
    )
    assert response.headers["x-ftproxy-token-count"] == "estimate"


def test_errors_come_in_anthropic_shape(proxy, client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.AuthenticationError) as caught:
        anthropic.Anthropic(base_url=proxy.root, api_key="sk-wrong", max_retries=0).messages.create(
            model=CLAUDE[0], max_tokens=10, messages=HI
        )
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": caught.value.body["error"]["message"]},
    }
    with pytest.raises(anthropic.NotFoundError) as caught:
        client.messages.create(model="claude-nonexistent", max_tokens=10, messages=HI)
    assert caught.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(
            model=CLAUDE[0],
            max_tokens=10,
            messages=[{"role": "user", "content": "[[sim:status=429,retry_after=7]]"}],
        )
    assert caught.value.response.headers["retry-after"] == "7"
    with pytest.raises(anthropic.BadRequestError) as caught:
        client.messages.create(model=CLAUDE[0], max_tokens=10, messages=[{"role": "robot", "content": "x"}])
    assert (
        caught.value.body["type"] == "error" and caught.value.body["error"]["type"] == "invalid_request_error"
    )
