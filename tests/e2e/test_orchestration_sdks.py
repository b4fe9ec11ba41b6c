"""Models that only SAP's Orchestration Service serves (the simulator lists no deployment of their
own: `deployed=False`), behind the demo's discovering config, with the real OpenAI SDK (Chat
Completions, Responses) and Anthropic SDK (Messages): JSON and SSE, a tool call and its result
answered, the filter blocks, masking for one client key; each request logged on the
orchestration route."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest
from conftest import MASKED_KEY, Proxy
from processes import request_log_lines

from ftproxy.convert.model_rules import TOOLS, rules_for
from ftproxy.simulator import catalog

pytestmark = pytest.mark.e2e

ORCHESTRATED = [m.name for m in catalog.DEFAULT_MODELS if not m.deployed and m.api != "embeddings"]
WITH_TOOLS = [name for name in ORCHESTRATED if TOOLS not in rules_for(name).refuses]
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CHAT_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
RESPONSES_TOOLS = [{"type": "function", "name": "get_weather", "parameters": WEATHER}]
MESSAGES_TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER}]
ASK_TOOL = "Weather in Walldorf? [[sim:tool=get_weather]]"
PII = "Mail alice@example.com about John Smith"
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])


def oai(proxy: Proxy, key: str | None = None) -> openai.OpenAI:
    return openai.OpenAI(base_url=proxy.url, api_key=key or proxy.key, max_retries=0)


def claude(proxy: Proxy, key: str | None = None) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=proxy.root, api_key=key or proxy.key, max_retries=0)


def chat(proxy: Proxy, model: str, messages: list[Any], stream: bool, **kw: Any) -> dict[str, Any]:
    """A chat completion's message and finish reason, from the JSON answer or the assembled SSE."""
    client = oai(proxy, kw.pop("key", None))
    if not stream:
        choice = client.chat.completions.create(model=model, messages=messages, **kw).choices[0]
        return {**choice.message.model_dump(exclude_none=True), "finish_reason": choice.finish_reason}
    text, calls, finish = "", {}, None
    for chunk in client.chat.completions.create(model=model, messages=messages, stream=True, **kw):
        assert chunk.model == model
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or ():
                call = calls.setdefault(delta.index, {"type": "function", "function": {"arguments": ""}})
                call["id"] = delta.id or call.get("id")
                if delta.function and delta.function.name:
                    call["function"]["name"] = delta.function.name
                call["function"]["arguments"] += (delta.function and delta.function.arguments) or ""
    message: dict[str, Any] = {"role": "assistant", "content": text, "finish_reason": finish}
    return {**message, "tool_calls": [calls[i] for i in sorted(calls)]} if calls else message


def messages(proxy: Proxy, model: str, turns: list[Any], stream: bool, **kw: Any) -> anthropic.types.Message:
    client = claude(proxy, kw.pop("key", None))
    if not stream:
        return client.messages.create(model=model, max_tokens=200, messages=turns, **kw)
    with client.messages.stream(model=model, max_tokens=200, messages=turns, **kw) as events:
        return events.get_final_message()


def responses(proxy: Proxy, model: str, items: Any, stream: bool, **kw: Any) -> Any:
    client = oai(proxy, kw.pop("key", None))
    if not stream:
        return client.responses.create(model=model, input=items, **kw)
    events = list(client.responses.create(model=model, input=items, stream=True, **kw))
    assert events[-1].type in ("response.completed", "response.incomplete"), events[-1]
    return events[-1].response


@pytest.mark.parametrize("model", ORCHESTRATED)
def test_answered_through_orchestration_in_each_api(orchestrated: Proxy, model: str) -> None:
    ids = []
    for stream in (False, True):
        raw = oai(orchestrated).chat.completions.with_raw_response.create(
            model=model, messages=[{"role": "user", "content": "Hi"}], stream=stream
        )
        ids.append(raw.headers["x-request-id"])
        if stream:
            list(raw.parse())
        whole = chat(orchestrated, model, [{"role": "user", "content": "Hi"}], stream)
        assert model in whole["content"] and whole["finish_reason"] == "stop"
        answer = messages(orchestrated, model, [{"role": "user", "content": "Hi"}], stream)
        assert answer.model == model and answer.stop_reason == "end_turn"
        assert answer.content[0].text == whole["content"]
        reply = responses(orchestrated, model, "Hi", stream)
        assert reply.status == "completed" and reply.output_text == whole["content"]
    lines = {line["request_id"]: line for line in request_log_lines(orchestrated.log, ids)}
    assert [(lines[i]["model"], lines[i]["route"]) for i in ids] == [(model, "orchestration")] * 2


@STREAM
@pytest.mark.parametrize("model", WITH_TOOLS)
def test_chat_tool_call_and_result(orchestrated: Proxy, model: str, stream: bool) -> None:
    turns: list[Any] = [{"role": "user", "content": ASK_TOOL}]
    first = chat(orchestrated, model, turns, stream, tools=CHAT_TOOLS)
    assert first["finish_reason"] == "tool_calls"
    (call,) = first["tool_calls"]
    assert call["function"]["name"] == "get_weather" and "city" in json.loads(call["function"]["arguments"])
    first.pop("finish_reason")
    turns += [first, {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}]
    second = chat(orchestrated, model, turns, stream, tools=CHAT_TOOLS)
    assert second["finish_reason"] == "stop" and model in second["content"]


@STREAM
@pytest.mark.parametrize("model", WITH_TOOLS)
def test_messages_tool_use_and_result(orchestrated: Proxy, model: str, stream: bool) -> None:
    turns: list[Any] = [{"role": "user", "content": ASK_TOOL}]
    first = messages(orchestrated, model, turns, stream, tools=MESSAGES_TOOLS)
    assert first.stop_reason == "tool_use"
    (use,) = [b for b in first.content if b.type == "tool_use"]
    assert use.name == "get_weather" and isinstance(use.input, dict) and "city" in use.input
    turns += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    second = messages(orchestrated, model, turns, stream, tools=MESSAGES_TOOLS)
    assert second.stop_reason == "end_turn" and model in second.content[0].text


@STREAM
@pytest.mark.parametrize("model", WITH_TOOLS)
def test_responses_function_call_and_output(orchestrated: Proxy, model: str, stream: bool) -> None:
    items: list[Any] = [{"role": "user", "content": ASK_TOOL}]
    first = responses(orchestrated, model, items, stream, tools=RESPONSES_TOOLS)
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)
    items += [
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "sunny"},
    ]
    second = responses(orchestrated, model, items, stream, tools=RESPONSES_TOOLS)
    assert second.status == "completed" and model in second.output_text


@pytest.mark.parametrize("model", [n for n in ORCHESTRATED if n not in WITH_TOOLS])
def test_a_model_without_tools_is_refused_in_each_api(orchestrated: Proxy, model: str) -> None:
    turns = [{"role": "user", "content": ASK_TOOL}]
    with pytest.raises(openai.BadRequestError) as refused:
        chat(orchestrated, model, turns, False, tools=CHAT_TOOLS)
    assert (
        refused.value.param == "tools" and f"model '{model}' does not support tools" in refused.value.message
    )
    with pytest.raises(anthropic.BadRequestError) as refused_messages:
        messages(orchestrated, model, turns, False, tools=MESSAGES_TOOLS)
    assert f"model '{model}' does not support tools" in refused_messages.value.message
    with pytest.raises(openai.BadRequestError):
        responses(orchestrated, model, ASK_TOOL, False, tools=RESPONSES_TOOLS)


@STREAM
@pytest.mark.parametrize("model", ORCHESTRATED)
def test_filter_blocks_in_each_api(orchestrated: Proxy, model: str, stream: bool) -> None:
    """With no filter configured the simulator's directive alone blocks (docs/simulator.md): the
    input filter is a 400 in each API's shape, the output filter an answer blanked."""
    blocked_in = [{"role": "user", "content": "[[sim:filter=input]] rob a bank"}]
    with pytest.raises(openai.BadRequestError) as refused:
        chat(orchestrated, model, blocked_in, stream)
    assert refused.value.code == "content_filter" and "Input Filter" in refused.value.message
    with pytest.raises(anthropic.BadRequestError) as refused_messages:
        messages(orchestrated, model, blocked_in, stream)
    assert refused_messages.value.body["error"]["type"] == "invalid_request_error"
    assert "Input Filter" in refused_messages.value.message
    with pytest.raises(openai.BadRequestError) as refused_responses:
        responses(orchestrated, model, blocked_in[0]["content"], stream)
    assert refused_responses.value.code == "content_filter"
    blocked_out = [{"role": "user", "content": "[[sim:filter=output]] a story"}]
    blanked = chat(orchestrated, model, blocked_out, stream)
    assert blanked["finish_reason"] == "content_filter" and not blanked.get("content")
    assert messages(orchestrated, model, blocked_out, stream).stop_reason == "refusal"
    incomplete = responses(orchestrated, model, blocked_out[0]["content"], stream)
    assert incomplete.status == "incomplete" and incomplete.incomplete_details.reason == "content_filter"


@STREAM
@pytest.mark.parametrize("model", ORCHESTRATED)
def test_masking_for_one_key_with_pseudonyms_put_back(orchestrated: Proxy, model: str, stream: bool) -> None:
    """The simulator's model repeats the prompt it received: masked, for MASKED_KEY, with the
    pseudonyms unmasked again in the answer; the demo key's request is not masked."""
    ask = [{"role": "user", "content": PII}]
    shown = {"x-ftproxy-orchestration-intermediate": "true"}
    seen = oai(orchestrated, MASKED_KEY).chat.completions.create(
        model=model, messages=ask, extra_headers=shown
    )
    results = (seen.model_extra or {})["intermediate_results"]
    assert "MASKED_EMAIL_1" in results["llm"]["choices"][0]["message"]["content"]
    assert "MASKED_PERSON_1" in results["input_masking"]["data"]["masked_template"]
    answer = chat(orchestrated, model, ask, stream, key=MASKED_KEY)["content"]
    assert "alice@example.com" in answer and "John Smith" in answer and "MASKED_" not in answer
    assert messages(orchestrated, model, ask, stream, key=MASKED_KEY).content[0].text == answer
    assert responses(orchestrated, model, PII, stream, key=MASKED_KEY).output_text == answer
    plain = oai(orchestrated).chat.completions.create(model=model, messages=ask, extra_headers=shown)
    assert "input_masking" not in (plain.model_extra or {})["intermediate_results"]
