"""A model served only through SAP's Orchestration Service, through the real proxy, with the real
OpenAI and Anthropic SDKs: JSON, SSE, tools round trip, filter blocks, module results on request,
embeddings, and the route in the log line and in /metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from processes import proxy_config, request_log_lines, running_proxy

from ftproxy.demo import DEMO_KEY
from ftproxy.simulator import catalog

pytestmark = pytest.mark.e2e

# Served only through orchestration: left out of deployment_models below. Mistral when the
# simulator's catalog has it; until then a catalog model the config does not deploy directly.
MODEL = (
    "mistralai--mistral-large-instruct"
    if catalog.find("mistralai--mistral-large-instruct")
    else "gpt-4o-mini"
)
EMBEDDINGS = "text-embedding-3-large"
INTERMEDIATE = {"x-ftproxy-orchestration-intermediate": "true"}
HI = [{"role": "user", "content": "Hi"}]
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
ANTHROPIC_TOOLS = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER}]


@dataclass(frozen=True)
class Orchestrated:
    root: str
    log: Path

    @property
    def url(self) -> str:
        return self.root + "/v1"


@pytest.fixture(scope="module")
def orch(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orchestrated]:
    folder = tmp_path_factory.mktemp("orchestrated")
    path = proxy_config(folder, simulator, discovery={"enabled": False})
    config = json.loads(path.read_text())
    demo = config["subAccounts"]["demo"]
    demo["orchestration_deployment"] = catalog.deployment_id("orchestration")
    for name in (MODEL, EMBEDDINGS):
        demo["deployment_models"].pop(name, None)
    path.write_text(json.dumps(config))
    with running_proxy(path, folder) as (root, log):
        yield Orchestrated(root, log)


@pytest.fixture
def oai(orch: Orchestrated) -> openai.OpenAI:
    return openai.OpenAI(base_url=orch.url, api_key=DEMO_KEY, max_retries=0)


@pytest.fixture
def claude(orch: Orchestrated) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=orch.root, api_key=DEMO_KEY, max_retries=0)


def test_chat_json_names_the_model_and_keeps_module_results(oai: openai.OpenAI) -> None:
    answer = oai.chat.completions.create(model=MODEL, messages=HI)
    assert answer.model == MODEL and answer.choices[0].finish_reason == "stop"
    assert MODEL in (answer.choices[0].message.content or "")
    assert answer.usage is not None and answer.usage.completion_tokens == 16
    assert "intermediate_results" not in (answer.model_extra or {})
    asked = oai.chat.completions.create(model=MODEL, messages=HI, extra_headers=INTERMEDIATE)
    results = (asked.model_extra or {})["intermediate_results"]
    assert results["templating"][-1]["content"] == "Hi" and "llm" in results


def test_chat_stream_matches_json(oai: openai.OpenAI, orch: Orchestrated) -> None:
    whole = oai.chat.completions.create(model=MODEL, messages=HI)
    chunks = list(
        oai.chat.completions.create(
            model=MODEL, messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 16
    body = {"model": MODEL, "messages": HI, "stream": True}
    auth = {"Authorization": f"Bearer {DEMO_KEY}"}
    plain = httpx.post(orch.url + "/chat/completions", json=body, headers=auth, timeout=30).text
    assert "intermediate_results" not in plain and "templating" not in plain
    shown = httpx.post(
        orch.url + "/chat/completions", json=body, headers={**auth, **INTERMEDIATE}, timeout=30
    )
    assert ": intermediate_results {" in shown.text and shown.text.rstrip().endswith("data: [DONE]")


def test_chat_tool_round_trip(oai: openai.OpenAI) -> None:
    messages: list = [{"role": "user", "content": "Weather? [[sim:tool=get_weather]]"}]
    first = oai.chat.completions.create(model=MODEL, messages=messages, tools=OPENAI_TOOLS)
    assert first.choices[0].finish_reason == "tool_calls"
    call = first.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and "city" in json.loads(call.function.arguments)
    messages += [first.choices[0].message.model_dump(exclude_none=True)]
    messages += [{"role": "tool", "tool_call_id": call.id, "content": "sunny"}]
    second = oai.chat.completions.create(model=MODEL, messages=messages, tools=OPENAI_TOOLS)
    assert second.choices[0].finish_reason == "stop" and second.choices[0].message.content


def test_chat_filters(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "[[sim:filter=input]]"}]
        )
    assert caught.value.code == "content_filter"
    assert "Input Filter" in caught.value.message and "intermediate_results" not in str(caught.value.body)
    blocked = oai.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "[[sim:filter=output]]"}]
    )
    assert blocked.choices[0].finish_reason == "content_filter" and not blocked.choices[0].message.content
    streamed = list(
        oai.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "[[sim:filter=output]]"}], stream=True
        )
    )
    assert [c.choices[0].finish_reason for c in streamed if c.choices][-1] == "content_filter"


def test_anthropic_json_stream_and_tools(claude: anthropic.Anthropic) -> None:
    answer = claude.messages.create(model=MODEL, max_tokens=200, messages=HI)
    assert answer.model == MODEL and answer.stop_reason == "end_turn" and MODEL in answer.content[0].text
    with claude.messages.stream(model=MODEL, max_tokens=200, messages=HI) as stream:
        streamed = stream.get_final_message()
    assert streamed.content[0].text == answer.content[0].text
    assert streamed.usage.output_tokens == answer.usage.output_tokens
    ask = [{"role": "user", "content": "Weather? [[sim:tool=get_weather]]"}]
    first = claude.messages.create(model=MODEL, max_tokens=200, messages=ask, tools=ANTHROPIC_TOOLS)
    assert first.stop_reason == "tool_use"
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.name == "get_weather" and "city" in use.input
    turns = [
        *ask,
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]},
    ]
    second = claude.messages.create(model=MODEL, max_tokens=200, messages=turns, tools=ANTHROPIC_TOOLS)
    assert second.stop_reason == "end_turn" and second.content[0].text


def test_anthropic_filters(claude: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "[[sim:filter=input]]"}]
        )
    assert "Input Filter" in caught.value.message
    blocked = claude.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "[[sim:filter=output]]"}]
    )
    assert blocked.stop_reason == "refusal"


def test_responses(oai: openai.OpenAI) -> None:
    answer = oai.responses.create(model=MODEL, input="Hi")
    assert answer.status == "completed" and MODEL in answer.output_text
    blocked = oai.responses.create(model=MODEL, input="[[sim:filter=output]]")
    assert blocked.status == "incomplete" and blocked.incomplete_details.reason == "content_filter"


def test_embeddings_through_orchestration(oai: openai.OpenAI) -> None:
    answer = oai.embeddings.create(model=EMBEDDINGS, input=["a", "b"], dimensions=32)
    assert answer.model == EMBEDDINGS and [d.index for d in answer.data] == [0, 1]
    assert len(answer.data[0].embedding) == 32 and answer.usage.prompt_tokens == 2


def test_unknown_model_is_the_services_400(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(model="no-such-model-anywhere", messages=HI)
    assert "LLM Module" in caught.value.message


def test_route_in_log_line_and_metrics(oai: openai.OpenAI, orch: Orchestrated) -> None:
    via = oai.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
    direct = oai.chat.completions.with_raw_response.create(model="gpt-4.1", messages=HI)
    ids = [via.headers["x-request-id"], direct.headers["x-request-id"]]
    lines = {line["request_id"]: line for line in request_log_lines(orch.log, ids)}
    assert lines[ids[0]]["route"] == "orchestration" and lines[ids[1]]["route"] == "direct"
    scraped = httpx.get(orch.root + "/metrics", timeout=30).text
    routes = {
        line.split("{", 1)[1].split("}", 1)[0]
        for line in scraped.splitlines()
        if line.startswith("ftproxy_model_requests_total{")
    }
    assert any('route="orchestration"' in labels for labels in routes), routes
    assert any('route="direct"' in labels for labels in routes), routes
