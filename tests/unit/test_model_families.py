"""Model names → family and upstream API, the per-model rules, and the routes the table picks
(table-driven)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from ftproxy import convert
from ftproxy.config_sections import parse_model_routes
from ftproxy.convert import ClientApi, ClientRequestError, UpstreamApi
from ftproxy.convert.model_rules import short_id
from ftproxy.errors import ConfigError
from ftproxy.models import Family, ModelRegistry, classify
from ftproxy.settings import Config, ServiceKey, Subaccount
from ftproxy.upstream.discovery import Discovered, merged

CHAT, MESSAGES, RESPONSES = ClientApi.OPENAI_CHAT, ClientApi.ANTHROPIC_MESSAGES, ClientApi.OPENAI_RESPONSES
COMPAT = UpstreamApi.OPENAI_COMPATIBLE_CHAT

FAMILIES = [
    ("gpt-4o", Family.GPT, UpstreamApi.AZURE_OPENAI_CHAT),
    ("o3", Family.GPT, UpstreamApi.AZURE_OPENAI_CHAT),
    ("anthropic--claude-3.5-sonnet", Family.CLAUDE, UpstreamApi.BEDROCK_INVOKE),
    ("anthropic--claude-4.5-sonnet", Family.CLAUDE, UpstreamApi.BEDROCK_CONVERSE),
    ("gemini-2.5-flash", Family.GEMINI, UpstreamApi.VERTEX_GEMINI),
    ("mistralai--mistral-large-instruct", Family.MISTRAL, COMPAT),
    ("mistralai--mixtral-8x7b-instruct-v01", Family.MISTRAL, COMPAT),
    ("meta--llama3.1-70b-instruct", Family.LLAMA, COMPAT),
    ("amazon--nova-pro", Family.NOVA, UpstreamApi.BEDROCK_CONVERSE),
    ("amazon--nova-micro", Family.NOVA, UpstreamApi.BEDROCK_CONVERSE),
    ("ibm--granite-13b-chat", Family.IBM, COMPAT),
    ("deepseek-ai--deepseek-r1", Family.DEEPSEEK, COMPAT),
    ("sonar", Family.PERPLEXITY, COMPAT),
    ("sonar-pro", Family.PERPLEXITY, COMPAT),
    ("some-future-model", Family.GPT, UpstreamApi.AZURE_OPENAI_CHAT),
]


@pytest.mark.parametrize(("model", "family", "api"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_classify(model: str, family: Family, api: UpstreamApi) -> None:
    assert classify(model)[:2] == (family, api)


HI = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
ANTHROPIC_TOOL = {"name": "f", "input_schema": {"type": "object"}}
RESPONSES_TOOL = {"type": "function", "name": "f", "parameters": {"type": "object"}}
IMAGE = "data:image/png;base64,iVBORw0KGgo="
IMAGE_CHAT = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMAGE}}]}]
IMAGE_MESSAGES = [
    {
        "role": "user",
        "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
        ],
    }
]
IMAGE_RESPONSES = [{"role": "user", "content": [{"type": "input_image", "image_url": IMAGE}]}]

REFUSED = [
    ("sonar", CHAT, {"messages": HI, "tools": [TOOL]}, "tools"),
    ("sonar-pro", MESSAGES, {"max_tokens": 10, "messages": HI, "tools": [ANTHROPIC_TOOL]}, "tools"),
    ("deepseek-ai--deepseek-r1", RESPONSES, {"input": "hi", "tools": [RESPONSES_TOOL]}, "tools"),
    ("ibm--granite-13b-chat", CHAT, {"messages": HI, "tools": [TOOL]}, "tools"),
    ("amazon--nova-micro", CHAT, {"messages": IMAGE_CHAT}, "messages"),
    ("amazon--nova-micro", MESSAGES, {"max_tokens": 10, "messages": IMAGE_MESSAGES}, "messages"),
    ("meta--llama3.1-70b-instruct", RESPONSES, {"input": IMAGE_RESPONSES}, "input"),
    ("deepseek-ai--deepseek-r1", CHAT, {"messages": IMAGE_CHAT}, "messages"),
]


def _upstream(model: str) -> UpstreamApi:
    return classify(model)[1]


@pytest.mark.parametrize(
    ("model", "client", "body", "param"), REFUSED, ids=[f"{r[0]}-{r[3]}" for r in REFUSED]
)
def test_a_refused_parameter_is_a_400_naming_it(
    model: str, client: ClientApi, body: dict[str, Any], param: str
) -> None:
    with pytest.raises(ClientRequestError) as caught:
        convert.build_request(client, _upstream(model), {"model": model, **body}, model=model, stream=False)
    assert caught.value.param == param and model in caught.value.message
    # through the Orchestration Service the model refuses the same
    with pytest.raises(ClientRequestError):
        convert.build_request(
            client, UpstreamApi.ORCHESTRATION, {"model": model, **body}, model=model, stream=False
        )


ALLOWED = [
    ("sonar", CHAT, {"messages": IMAGE_CHAT}),  # Sonar takes images
    ("amazon--nova-pro", CHAT, {"messages": IMAGE_CHAT, "tools": [TOOL]}),
    ("mistralai--mistral-medium-instruct", CHAT, {"messages": HI, "tools": [TOOL]}),
    ("gpt-4o", MESSAGES, {"max_tokens": 10, "messages": IMAGE_MESSAGES, "tools": [ANTHROPIC_TOOL]}),
]


@pytest.mark.parametrize(("model", "client", "body"), ALLOWED, ids=[a[0] for a in ALLOWED])
def test_what_a_model_takes_passes(model: str, client: ClientApi, body: dict[str, Any]) -> None:
    convert.build_request(client, _upstream(model), {"model": model, **body}, model=model, stream=False)


def test_nova_caps_output_and_drops_what_is_not_a_nova_parameter() -> None:
    body = {
        "model": "nova",
        "max_tokens": 32000,
        "top_k": 5,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": HI,
    }
    request = convert.build_request(
        MESSAGES, UpstreamApi.BEDROCK_CONVERSE, body, model="amazon--nova-lite", stream=False,
        headers={"anthropic-beta": "interleaved-thinking-2025-05-14"},
    )  # fmt: skip
    assert request.body["inferenceConfig"] == {"maxTokens": 5000}
    assert "additionalModelRequestFields" not in request.body
    assert body["max_tokens"] == 32000  # the client's dict is not changed
    chat = convert.build_request(
        CHAT, UpstreamApi.BEDROCK_CONVERSE, {"messages": HI}, model="amazon--nova-pro", stream=False
    )
    assert chat.body["inferenceConfig"]["maxTokens"] == 5000


@pytest.mark.parametrize("client", list(ClientApi))
def test_openai_compatible_route_names_the_deployments_model_without_api_version(client: ClientApi) -> None:
    body = {"model": "my-alias", "max_tokens": 10, "messages": HI, "input": "hi"}
    request = convert.build_request(
        client, COMPAT, body, model="mistralai--mistral-large-instruct", stream=True
    )
    assert request.path == "/chat/completions"
    assert request.body["model"] == "mistralai--mistral-large-instruct"
    assert request.body["messages"][-1]["content"] == "hi"
    assert request.body["stream_options"] == {"include_usage": True}
    assert "input" not in request.body or client is CHAT


def _config(**fields: Any) -> Config:
    key = ServiceKey("id", "secret", "https://auth", "https://ai")
    sub = Subaccount(
        "s1",
        "default",
        key,
        {"gpt-4o": ("https://ai/d/gpt",), "mistralai--mistral-large-instruct": ("https://ai/d/m",)},
    )
    return Config(subaccounts=(replace(sub, **fields.pop("sub", {})),), clients=(), **fields)


ORCH = {"orchestration_url": "https://ai/d/o"}
ROUTES = [
    # (config, model, expected route or None: not served)
    ({}, "gpt-4o", "direct"),
    ({}, "unknown-model", None),  # no orchestration deployment: nothing serves it
    ({"sub": ORCH}, "unknown-model", "orchestration"),
    ({"sub": ORCH}, "gpt-4o", "direct"),
    ({"sub": ORCH, "model_routes": (("gpt-4o", "orchestration"),)}, "gpt-4o", "orchestration"),
    ({"sub": ORCH, "model_routes": (("mistralai--*", "orchestration"),)}, "mistralai--mistral-large-instruct",
     "orchestration"),
    ({"sub": ORCH, "model_routes": (("mistralai--*", "orchestration"),)}, "gpt-4o", "direct"),
    ({"sub": ORCH, "model_routes": (("future-*", "direct"),)}, "future-1", None),
    ({"model_routes": (("gpt-4o", "orchestration"),)}, "gpt-4o", "direct"),  # no orchestration deployment
]  # fmt: skip


@pytest.mark.parametrize(("fields", "model", "route"), ROUTES)
def test_routes(fields: dict[str, Any], model: str, route: str | None) -> None:
    registry = ModelRegistry(_config(**fields))
    found = registry.get(model)
    if route is None:
        assert found is None
        return
    assert found is not None
    api = found.items[0].api
    assert ("orchestration" if api is UpstreamApi.ORCHESTRATION else "direct") == route
    listed = {e.name: e.route for e in registry.entries()}
    if model in listed:
        assert listed[model] == route


def test_entries_name_family_route_and_subaccounts() -> None:
    registry = ModelRegistry(
        _config(sub={"orchestration_url": "https://ai/d/o"}, model_routes=(("gpt-*", "orchestration"),))
    )
    assert {(e.name, e.family, e.route, e.subaccounts) for e in registry.entries()} == {
        ("gpt-4o", Family.GPT, "orchestration", ("s1",)),
        ("mistralai--mistral-large-instruct", Family.MISTRAL, "direct", ("s1",)),
    }


MERGES = [
    # (configured orchestration URL, discovered orchestration URLs, expected)
    (None, (), None),
    (None, ("https://ai/d/o1", "https://ai/d/o2"), "https://ai/d/o1"),
    ("https://ai/d/mine", ("https://ai/d/o1",), "https://ai/d/mine"),  # explicit config wins
]


@pytest.mark.parametrize(("configured", "discovered", "expected"), MERGES)
def test_a_discovered_orchestration_deployment_serves_when_none_is_configured(
    configured: str | None, discovered: tuple[str, ...], expected: str | None
) -> None:
    sub = _config(sub={"orchestration_url": configured, "deployments": {}}).subaccounts[0]
    (out,) = merged((sub,), {"s1": Discovered({}, discovered)})
    assert out.orchestration_url == expected
    (with_models,) = merged((sub,), {"s1": Discovered({"gpt-4o": ("https://ai/d/g",)}, discovered)})
    assert with_models.orchestration_url == expected and with_models.deployments == {
        "gpt-4o": ("https://ai/d/g",)
    }


ROUTE_CONFIGS = [
    ({"gpt-4o": "orchestration", "m*": "direct"}, (("gpt-4o", "orchestration"), ("m*", "direct")), None),
    ({"gpt-4o": "orchestrated"}, None, "model_routes.gpt-4o"),
    ({" gpt-4o": "direct"}, None, "model_routes. gpt-4o"),
    (["gpt-4o"], None, "model_routes"),
]  # fmt: skip


@pytest.mark.parametrize(("raw", "expected", "key"), ROUTE_CONFIGS)
def test_model_routes_config(raw: Any, expected: Any, key: str | None) -> None:
    if key is None:
        assert parse_model_routes(raw, source="config.json") == expected
        return
    with pytest.raises(ConfigError) as caught:
        parse_model_routes(raw, source="config.json")
    text = str(caught.value)
    assert "config.json" in text and key in text and "Fix: use" in text


TOOL_HISTORY = {
    "max_tokens": 50,
    "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01A", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18C"}]},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "RluueJ6B5", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "RluueJ6B5", "content": "19C"}]},
    ],
    "tools": [ANTHROPIC_TOOL],
}


def _ids(body: dict[str, Any]) -> list[str]:
    out = []
    for m in body["messages"]:
        out.extend(c["id"] for c in m.get("tool_calls") or ())
        if "tool_call_id" in m:
            out.append(m["tool_call_id"])
    return out


def test_mistral_gets_tool_call_ids_of_9_letters_and_digits_consistently() -> None:
    mistral = convert.build_request(
        MESSAGES,
        COMPAT,
        {"model": "m", **TOOL_HISTORY},
        model="mistralai--mistral-medium-instruct",
        stream=False,
    )
    first, first_result, own, own_result = _ids(mistral.body)
    assert first == first_result != "toolu_01A" and len(first) == 9 and first.isalnum()
    assert own == own_result == "RluueJ6B5"  # Mistral's own ids pass unchanged
    chat = {"model": "m", "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_abc123", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_abc123", "content": "18C"},
    ]}  # fmt: skip
    passthrough = convert.build_request(
        CHAT, COMPAT, chat, model="mistralai--mistral-large-instruct", stream=False
    )
    assert _ids(passthrough.body)[0] == _ids(passthrough.body)[1] == short_id("call_abc123")
    assert chat["messages"][2]["tool_call_id"] == "call_abc123"  # the client's dict is not changed
    # other models, and Mistral behind the Orchestration Service, keep the client's ids
    other = convert.build_request(
        MESSAGES, COMPAT, {"model": "m", **TOOL_HISTORY}, model="meta--llama3.3-70b-instruct", stream=False
    )
    assert _ids(other.body)[0] == "toolu_01A"
