"""Every model family SAP offers: its route, its answer through orchestration, its own rules."""

from __future__ import annotations

from typing import Any

import pytest

from ftproxy.simulator import catalog
from ftproxy.simulator.testing import SimClient, sse_json

pytestmark = pytest.mark.e2e

ANSWER_WORDS = 16
HI = [{"role": "user", "content": "Say hi"}]
CONVERSE = {"messages": [{"role": "user", "content": [{"text": "Say hi"}]}]}
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
COMPAT = [m for m in catalog.DEFAULT_MODELS if m.api == "openai-compat" and m.deployed]
NOVA = [m.name for m in catalog.DEFAULT_MODELS if m.family == "nova"]


def test_catalog_is_consistent() -> None:
    names = [m.name for m in catalog.DEFAULT_MODELS]
    assert len(set(names)) == len(names)
    ids = [catalog.deployment_id(n) for n in names] + [catalog.deployment_id("orchestration")]
    assert len(set(ids)) == len(ids)
    assert {m.family for m in catalog.DEFAULT_MODELS} == set(catalog.EXECUTABLES)
    for spec in catalog.DEFAULT_MODELS:
        assert spec.executable == catalog.EXECUTABLES[spec.family]
    # Created deployments get new ids, still deterministic.
    assert (
        catalog.deployment_id("sonar", 1)
        == catalog.deployment_id("sonar", 1)
        != catalog.deployment_id("sonar")
    )
    only = {m.name for m in catalog.DEFAULT_MODELS if not m.deployed}
    assert {
        "mistralai--mistral-small-instruct",
        "meta--llama3.1-70b-instruct",
        "ibm--granite-13b-chat",
    } <= only
    assert set(catalog.by_deployment_id().values()) == {m for m in catalog.DEFAULT_MODELS if m.deployed}


@pytest.mark.parametrize("spec", COMPAT, ids=[m.name for m in COMPAT])
def test_openai_compatible_route(sim: SimClient, spec: catalog.ModelSpec) -> None:
    """SAP's curl examples: `{deploymentUrl}/chat/completions`, model in the body, no api-version."""
    reply = sim.post(spec.name, "chat/completions", {"model": spec.name, "messages": HI})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["model"] == spec.name and spec.name in body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] == ANSWER_WORDS
    # SAP's SDK calls it through its OpenAI client, which adds api-version: accepted too.
    streamed = sim.post(
        spec.name, "chat/completions?api-version=2025-03-01-preview", {"messages": HI, "stream": True}
    )
    assert streamed.status_code == 200
    words = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in sse_json(streamed.text) if c["choices"]
    )
    assert words == body["choices"][0]["message"]["content"]


def test_openai_compatible_route_names_its_model(sim: SimClient) -> None:
    reply = sim.post("sonar", "chat/completions", {"model": "sonar-pro", "messages": HI})
    assert reply.status_code == 404
    large = sim.post("mistralai--mistral-large-instruct", "chat/completions", {"model": "x", "messages": HI})
    assert large.status_code == 404
    assert large.json() == {
        "object": "error",
        "message": "The model `x` does not exist.",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }


@pytest.mark.parametrize("name", NOVA)
def test_nova_takes_bedrock_converse(sim: SimClient, name: str) -> None:
    body = sim.post(name, "converse", CONVERSE).json()
    text = body["output"]["message"]["content"][0]["text"]
    assert name in text and body["usage"]["outputTokens"] == ANSWER_WORDS
    stream = sim.post(name, "converse-stream", CONVERSE)
    assert stream.status_code == 200
    # Nova has no Anthropic invoke route and no OpenAI route.
    assert sim.post(name, "invoke", {"messages": []}).status_code == 404
    assert sim.post(name, "chat/completions", {"messages": HI}).status_code == 404


def test_nova_refuses_more_than_5000_output_tokens(sim: SimClient) -> None:
    ok = sim.post("amazon--nova-pro", "converse", {**CONVERSE, "inferenceConfig": {"maxTokens": 5000}})
    assert ok.status_code == 200
    reply = sim.post("amazon--nova-pro", "converse", {**CONVERSE, "inferenceConfig": {"maxTokens": 5001}})
    assert reply.status_code == 400
    assert reply.headers["x-amzn-errortype"].startswith("ValidationException")
    assert "model limit of 5000" in reply.json()["message"]


@pytest.mark.parametrize("name", ["sonar", "sonar-pro"])
def test_perplexity_refuses_tools(sim: SimClient, name: str) -> None:
    reply = sim.post(name, "chat/completions", {"model": name, "messages": HI, "tools": [TOOL]})
    assert reply.status_code == 400
    assert reply.json() == {
        "error": {
            "message": "Tool calling is not supported for this model.",
            "type": "invalid_parameter",
            "code": 400,
        }
    }


def test_deepseek_refuses_tools_in_vllms_shape(sim: SimClient) -> None:
    name = "deepseek-ai--deepseek-r1"
    reply = sim.post(name, "chat/completions", {"model": name, "messages": HI, "tools": [TOOL]})
    assert reply.status_code == 400
    error = reply.json()
    assert error["object"] == "error" and error["type"] == "BadRequestError" and error["param"] == "tools"
    # Mistral takes tools (SAP's tool-calling example is for mistral-medium).
    medium = "mistralai--mistral-medium-instruct"
    called = sim.post(
        medium,
        "chat/completions",
        {"model": medium, "messages": HI, "tools": [TOOL], "tool_choice": "required"},
    )
    assert called.status_code == 200 and called.json()["choices"][0]["message"]["tool_calls"]


def _orchestrate(model: str) -> dict[str, Any]:
    prompt = {"template": [{"role": "user", "content": "Say hi"}]}
    return {"config": {"modules": {"prompt_templating": {"prompt": prompt, "model": {"name": model}}}}}


CHAT_MODELS = [m.name for m in catalog.DEFAULT_MODELS if m.api != "embeddings"]


@pytest.mark.parametrize("name", CHAT_MODELS)
def test_every_model_answers_through_orchestration(sim: SimClient, name: str) -> None:
    reply = sim.post("orchestration", "v2/completion", _orchestrate(name))
    assert reply.status_code == 200, reply.text
    final = reply.json()["final_result"]
    assert name in final["choices"][0]["message"]["content"]


@pytest.mark.parametrize("name", sorted(m.name for m in catalog.DEFAULT_MODELS if not m.deployed))
def test_orchestration_only_models_have_no_deployment(sim: SimClient, name: str) -> None:
    reply = sim.post(name, "chat/completions", {"model": name, "messages": HI})
    assert reply.status_code == 404
    assert catalog.deployment_id(name) in reply.json()["error"]["message"]


@pytest.mark.parametrize("name", sorted(m.name for m in catalog.DEFAULT_MODELS if "tools" in m.rejects))
def test_orchestration_relays_a_models_refusal_of_tools(sim: SimClient, name: str) -> None:
    body = _orchestrate(name)
    body["config"]["modules"]["prompt_templating"]["prompt"]["tools"] = [TOOL]
    reply = sim.post("orchestration", "v2/completion", body)
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["location"] == "LLM Module" and "tool" in error["message"].lower()
    # the same model without tools answers
    assert sim.post("orchestration", "v2/completion", _orchestrate(name)).status_code == 200
