"""Streamed and non-streamed answers to the same request report identical usage (SPEC §6)."""

from __future__ import annotations

from typing import Any

import pytest

from ftproxy.simulator.testing import SimClient, sse_json

pytestmark = pytest.mark.e2e

SONNET = "anthropic--claude-4.5-sonnet"
GEMINI = "gemini-2.5-pro"
TEXTS = ["Say hi", "A much longer prompt " * 40, "[[sim:tokens=33]] count", "[[sim:tool=*]] call it"]


def _openai(sim: SimClient, text: str) -> tuple[Any, Any]:
    body = {
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "max_completion_tokens": 20,
    }
    whole = sim.chat(body).json()["usage"]
    chunks = sse_json(sim.chat({**body, "stream": True, "stream_options": {"include_usage": True}}).text)
    return whole, chunks[-1]["usage"]


def _converse(sim: SimClient, text: str) -> tuple[Any, Any]:
    body = {
        "system": [{"text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"text": text}]}],
        "inferenceConfig": {"maxTokens": 20},
        "toolConfig": {"tools": [{"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object"}}}}]},
    }
    whole = sim.post(SONNET, "converse", body).json()["usage"]
    events = sse_json(sim.post(SONNET, "converse-stream", body).text)
    return whole, events[-1]["metadata"]["usage"]


def _invoke(sim: SimClient, text: str) -> tuple[Any, Any]:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 20,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": text}],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
    }
    whole = sim.post(SONNET, "invoke", body).json()["usage"]
    events = sse_json(sim.post(SONNET, "invoke-with-response-stream", body).text)
    start = events[0]["message"]["usage"]
    streamed = {
        **whole,
        "input_tokens": start["input_tokens"],
        "output_tokens": events[-2]["usage"]["output_tokens"],
    }
    return whole, streamed


def _gemini(sim: SimClient, text: str) -> tuple[Any, Any]:
    body = {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [{"role": "user", "parts": [{"text": text}]}],
        "generationConfig": {"maxOutputTokens": 20},
        "tools": [{"functionDeclarations": [{"name": "f"}]}],
    }
    whole = sim.post(GEMINI, f"models/{GEMINI}:generateContent", body).json()["usageMetadata"]
    chunks = sse_json(sim.post(GEMINI, f"models/{GEMINI}:streamGenerateContent?alt=sse", body).text)
    return whole, chunks[-1]["usageMetadata"]


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize(
    "family", [_openai, _converse, _invoke, _gemini], ids=["gpt", "converse", "invoke", "gemini"]
)
def test_streamed_usage_equals_json_usage(sim: SimClient, family: Any, text: str) -> None:
    whole, streamed = family(sim, text)
    assert whole == streamed
