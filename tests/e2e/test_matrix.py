"""Every endpoint and every family: the streamed and the whole answer carry the same text, the same
tool calls and the same usage numbers (SPEC §6), read through the real SDKs."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from e2e_models import CALL_WEATHER, IDS, MODELS, WEATHER_TOOL_SCHEMA

pytestmark = pytest.mark.e2e

PROMPTS = {"text": "Tell me something.", "tool": CALL_WEATHER}
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {"name": "get_weather", "description": "w", "parameters": WEATHER_TOOL_SCHEMA},
    }
]
RESPONSES_TOOLS = [
    {"type": "function", "name": "get_weather", "description": "w", "parameters": WEATHER_TOOL_SCHEMA}
]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "w", "input_schema": WEATHER_TOOL_SCHEMA}]

Summary = tuple[str, list[tuple[str, Any]], tuple[int, int]]


def chat(client: openai.OpenAI, model: str, prompt: str, stream: bool) -> Summary:
    args: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "tools": OPENAI_TOOLS,
    }
    if not stream:
        answer = client.chat.completions.create(**args)
        message = answer.choices[0].message
        calls = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
        return message.content or "", calls, (answer.usage.prompt_tokens, answer.usage.completion_tokens)
    chunks = list(client.chat.completions.create(**args, stream=True, stream_options={"include_usage": True}))
    assert len({c.id for c in chunks}) == 1
    text, names, arguments = "", {}, {}
    for chunk in chunks:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                if call.function and call.function.name:
                    names[call.index] = call.function.name
                if call.function and call.function.arguments:
                    arguments[call.index] = arguments.get(call.index, "") + call.function.arguments
    usage = chunks[-1].usage
    calls = [(names[i], json.loads(arguments.get(i) or "{}")) for i in sorted(names)]
    return text, calls, (usage.prompt_tokens, usage.completion_tokens)


def messages(client: anthropic.Anthropic, model: str, prompt: str, stream: bool) -> Summary:
    args: dict[str, Any] = {
        "model": model,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": prompt}],
        "tools": ANTHROPIC_TOOLS,
    }
    if stream:
        with client.messages.stream(**args) as events:
            answer = events.get_final_message()
    else:
        answer = client.messages.create(**args)
    text = "".join(b.text for b in answer.content if b.type == "text")
    calls = [(b.name, b.input) for b in answer.content if b.type == "tool_use"]
    return text, calls, (answer.usage.input_tokens, answer.usage.output_tokens)


def responses(client: openai.OpenAI, model: str, prompt: str, stream: bool) -> Summary:
    args: dict[str, Any] = {"model": model, "input": prompt, "tools": RESPONSES_TOOLS}
    if stream:
        events = list(client.responses.create(**args, stream=True))
        assert events[0].type == "response.created" and events[-1].type == "response.completed"
        answer = events[-1].response
    else:
        answer = client.responses.create(**args)
    calls = [(o.name, json.loads(o.arguments)) for o in answer.output if o.type == "function_call"]
    return answer.output_text, calls, (answer.usage.input_tokens, answer.usage.output_tokens)


@pytest.mark.parametrize("prompt", list(PROMPTS.values()), ids=list(PROMPTS))
@pytest.mark.parametrize("model", MODELS, ids=IDS)
@pytest.mark.parametrize("endpoint", ["chat", "messages", "responses"])
def test_streamed_and_whole_answers_agree(proxy, endpoint: str, model: str, prompt: str) -> None:
    if endpoint == "messages":
        client: Any = anthropic.Anthropic(base_url=proxy.root, api_key=proxy.key, max_retries=0)
        call = messages
    else:
        client = openai.OpenAI(base_url=proxy.url, api_key=proxy.key, max_retries=0)
        call = chat if endpoint == "chat" else responses
    whole = call(client, model, prompt, stream=False)
    streamed = call(client, model, prompt, stream=True)
    assert streamed == whole
    text, calls, (input_tokens, output_tokens) = whole
    assert input_tokens > 0 and output_tokens > 0
    if prompt == CALL_WEATHER:
        assert calls == [("get_weather", {"city": "Paris"})]
    else:
        assert text.startswith("Hello from the simulated SAP AI Core") and calls == []
