"""SAP's own SDK (sap-ai-sdk-gen, module `gen_ai_hub`) against the simulator: proof of fidelity.

The SDK discovers deployments from the listing; the fixtures (`conftest.py`, `sdk_support.py`)
point it at a simulator of this module's own and skip when the SDK (or its `amazon`/`google`
extras) is not installed, unless FTPROXY_REQUIRE_SDK=1 (CI).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from sdk_support import need

from ftproxy.simulator import catalog

pytestmark = pytest.mark.sdk_contract

SONNET = "anthropic--claude-4.5-sonnet"
HI = "Say hi"
ANSWER_WORDS = 16


@pytest.fixture(scope="module")
def openai_client(proxy_client: Any) -> Any:
    return need("gen_ai_hub.proxy.native.openai").OpenAI(proxy_client=proxy_client)


@pytest.fixture(scope="module")
def bedrock(proxy_client: Any) -> Any:
    clients = need("gen_ai_hub.proxy.native.amazon.clients", "[amazon]")
    return clients.Session().client(model_name=SONNET, proxy_client=proxy_client)


@pytest.fixture
def gemini(proxy_client: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    clients = need("gen_ai_hub.proxy.native.google_genai.clients", "[google]")
    # The module caches model -> deployment process-wide; start empty so it resolves here.
    monkeypatch.setattr(clients, "_deployment_cache", {})
    return clients.Client(proxy_client=proxy_client)


def stats(base: str) -> dict[str, Any]:
    return dict(httpx.get(f"{base}/_sim/stats", timeout=10).json())


def test_deployment_discovery(proxy_client: Any, sim_base: str) -> None:
    deployments = {d.model_name: d for d in proxy_client.deployments}
    # Models offered only through orchestration have no deployment of their own.
    assert set(deployments) == {m.name for m in catalog.DEFAULT_MODELS if m.deployed}
    for spec in catalog.DEFAULT_MODELS:
        if not spec.deployed:
            continue
        dep = deployments[spec.name]
        assert dep.deployment_id == catalog.deployment_id(spec.name)
        assert dep.url == f"{sim_base}/v2/inference/deployments/{dep.deployment_id}"
        assert dep.model_version == spec.version
    assert proxy_client.select_deployment(model_name="gpt-4.1").deployment_id == catalog.deployment_id(
        "gpt-4.1"
    )
    assert stats(sim_base)["tokens_issued"] >= 1


def test_openai_chat(openai_client: Any) -> None:
    answer = openai_client.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": HI}]
    )
    assert answer.choices[0].finish_reason == "stop"
    assert len(answer.choices[0].message.content.split()) == ANSWER_WORDS
    assert answer.usage.completion_tokens == ANSWER_WORDS


def test_openai_chat_stream(openai_client: Any) -> None:
    whole = openai_client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": HI}])
    chunks = list(
        openai_client.chat.completions.create(
            model="gpt-4.1",
            messages=[{"role": "user", "content": HI}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len({c.id for c in chunks}) == 1
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens


def test_openai_tool_call_stream(openai_client: Any) -> None:
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    chunks = list(
        openai_client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "[[sim:tool=get_weather]]"}],
            tools=[tool],
            stream=True,
        )
    )
    calls = [
        tc
        for c in chunks
        if c.choices and c.choices[0].delta.tool_calls
        for tc in c.choices[0].delta.tool_calls
    ]
    assert calls[0].function.name == "get_weather"
    assert json.loads("".join(tc.function.arguments or "" for tc in calls)) == {}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_openai_embeddings(openai_client: Any) -> None:
    result = openai_client.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert [len(d.embedding) for d in result.data] == [1536, 1536]
    assert result.usage.prompt_tokens == 2
    small = openai_client.embeddings.create(model="text-embedding-3-small", input="one", dimensions=64)
    assert len(small.data[0].embedding) == 64


def _invoke_body(**extra: Any) -> str:
    return json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 200,
            "messages": [{"role": "user", "content": HI}],
            **extra,
        }
    )


def test_bedrock_invoke_model(bedrock: Any) -> None:
    reply = bedrock.invoke_model(body=_invoke_body())
    message = json.loads(reply["body"].read())
    assert message["type"] == "message" and message["stop_reason"] == "end_turn"
    assert message["usage"]["output_tokens"] == ANSWER_WORDS


def test_bedrock_invoke_model_with_response_stream(bedrock: Any) -> None:
    """boto3 decodes the binary event stream and checks both CRCs of every frame."""
    reply = bedrock.invoke_model_with_response_stream(body=_invoke_body())
    events = [json.loads(part["chunk"]["bytes"]) for part in reply["body"]]
    assert events[0]["type"] == "message_start" and events[-1]["type"] == "message_stop"
    text = "".join(e["delta"]["text"] for e in events if e["type"] == "content_block_delta")
    assert len(text.split()) == ANSWER_WORDS
    assert events[-2]["usage"]["output_tokens"] == ANSWER_WORDS


def test_bedrock_converse(bedrock: Any) -> None:
    reply = bedrock.converse(
        messages=[{"role": "user", "content": [{"text": HI}]}], inferenceConfig={"maxTokens": 50}
    )
    assert reply["stopReason"] == "end_turn"
    assert len(reply["output"]["message"]["content"][0]["text"].split()) == ANSWER_WORDS
    assert reply["usage"]["outputTokens"] == ANSWER_WORDS


def test_bedrock_converse_stream(bedrock: Any) -> None:
    reply = bedrock.converse_stream(messages=[{"role": "user", "content": [{"text": HI}]}])
    events = list(reply["stream"])
    assert next(iter(events[0])) == "messageStart" and "metadata" in events[-1]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert len(text.split()) == ANSWER_WORDS
    assert events[-1]["metadata"]["usage"]["outputTokens"] == ANSWER_WORDS


def test_bedrock_converse_stream_tool_use(bedrock: Any) -> None:
    tools = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}
    reply = bedrock.converse_stream(
        messages=[{"role": "user", "content": [{"text": "[[sim:tool=get_weather]]"}]}], toolConfig=tools
    )
    events = list(reply["stream"])
    start = next(e["contentBlockStart"] for e in events if "contentBlockStart" in e)
    assert start["start"]["toolUse"]["name"] == "get_weather"
    assert next(e["messageStop"] for e in events if "messageStop" in e)["stopReason"] == "tool_use"


def test_gemini_generate_content(gemini: Any) -> None:
    reply = gemini.models.generate_content(model="gemini-2.5-pro", contents=HI)
    assert len(reply.text.split()) == ANSWER_WORDS
    assert reply.usage_metadata.candidates_token_count == ANSWER_WORDS
    assert reply.candidates[0].finish_reason.name == "STOP"


def test_gemini_generate_content_stream(gemini: Any) -> None:
    whole = gemini.models.generate_content(model="gemini-2.5-pro", contents=HI)
    chunks = list(gemini.models.generate_content_stream(model="gemini-2.5-pro", contents=HI))
    assert "".join(c.text or "" for c in chunks) == whole.text
    assert chunks[-1].usage_metadata.total_token_count == whole.usage_metadata.total_token_count
