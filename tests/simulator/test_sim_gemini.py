"""Gemini deployments: Vertex generateContent and streamGenerateContent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ftproxy.simulator.testing import SimClient, sse_json

pytestmark = pytest.mark.e2e

PRO = "gemini-2.5-pro"
GENERATE = f"models/{PRO}:generateContent"
STREAM = f"models/{PRO}:streamGenerateContent?alt=sse"
BODY = {
    "contents": [{"role": "user", "parts": [{"text": "Say hi"}]}],
    "generationConfig": {"temperature": 0.5},
}
TOOLS = [
    {
        "functionDeclarations": [
            {
                "name": "get_weather",
                "parameters": {
                    "type": "OBJECT",
                    "properties": {"city": {"type": "STRING"}},
                    "required": ["city"],
                },
            }
        ]
    }
]


def _text(response: dict[str, Any]) -> str:
    return "".join(p.get("text", "") for p in response["candidates"][0]["content"]["parts"])


def test_generate_content(sim: SimClient) -> None:
    body = sim.post(PRO, GENERATE, BODY).json()
    candidate = body["candidates"][0]
    assert candidate["content"]["role"] == "model" and candidate["finishReason"] == "STOP"
    assert len(_text(body).split()) == 16
    usage = body["usageMetadata"]
    assert usage["candidatesTokenCount"] == 16
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + 16
    assert body["modelVersion"] == PRO


def test_stream_generate_content_sse(sim: SimClient) -> None:
    reply = sim.post(PRO, STREAM, BODY)
    assert reply.headers["content-type"].startswith("text/event-stream")
    chunks = sse_json(reply.text)
    assert len(chunks) == 17
    assert all("usageMetadata" not in c for c in chunks[:-1])
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"] == sim.post(PRO, GENERATE, BODY).json()["usageMetadata"]
    assert "".join(_text(c) for c in chunks) == _text(sim.post(PRO, GENERATE, BODY).json())


def test_stream_without_alt_sse_is_a_json_array(sim: SimClient) -> None:
    reply = sim.post(PRO, f"models/{PRO}:streamGenerateContent", BODY)
    chunks = json.loads(reply.text)
    assert isinstance(chunks, list) and len(chunks) == 17 and "usageMetadata" in chunks[-1]


def test_single_part_object_and_snake_case_config(sim: SimClient) -> None:
    body = {
        "contents": {"role": "user", "parts": {"text": "Say hi"}},
        "generation_config": {"max_output_tokens": 4},
    }
    reply = sim.post(PRO, GENERATE, body).json()
    assert reply["candidates"][0]["finishReason"] == "MAX_TOKENS" and len(_text(reply).split()) == 4
    camel = {**BODY, "generationConfig": {"maxOutputTokens": 4}}
    assert sim.post(PRO, GENERATE, camel).json()["usageMetadata"]["candidatesTokenCount"] == 4


def test_function_call(sim: SimClient) -> None:
    body = {"contents": [{"role": "user", "parts": [{"text": "[[sim:tool=get_weather]]"}]}], "tools": TOOLS}
    reply = sim.post(PRO, GENERATE, body).json()
    (part,) = reply["candidates"][0]["content"]["parts"]
    assert part["functionCall"] == {"name": "get_weather", "args": {"city": "Paris"}}
    chunks = sse_json(sim.post(PRO, STREAM, body).text)
    calls = [
        p["functionCall"]
        for c in chunks
        for p in c["candidates"][0]["content"]["parts"]
        if "functionCall" in p
    ]
    assert calls == [{"name": "get_weather", "args": {"city": "Paris"}}]


def test_gemini_errors(sim: SimClient) -> None:
    reply = sim.post(PRO, GENERATE, {"contents": []})
    assert reply.status_code == 400 and reply.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert sim.post(PRO, "chat/completions?api-version=x", BODY).status_code == 404
    reply = sim.post(
        PRO, GENERATE, {**BODY, "contents": [{"role": "user", "parts": [{"text": "[[sim:status=429]]"}]}]}
    )
    assert reply.status_code == 429 and reply.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
