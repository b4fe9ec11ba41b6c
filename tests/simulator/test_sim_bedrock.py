"""Claude deployments: Bedrock Converse and Anthropic-on-Bedrock invoke, JSON, SSE and binary frames."""

from __future__ import annotations

import ast
import base64
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from ftproxy.simulator.testing import SimClient, running_simulator, sse_data, sse_json

pytestmark = pytest.mark.e2e

SONNET = "anthropic--claude-4.5-sonnet"
EVENTSTREAM = "application/vnd.amazon.eventstream"
CONVERSE = {
    "messages": [{"role": "user", "content": [{"text": "Say hi"}]}],
    "inferenceConfig": {"maxTokens": 100},
}
INVOKE = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 100,
    "system": "Be brief.",
    "messages": [{"role": "user", "content": "Say hi"}],
}
TOOLS_CONVERSE = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Weather",
                "inputSchema": {"json": {"type": "object", "properties": {"city": {"type": "string"}}}},
            }
        }
    ]
}
TOOLS_INVOKE = [
    {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
]


def decode_event_stream(data: bytes) -> Iterator[tuple[dict[str, str], bytes]]:
    """An independent decoder (not the simulator's) that checks lengths and both CRC32s."""
    pos = 0
    while pos < len(data):
        total, headers_len, prelude_crc = struct.unpack_from(">III", data, pos)
        assert prelude_crc == zlib.crc32(data[pos : pos + 8]), "prelude CRC"
        frame = data[pos : pos + total]
        assert len(frame) == total, "truncated frame"
        assert struct.unpack(">I", frame[-4:])[0] == zlib.crc32(frame[:-4]), "message CRC"
        headers, i, raw = {}, 0, frame[12 : 12 + headers_len]
        while i < len(raw):
            name = raw[i + 1 : i + 1 + raw[i]].decode()
            i += 1 + raw[i]
            assert raw[i] == 7, "string header"
            size = struct.unpack(">H", raw[i + 1 : i + 3])[0]
            headers[name] = raw[i + 3 : i + 3 + size].decode()
            i += 3 + size
        yield headers, frame[12 + headers_len : -4]
        pos += total


# -- Converse -------------------------------------------------------------------------------


def test_converse_json(sim: SimClient) -> None:
    body = sim.post(SONNET, "converse", CONVERSE).json()
    message = body["output"]["message"]
    assert message["role"] == "assistant" and len(message["content"][0]["text"].split()) == 16
    assert body["stopReason"] == "end_turn"
    usage = body["usage"]
    assert usage["outputTokens"] == 16 and usage["totalTokens"] == usage["inputTokens"] + 16
    assert "latencyMs" in body["metrics"]


def test_converse_stream_sse(sim: SimClient) -> None:
    reply = sim.post(SONNET, "converse-stream", CONVERSE)
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = sse_json(reply.text)
    names = [next(iter(e)) for e in events]
    assert names[0] == "messageStart" and names[-3:] == ["contentBlockStop", "messageStop", "metadata"]
    assert all(len(e) == 1 for e in events)
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == sim.post(SONNET, "converse", CONVERSE).json()["output"]["message"]["content"][0]["text"]
    assert events[-2]["messageStop"]["stopReason"] == "end_turn"
    assert events[-1]["metadata"]["usage"]["outputTokens"] == 16


def test_converse_stream_python_literal_lines() -> None:
    with (
        running_simulator(python_literal_lines=True) as base,
        httpx.Client(base_url=base, timeout=10) as client,
    ):
        sim = SimClient(base, client)
        reply = sim.post(SONNET, "converse-stream", CONVERSE)
        lines = sse_data(reply.text)
        assert all(line.startswith("{'") for line in lines)
        events = [ast.literal_eval(line) for line in lines]
        assert next(iter(events[0])) == "messageStart" and "metadata" in events[-1]
        # JSON replies are unaffected.
        assert sim.post(SONNET, "converse", CONVERSE).json()["stopReason"] == "end_turn"


def test_python_literal_lines_per_request(sim: SimClient) -> None:
    ask = {"messages": [{"role": "user", "content": [{"text": "[[sim:literal=1]] hi"}]}]}
    lines = sse_data(sim.post(SONNET, "converse-stream", ask).text)
    assert all(line.startswith("{'") for line in lines)
    assert ast.literal_eval(lines[-1])["metadata"]["usage"]["outputTokens"] == 16


def test_converse_stream_binary_event_stream(sim: SimClient) -> None:
    reply = sim.post(SONNET, "converse-stream", CONVERSE, accept=EVENTSTREAM)
    assert reply.headers["content-type"] == EVENTSTREAM
    frames = list(decode_event_stream(reply.content))
    types = [h[":event-type"] for h, _ in frames]
    assert types[0] == "messageStart" and types[-1] == "metadata"
    assert all(h[":message-type"] == "event" and h[":content-type"] == "application/json" for h, _ in frames)
    deltas = [json.loads(p)["delta"]["text"] for h, p in frames if h[":event-type"] == "contentBlockDelta"]
    assert len(deltas) == 16


def test_converse_thinking_and_tools(sim: SimClient) -> None:
    thinking = {
        **CONVERSE,
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    }
    content = sim.post(SONNET, "converse", thinking).json()["output"]["message"]["content"]
    assert content[0]["reasoningContent"]["reasoningText"]["text"] and "text" in content[1]
    events = sse_json(sim.post(SONNET, "converse-stream", thinking).text)
    first_delta = next(e for e in events if "contentBlockDelta" in e)["contentBlockDelta"]
    assert "reasoningContent" in first_delta["delta"] and first_delta["contentBlockIndex"] == 0

    ask = {
        "messages": [{"role": "user", "content": [{"text": "[[sim:tool=get_weather]]"}]}],
        "toolConfig": TOOLS_CONVERSE,
    }
    body = sim.post(SONNET, "converse", ask).json()
    use = body["output"]["message"]["content"][0]["toolUse"]
    assert (
        body["stopReason"] == "tool_use"
        and use["name"] == "get_weather"
        and use["input"] == {"city": "Paris"}
    )
    events = sse_json(sim.post(SONNET, "converse-stream", ask).text)
    start = next(e for e in events if "contentBlockStart" in e)["contentBlockStart"]
    assert start["start"]["toolUse"]["name"] == "get_weather" and start["start"]["toolUse"]["toolUseId"]
    fragments = [
        e["contentBlockDelta"]["delta"]["toolUse"]["input"] for e in events if "contentBlockDelta" in e
    ]
    assert len(fragments) > 1 and json.loads("".join(fragments)) == {"city": "Paris"}
    assert events[-2]["messageStop"]["stopReason"] == "tool_use"


def test_converse_validation(sim: SimClient) -> None:
    reply = sim.post(SONNET, "converse", {"inferenceConfig": {}})
    assert reply.status_code == 400 and "message" in reply.json()
    assert reply.headers["x-amzn-errortype"].startswith("ValidationException")
    assert sim.post(SONNET, "converse", {**CONVERSE, "inferenceConfig": {"maxTokens": 3}}).json()[
        "stopReason"
    ] == ("max_tokens")


# -- invoke ---------------------------------------------------------------------------------


def test_invoke_json(sim: SimClient) -> None:
    body = sim.post(SONNET, "invoke", INVOKE).json()
    assert body["id"].startswith("msg_bdrk_") and body["type"] == "message" and body["role"] == "assistant"
    assert body["model"] == "claude-sonnet-4-5-20250929"
    assert body["content"][0]["type"] == "text" and len(body["content"][0]["text"].split()) == 16
    assert body["stop_reason"] == "end_turn" and body["stop_sequence"] is None
    assert body["usage"]["output_tokens"] == 16 and body["usage"]["input_tokens"] > 0


def test_invoke_on_invoke_model(sim: SimClient) -> None:
    body = sim.post("anthropic--claude-3.5-sonnet", "invoke", INVOKE).json()
    assert body["model"] == "claude-3-5-sonnet-20241022"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"model": "claude"}, "extraneous key [model]"),
        ({"stream": True}, "extraneous key [stream]"),
        ({"anthropic_version": None}, "required key [anthropic_version]"),
        ({"max_tokens": None}, "required key [max_tokens]"),
    ],
)
def test_invoke_validation(sim: SimClient, change: dict[str, Any], fragment: str) -> None:
    body = {k: v for k, v in {**INVOKE, **change}.items() if v is not None}
    reply = sim.post(SONNET, "invoke", body)
    assert reply.status_code == 400 and fragment in reply.json()["message"]


def _invoke_events_sse(sim: SimClient, body: dict[str, Any]) -> list[dict[str, Any]]:
    reply = sim.post(SONNET, "invoke-with-response-stream", body)
    assert reply.headers["content-type"].startswith("text/event-stream")
    return sse_json(reply.text)


def test_invoke_stream_sse(sim: SimClient) -> None:
    events = _invoke_events_sse(sim, INVOKE)
    types = [e["type"] for e in events]
    assert types[:3] == ["message_start", "content_block_start", "ping"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    assert all(d["type"] == "text_delta" for d in deltas) and len(deltas) == 16
    assert events[-2]["delta"]["stop_reason"] == "end_turn" and events[-2]["usage"]["output_tokens"] == 16
    metrics = events[-1]["amazon-bedrock-invocationMetrics"]
    assert (
        metrics["outputTokenCount"] == 16
        and metrics["inputTokenCount"] == events[0]["message"]["usage"]["input_tokens"]
    )


def test_invoke_stream_binary_event_stream(sim: SimClient) -> None:
    reply = sim.post(SONNET, "invoke-with-response-stream", INVOKE, accept=EVENTSTREAM)
    assert reply.status_code == 200 and reply.headers["content-type"] == EVENTSTREAM
    frames = list(decode_event_stream(reply.content))
    assert {h[":event-type"] for h, _ in frames} == {"chunk"}
    assert all(h[":message-type"] == "event" and h[":content-type"] == "application/json" for h, _ in frames)
    events = [json.loads(base64.b64decode(json.loads(payload)["bytes"])) for _, payload in frames]
    assert events == _strip_ids(_invoke_events_sse(sim, INVOKE), events)


def _strip_ids(sse: list[dict[str, Any]], frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The SSE events with the per-response message id replaced by the framed stream's."""
    sse[0]["message"]["id"] = frames[0]["message"]["id"]
    return sse


def test_invoke_thinking_and_tools(sim: SimClient) -> None:
    thinking = {**INVOKE, "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 1024}}
    body = sim.post(SONNET, "invoke", thinking).json()
    assert [b["type"] for b in body["content"]] == ["thinking", "text"]
    assert body["content"][0]["thinking"] and body["content"][0]["signature"]
    events = _invoke_events_sse(sim, thinking)
    starts = [e["content_block"]["type"] for e in events if e["type"] == "content_block_start"]
    assert starts == ["thinking", "text"]
    kinds = [e["delta"]["type"] for e in events if e["type"] == "content_block_delta"]
    assert kinds[0] == "thinking_delta" and "signature_delta" in kinds and kinds[-1] == "text_delta"

    ask = {
        **INVOKE,
        "tools": TOOLS_INVOKE,
        "messages": [{"role": "user", "content": "[[sim:tool=get_weather]]"}],
    }
    body = sim.post(SONNET, "invoke", ask).json()
    assert body["stop_reason"] == "tool_use"
    (use,) = body["content"]
    assert (
        use["type"] == "tool_use"
        and use["id"].startswith("toolu_bdrk_")
        and use["input"] == {"city": "Paris"}
    )
    events = _invoke_events_sse(sim, ask)
    block = next(e for e in events if e["type"] == "content_block_start")["content_block"]
    assert block["type"] == "tool_use" and block["name"] == "get_weather"
    parts = [e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta"]
    assert all(e["delta"]["type"] == "input_json_delta" for e in events if e["type"] == "content_block_delta")
    assert len(parts) > 1 and json.loads("".join(parts)) == {"city": "Paris"}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


def test_invoke_stop_sequences(sim: SimClient) -> None:
    body = sim.post(SONNET, "invoke", {**INVOKE, "stop_sequences": ["simulated"]}).json()
    assert body["stop_reason"] == "stop_sequence" and body["stop_sequence"] == "simulated"
    assert "simulated" not in body["content"][0]["text"]
