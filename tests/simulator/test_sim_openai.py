"""GPT deployments: Azure OpenAI chat completions (JSON and SSE) and embeddings."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from ftproxy.simulator.testing import SimClient, sse_data, sse_json

pytestmark = pytest.mark.e2e

HI = [{"role": "user", "content": "Say hi"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_chat_json(sim: SimClient) -> None:
    reply = sim.chat({"messages": HI})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["model"] == "gpt-4.1-2025-04-14" and isinstance(body["created"], int)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["message"]["role"] == "assistant"
    assert len(choice["message"]["content"].split()) == 16
    assert "content_filter_results" in choice and body["prompt_filter_results"][0]["prompt_index"] == 0
    usage = body["usage"]
    assert usage["completion_tokens"] == 16 and usage["prompt_tokens"] >= 1
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_stream_false_is_not_streamed(sim: SimClient) -> None:
    reply = sim.chat({"messages": HI, "stream": False})
    assert reply.json()["object"] == "chat.completion"


def test_chat_sse(sim: SimClient) -> None:
    reply = sim.chat({"messages": HI, "stream": True})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/event-stream")
    data = sse_data(reply.text)
    assert data.count("[DONE]") == 1 and data[-1] == "[DONE]"
    chunks = sse_json(reply.text)
    # Azure's first chunk: no choices, only the prompt filter results.
    assert chunks[0]["choices"] == [] and "prompt_filter_results" in chunks[0]
    assert chunks[1]["choices"][0]["delta"]["role"] == "assistant"
    assert len({c["id"] for c in chunks}) == 1 and len({c["created"] for c in chunks}) == 1
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    words = [c["choices"][0]["delta"].get("content") for c in chunks[2:-1]]
    assert len(words) == 16 and all(words)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["choices"][0]["delta"] == {}
    assert all("usage" not in c for c in chunks)
    assert "".join(words) == sim.chat({"messages": HI}).json()["choices"][0]["message"]["content"]


def test_chat_sse_usage_only_when_asked(sim: SimClient) -> None:
    reply = sim.chat({"messages": HI, "stream": True, "stream_options": {"include_usage": True}})
    chunks = sse_json(reply.text)
    last = chunks[-1]
    assert last["choices"] == [] and last["usage"]["completion_tokens"] == 16
    assert all(c["usage"] is None for c in chunks[:-1])
    assert sse_data(reply.text).count("[DONE]") == 1


@pytest.mark.parametrize("field", ["max_tokens", "max_completion_tokens"])
def test_length_limit(sim: SimClient, field: str) -> None:
    body = sim.chat({"messages": HI, field: 5}).json()
    assert body["choices"][0]["finish_reason"] == "length"
    assert (
        len(body["choices"][0]["message"]["content"].split()) == 5 and body["usage"]["completion_tokens"] == 5
    )
    chunks = sse_json(sim.chat({"messages": HI, field: 5, "stream": True}).text)
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")) == 5


def test_missing_api_version_is_404(sim: SimClient) -> None:
    reply = sim.post("gpt-4.1", "chat/completions", {"messages": HI})
    assert reply.status_code == 404 and reply.json() == {
        "error": {"code": "404", "message": "Resource not found"}
    }


def test_reasoning_models_reject_temperature_and_max_tokens(sim: SimClient) -> None:
    reply = sim.chat({"messages": HI, "temperature": 0.2}, model="gpt-5")
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["param"] == "temperature" and error["code"] == "unsupported_value"
    assert error["type"] == "invalid_request_error"
    reply = sim.chat({"messages": HI, "max_tokens": 10}, model="gpt-5")
    assert reply.status_code == 400 and reply.json()["error"]["param"] == "max_tokens"
    assert (
        sim.chat({"messages": HI, "temperature": 1, "max_completion_tokens": 10}, model="gpt-5").status_code
        == 200
    )
    assert sim.chat({"messages": HI, "temperature": 0.2}, model="gpt-4.1").status_code == 200


def test_tool_call_json(sim: SimClient) -> None:
    messages = [{"role": "user", "content": "Weather in Paris? [[sim:tool=get_weather]]"}]
    body = sim.chat({"messages": messages, "tools": [WEATHER_TOOL]}).json()
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    (call,) = choice["message"]["tool_calls"]
    assert call["type"] == "function" and call["function"]["name"] == "get_weather"
    assert call["id"].startswith("call_") and json.loads(call["function"]["arguments"]) == {"city": "Paris"}


def test_tool_call_stream_in_fragments(sim: SimClient) -> None:
    messages = [{"role": "user", "content": "[[sim:tool=get_weather]] weather?"}]
    chunks = sse_json(sim.chat({"messages": messages, "tools": [WEATHER_TOOL], "stream": True}).text)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    calls = [d["tool_calls"][0] for d in deltas if d.get("tool_calls")]
    assert calls[0]["id"].startswith("call_") and calls[0]["function"]["name"] == "get_weather"
    fragments = [c["function"]["arguments"] for c in calls[1:]]
    assert len(fragments) > 1 and json.loads("".join(fragments)) == {"city": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_result_turn_gets_text(sim: SimClient) -> None:
    """Directives are read from the final user message only, so an agent loop terminates."""
    messages = [
        {"role": "user", "content": "[[sim:tool=get_weather]]"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    body = sim.chat({"messages": messages, "tools": [WEATHER_TOOL]}).json()
    assert body["choices"][0]["finish_reason"] == "stop" and body["choices"][0]["message"]["content"]


def test_bad_bodies(sim: SimClient) -> None:
    reply = sim.client.post(
        SimClient.path("gpt-4.1", "chat/completions?api-version=2024-12-01-preview"),
        content=b"{not json",
        headers={**sim.headers(), "content-type": "application/json"},
    )
    assert reply.status_code == 400 and "error" in reply.json()
    assert sim.chat({"messages": []}).status_code == 400


def test_wrong_family_endpoint(sim: SimClient) -> None:
    assert sim.post("gpt-4.1", "converse", {"messages": []}).status_code == 404
    reply = sim.post("gpt-4.1", "embeddings?api-version=2023-05-15", {"input": "x"})
    assert reply.status_code == 400 and reply.json()["error"]["code"] == "OperationNotSupported"
    assert sim.chat({"messages": HI}, model="text-embedding-3-small").status_code == 400


def test_embeddings(sim: SimClient) -> None:
    path = "embeddings?api-version=2023-05-15"
    body = sim.post("text-embedding-3-small", path, {"input": "hello world"}).json()
    assert body["object"] == "list" and body["model"] == "text-embedding-3-small"
    (item,) = body["data"]
    assert item["object"] == "embedding" and item["index"] == 0 and len(item["embedding"]) == 1536
    assert abs(sum(x * x for x in item["embedding"]) - 1.0) < 1e-3
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    again = sim.post("text-embedding-3-small", path, {"input": ["hello world", "other"]}).json()
    assert again["data"][0]["embedding"] == item["embedding"] and len(again["data"]) == 2
    small = sim.post("text-embedding-3-small", path, {"input": ["a", "b"], "dimensions": 8}).json()
    assert [len(d["embedding"]) for d in small["data"]] == [8, 8]
    b64 = sim.post(
        "text-embedding-3-small", path, {"input": "a", "dimensions": 8, "encoding_format": "base64"}
    )
    raw = base64.b64decode(b64.json()["data"][0]["embedding"])
    assert list(struct.unpack("<8f", raw)) == small["data"][0]["embedding"]
    tokens = sim.post("text-embedding-3-small", path, {"input": [[1, 2, 3]]}).json()
    assert tokens["usage"]["prompt_tokens"] == 3
    assert sim.post("text-embedding-3-small", path, {"input": "a", "dimensions": 99999}).status_code == 400
    assert sim.post("text-embedding-3-small", path, {"input": []}).status_code == 400
