"""The OpenAI SDK against Claude and Gemini: chat with tools, images, Responses (Codex style)."""

from __future__ import annotations

import json

import openai
import pytest
from e2e_models import CALL_WEATHER, FAMILIES, WEATHER_TOOL_SCHEMA

pytestmark = pytest.mark.e2e

CONVERTED = {k: v for k, v in FAMILIES.items() if k != "gpt"}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}}]
PIXEL = (  # a 1x1 PNG
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def client(proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url, api_key=proxy.key, max_retries=0)


@pytest.mark.parametrize("model", CONVERTED.values(), ids=CONVERTED.keys())
def test_chat_tool_call_round_trip(client: openai.OpenAI, model: str) -> None:
    messages: list = [{"role": "system", "content": "Use tools."}, {"role": "user", "content": CALL_WEATHER}]
    first = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    (call,) = choice.message.tool_calls
    assert call.function.name == "get_weather" and json.loads(call.function.arguments) == {"city": "Paris"}
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C"},
    ]
    second = client.chat.completions.create(model=model, messages=messages, tools=TOOLS)
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content
    assert second.model == model


@pytest.mark.parametrize("model", CONVERTED.values(), ids=CONVERTED.keys())
def test_chat_with_an_image_and_sampling_fields(client: openai.OpenAI, model: str) -> None:
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    answer = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": content}],
        max_tokens=64,
        temperature=0.2,
        top_p=0.9,
        stop=["\n\n"],
    )
    assert answer.choices[0].message.content and answer.usage.prompt_tokens > 0


@pytest.mark.parametrize("model", FAMILIES.values(), ids=FAMILIES.keys())
def test_responses_function_call_round_trip(client: openai.OpenAI, model: str) -> None:
    tools = [{"type": "function", "name": "get_weather", "parameters": WEATHER_TOOL_SCHEMA}]
    first = client.responses.create(model=model, instructions="Use tools.", input=CALL_WEATHER, tools=tools)
    (call,) = [o for o in first.output if o.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Paris"}
    follow_up = [
        {"role": "user", "content": CALL_WEATHER},
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "18C"},
    ]
    second = client.responses.create(model=model, input=follow_up, tools=tools)
    assert second.status == "completed" and second.output_text


def test_refused_fields_are_a_clear_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=CONVERTED["claude-converse"], messages=[{"role": "user", "content": "x"}], n=2
        )
    assert caught.value.body["param"] == "n"
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=CONVERTED["gemini"], input="x", previous_response_id="resp_1")
    assert "previous_response_id" in caught.value.body["message"]


def test_converse_stream_of_python_literal_lines(client: openai.OpenAI) -> None:
    """Real AI Core relays some Converse events as Python dict literals; the answer is the same."""
    model = CONVERTED["claude-converse"]
    text = {}
    for directive in ("", " [[sim:literal=1]]"):
        stream = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "Hi" + directive}], stream=True
        )
        text[directive] = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text[""] and text[""] == text[" [[sim:literal=1]]"]
