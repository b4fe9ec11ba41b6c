"""Microbenchmarks (pytest-benchmark) of the hot pure functions: conversions, SSE parsing, key
lookup. Run with `pytest -m bench tests/bench/test_micro.py` (needs pytest-benchmark, in the
`bench` extra); skipped in the normal test run. Each benchmark also asserts its result, so a
fast wrong answer cannot pass."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.payloads import CLAUDE, GEMINI, large_conversation
from ftproxy.convert import build_request, translator
from ftproxy.web.auth import ClientAuth
from ftproxy.web.wsgi import Request
from ftproxy.wire import sse
from ftproxy.wire.apis import ClientApi, UpstreamApi

pytestmark = pytest.mark.bench
pytest.importorskip("pytest_benchmark")

WORDS = [f"word{i} " for i in range(400)]


@pytest.mark.parametrize(
    ("model", "upstream"), [(CLAUDE, UpstreamApi.BEDROCK_CONVERSE), (GEMINI, UpstreamApi.VERTEX_GEMINI)]
)
def test_build_request_large_conversation(benchmark: Any, model: str, upstream: UpstreamApi) -> None:
    body = large_conversation(model)
    out = benchmark(build_request, ClientApi.OPENAI_CHAT, upstream, body, model=model, stream=False)
    assert out.body and len(json.dumps(out.body)) > 50_000


def _converse_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [{"messageStart": {"role": "assistant"}}]
    events += [{"contentBlockDelta": {"contentBlockIndex": 0, "delta": {"text": w}}} for w in WORDS]
    events += [
        {"contentBlockStop": {"contentBlockIndex": 0}},
        {"messageStop": {"stopReason": "end_turn"}},
        {
            "metadata": {
                "usage": {"inputTokens": 10, "outputTokens": len(WORDS), "totalTokens": 10 + len(WORDS)}
            }
        },
    ]
    return events


def _gemini_events() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        {"candidates": [{"content": {"role": "model", "parts": [{"text": w}]}}]} for w in WORDS
    ]
    events[-1]["candidates"][0]["finishReason"] = "STOP"
    events[-1]["usageMetadata"] = {
        "promptTokenCount": 10,
        "candidatesTokenCount": len(WORDS),
        "totalTokenCount": 410,
    }
    return events


@pytest.mark.parametrize(
    ("model", "upstream", "events"),
    [
        (CLAUDE, UpstreamApi.BEDROCK_CONVERSE, _converse_events()),
        (GEMINI, UpstreamApi.VERTEX_GEMINI, _gemini_events()),
    ],
)
def test_translate_stream_to_openai(
    benchmark: Any, model: str, upstream: UpstreamApi, events: list[dict[str, Any]]
) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}

    def translate() -> int:
        t = translator(ClientApi.OPENAI_CHAT, upstream, model=model, body=body)
        total = 0
        for event in events:
            for chunk in t.stream_events(event):
                total += len(chunk)
        for chunk in t.stream_end():
            total += len(chunk)
        return total

    assert benchmark(translate) > 400 * 50


def test_sse_parse_upstream_stream(benchmark: Any) -> None:
    raw = (
        b"".join(sse.encode_data({"choices": [{"delta": {"content": w}, "index": 0}]}) for w in WORDS)
        + sse.DONE
    )
    chunks = [raw[i : i + 1500] for i in range(0, len(raw), 1500)]  # network-sized pieces, events split
    datas = benchmark(lambda: list(sse.iter_data(chunks)))
    assert len(datas) == len(WORDS) + 1 and datas[-1] == "[DONE]"


def test_sse_encode_events(benchmark: Any) -> None:
    payloads = [{"choices": [{"delta": {"content": w}, "index": 0}]} for w in WORDS]
    out = benchmark(lambda: [sse.encode_data(p) for p in payloads])
    assert out[0].startswith(b"data: ") and out[0].endswith(b"\n\n")


@pytest.mark.parametrize("keys", [1, 100])
def test_client_key_lookup(benchmark: Any, keys: int) -> None:
    configured = [f"sk-bench-{i:04d}-{'x' * 40}" for i in range(keys)]
    auth = ClientAuth(configured)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/chat/completions",
        "HTTP_AUTHORIZATION": f"Bearer {configured[-1]}",
    }
    label = benchmark(lambda: auth.authenticate(Request(environ)))
    assert label == f"key#{keys}"
