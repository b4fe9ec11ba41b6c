"""Directives, x-sim headers, the /_sim/faults API and broken streams."""

from __future__ import annotations

import json

import httpx
import pytest

from ftproxy.simulator.catalog import deployment_id
from ftproxy.simulator.testing import API_VERSION, SimClient, sse_data, sse_json

pytestmark = pytest.mark.e2e

SONNET = "anthropic--claude-4.5-sonnet"


def ask(text: str, **extra: object) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def test_status_directive_with_retry_after(sim: SimClient) -> None:
    reply = sim.chat(ask("hi [[sim:status=429,retry_after=2]]"))
    assert reply.status_code == 429 and reply.headers["retry-after"] == "2"
    assert "rate limit" in reply.json()["error"]["message"]
    bedrock = sim.post(
        SONNET, "converse", {"messages": [{"role": "user", "content": [{"text": "[[sim:status=429]]"}]}]}
    )
    assert bedrock.status_code == 429 and bedrock.json()["message"].startswith("Too many requests")
    assert bedrock.headers["x-amzn-errortype"].startswith("ThrottlingException")


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error_directives(sim: SimClient, status: int) -> None:
    reply = sim.chat(ask(f"[[sim:status={status}]]", stream=True))
    assert reply.status_code == status and "error" in reply.json()


def test_status_400_with_empty_body(sim: SimClient) -> None:
    reply = sim.chat(ask("[[sim:status=400,body={}]]"))
    assert reply.status_code == 400 and reply.content == b"{}"


def test_status_401_looks_like_ai_core(sim: SimClient) -> None:
    reply = sim.chat(ask("[[sim:status=401]]"))
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "401"


def test_unknown_directive_is_a_loud_400(sim: SimClient) -> None:
    reply = sim.chat(ask("[[sim:tokenz=3]]"))
    assert reply.status_code == 400 and "tokenz" in reply.json()["error"]["message"]


def test_size_and_timing_directives_keep_the_protocol(sim: SimClient) -> None:
    body = sim.chat(ask("[[sim:tokens=40]]")).json()
    assert body["usage"]["completion_tokens"] == 40
    stream = sim.chat(ask("[[sim:tokens=3,ttft_ms=20,tps=200,latency_ms=5]]", stream=True))
    chunks = sse_json(stream.text)
    assert [c["choices"][0]["delta"].get("content") for c in chunks[2:-1]] == ["Hello", " from", " the"]
    assert sse_data(stream.text)[-1] == "[DONE]"


def test_x_sim_headers(sim: SimClient) -> None:
    reply = sim.chat(ask("hi"), **{"x-sim-response-tokens": "3", "x-sim-latency-ms": "1"})
    assert reply.json()["usage"]["completion_tokens"] == 3
    reply = sim.chat(ask("hi"), **{"x-sim": "status=503,retry_after=4"})
    assert reply.status_code == 503 and reply.headers["retry-after"] == "4"


def test_directives_only_in_the_final_user_message(sim: SimClient) -> None:
    messages = [
        {"role": "user", "content": "[[sim:status=500]]"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "again"},
    ]
    assert sim.chat({"messages": messages}).status_code == 200


def test_malformed_json_and_sse(sim: SimClient) -> None:
    reply = sim.chat(ask("[[sim:malformed=1]]"))
    assert reply.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    stream = sim.chat(ask("[[sim:malformed=1]]", stream=True))
    bad = 0
    for data in sse_data(stream.text):
        if data != "[DONE]":
            try:
                json.loads(data)
            except json.JSONDecodeError:
                bad += 1
    assert bad == 1


def test_cut_after_drops_the_connection(sim: SimClient) -> None:
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        sim.client.stream(
            "POST",
            SimClient.path("gpt-4.1", f"chat/completions?api-version={API_VERSION}"),
            json=ask("[[sim:cut_after=3]]", stream=True),
            headers=sim.headers(),
        ) as reply,
    ):
        received.extend(line for line in reply.iter_lines() if line.startswith("data:"))
    contents = [json.loads(d[5:])["choices"][0]["delta"].get("content") for d in received[2:]]
    assert contents == ["Hello", " from", " the"]
    sim.wait_stats(lambda s: s["streams_cut"] >= 1)


def test_clean_cut_ends_the_body_without_end_events(sim: SimClient) -> None:
    reply = sim.post(
        SONNET,
        "converse-stream",
        {"messages": [{"role": "user", "content": [{"text": "[[sim:cut_after=2,cut=clean]]"}]}]},
    )
    events = sse_json(reply.text)
    assert [next(iter(e)) for e in events] == ["messageStart", "contentBlockDelta", "contentBlockDelta"]


def test_stall_after_keeps_the_connection_open_until_the_client_leaves(sim: SimClient) -> None:
    received: list[str] = []
    timeout = httpx.Timeout(10.0, read=0.5)
    with (
        httpx.Client(base_url=sim.base, timeout=timeout) as client,
        pytest.raises(httpx.ReadTimeout),
        client.stream(
            "POST",
            SimClient.path("gpt-4.1", f"chat/completions?api-version={API_VERSION}"),
            json=ask("[[sim:stall_after=2]]", stream=True),
            headers=sim.headers(),
        ) as reply,
    ):
        for line in reply.iter_lines():
            if line.startswith("data:"):
                received.append(line)
                if len(received) == 4:
                    assert sim.stats()["open_streams"] >= 1
    assert len(received) == 4 and "[DONE]" not in received[-1]
    # The client has gone: the simulator notices and closes its side.
    sim.wait_stats(lambda s: s["open_streams"] == 0 and s["streams_disconnected"] >= 1)


def test_fault_api_counts_down(sim: SimClient) -> None:
    fault = {"deployment": deployment_id("gpt-4.1"), "status": 503, "count": 2, "retry_after": 1}
    assert sim.client.post("/_sim/faults", json=fault).status_code == 201
    assert [sim.chat(ask("hi")).status_code for _ in range(3)] == [503, 503, 200]
    assert sim.chat(ask("hi"), model="gpt-4o").status_code == 200


def test_fault_api_wildcard_until_cleared(sim: SimClient) -> None:
    before = sim.stats()["faults_injected"]
    sim.client.post("/_sim/faults", json={"deployment": "*", "status": 500, "count": None, "body": {}})
    for model in ("gpt-4.1", "gpt-4o"):
        reply = sim.chat(ask("hi"), model=model)
        assert reply.status_code == 500 and reply.content == b"{}"
    assert sim.stats()["faults_injected"] == before + 2
    assert len(sim.client.get("/_sim/faults").json()["faults"]) == 1
    sim.client.delete("/_sim/faults")
    assert sim.chat(ask("hi")).status_code == 200


def test_fault_api_by_model_name_and_knobs_only(sim: SimClient) -> None:
    sim.client.post("/_sim/faults", json={"deployment": "gpt-4.1", "tokens": 2, "count": 1})
    assert sim.chat(ask("hi")).json()["usage"]["completion_tokens"] == 2
    assert sim.chat(ask("hi")).json()["usage"]["completion_tokens"] == 16
    bad = sim.client.post("/_sim/faults", json={"deployment": "*", "statuz": 500})
    assert bad.status_code == 400


def test_stats_count_requests(sim: SimClient) -> None:
    before = sim.stats()
    sim.chat(ask("hi"))
    sim.chat(ask("hi", stream=True))
    after = sim.stats()
    dep = deployment_id("gpt-4.1")
    assert after["requests_by_deployment"][dep] == before["requests_by_deployment"].get(dep, 0) + 2
    assert after["requests_by_path"]["chat_stream"] == before["requests_by_path"].get("chat_stream", 0) + 1
    assert after["streams_completed"] == before["streams_completed"] + 1
