"""What Claude Code and Codex CLI really send (captured from the pinned versions, trimmed) converts
for every upstream API; see fixtures/*.json for the samples and tests/agents for the real agents."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from ftproxy import convert
from ftproxy.convert import ClientApi, ClientRequestError, UpstreamApi

FIXTURES = Path(__file__).parent / "fixtures"
CLAUDE_CODE = json.loads((FIXTURES / "claude_code_requests.json").read_text())
CODEX = json.loads((FIXTURES / "codex_request.json").read_text())
MODELS = {
    UpstreamApi.BEDROCK_CONVERSE: "anthropic--claude-4.5-sonnet",
    UpstreamApi.BEDROCK_INVOKE: "anthropic--claude-3.7-sonnet",
    UpstreamApi.VERTEX_GEMINI: "gemini-2.5-pro",
    UpstreamApi.AZURE_OPENAI_CHAT: "gpt-5",
}


def claude_code(sample: str) -> tuple[dict[str, Any], dict[str, str]]:
    captured = CLAUDE_CODE[sample]
    return copy.deepcopy(captured["body"]), {"anthropic-beta": captured["headers"]["anthropic-beta"]}


def build(upstream: UpstreamApi, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    request = convert.build_request(
        ClientApi.ANTHROPIC_MESSAGES, upstream, body, model=MODELS[upstream], stream=True, headers=headers
    )
    return request.body


def test_the_sample_is_what_the_issue_describes() -> None:
    body, headers = claude_code("first_turn")
    assert [m["role"] for m in body["messages"]] == ["user", "system"]
    assert isinstance(body["system"], list)
    assert body["thinking"] == {"type": "adaptive", "display": "omitted"}
    assert "effort" in body["output_config"] and "context_management" in body
    assert "effort-2025-11-24" in headers["anthropic-beta"]
    assert CLAUDE_CODE["first_turn"]["path"] == "/v1/messages?beta=true"


SAMPLES = ["first_turn", "tool_round_trip", "interactive_second_turn"]


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("upstream", list(MODELS), ids=str)
def test_claude_code_converts_for_every_upstream(sample: str, upstream: UpstreamApi) -> None:
    body, headers = claude_code(sample)
    out = build(upstream, body, headers)
    text = json.dumps(out)
    assert r"<system>\n# Environment" in text  # the mid-conversation system entry is kept, as text
    assert "defer_loading" not in text and '"display"' not in text
    assert "output_config" not in out and "metadata" not in out and "safeguards" not in out


@pytest.mark.parametrize("upstream", [UpstreamApi.BEDROCK_INVOKE, UpstreamApi.BEDROCK_CONVERSE], ids=str)
def test_claude_turns_alternate_and_adaptive_thinking_gets_a_budget(upstream: UpstreamApi) -> None:
    body, headers = claude_code("tool_round_trip")
    out = build(upstream, body, headers)
    roles = [m["role"] for m in out["messages"]]
    assert roles == ["user", "assistant", "user"]
    thinking = (
        out["thinking"]
        if upstream is UpstreamApi.BEDROCK_INVOKE
        else (out["additionalModelRequestFields"]["thinking"])
    )
    assert thinking == {"type": "enabled", "budget_tokens": 24576}  # effort high
    betas = out.get("anthropic_beta") or out["additionalModelRequestFields"].get("anthropic_beta")
    assert "mid-conversation-tool-changes-2026-07-01" not in betas and "effort-2025-11-24" in betas


def test_the_native_pair_puts_tool_results_first_after_a_system_entry() -> None:
    body = {
        "model": "m",
        "max_tokens": 100,
        "messages": [
            {"role": "user", "content": "read it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": {}}]},
            {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "ok"}]},
        ],
    }
    out = build(UpstreamApi.BEDROCK_INVOKE, body, {})
    last = out["messages"][-1]["content"]
    assert [b["type"] for b in last] == ["tool_result", "text"]
    assert last[1]["text"] == "<system>\nbe brief\n</system>"


def test_effort_maps_to_gpt_reasoning_effort_and_to_a_gemini_budget() -> None:
    body, headers = claude_code("first_turn")
    body["output_config"] = {"effort": "max"}
    assert build(UpstreamApi.AZURE_OPENAI_CHAT, copy.deepcopy(body), headers)["reasoning_effort"] == "high"
    body["output_config"] = {"effort": "low"}
    gemini = build(UpstreamApi.VERTEX_GEMINI, body, headers)
    assert gemini["generationConfig"]["thinkingConfig"]["thinkingBudget"] == 2048


def test_claude_before_3_7_gets_no_thinking() -> None:
    body, headers = claude_code("first_turn")
    request = convert.build_request(
        ClientApi.ANTHROPIC_MESSAGES,
        UpstreamApi.BEDROCK_INVOKE,
        body,
        model="anthropic--claude-3.5-sonnet",
        stream=True,
        headers=headers,
    )
    assert "thinking" not in request.body and "context_management" not in request.body


@pytest.mark.parametrize("upstream", list(MODELS), ids=str)
def test_unknown_fields_are_dropped_with_a_debug_line(
    upstream: UpstreamApi, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "future_knob": 1}
    with caplog.at_level(logging.DEBUG, logger="ftproxy.convert"):
        out = build(upstream, body, {})
    assert "future_knob" not in json.dumps(out)
    assert any("future_knob" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)


def test_an_unknown_role_is_still_a_client_error() -> None:
    body = {"model": "m", "messages": [{"role": "developer", "content": "x"}]}
    with pytest.raises(ClientRequestError, match="user, assistant or system"):
        build(UpstreamApi.BEDROCK_CONVERSE, body, {})


@pytest.mark.parametrize(
    ("content", "param"),
    [([None], "messages[0].content[0]"), (["text"], "messages[0].content[0]"), (7, "messages[0].content")],
)
def test_content_that_is_not_blocks_is_a_client_error_on_the_native_pair(content: Any, param: str) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": content}]}
    with pytest.raises(ClientRequestError) as refused:
        build(UpstreamApi.BEDROCK_INVOKE, body, {})
    assert refused.value.param == param


@pytest.mark.parametrize("sample", SAMPLES)
def test_count_tokens_takes_claude_codes_body(sample: str) -> None:
    body, _ = claude_code(sample)
    assert convert.count_tokens(body) > 1000


@pytest.mark.parametrize("upstream", list(MODELS), ids=str)
def test_codex_converts_for_every_upstream(upstream: UpstreamApi) -> None:
    body = copy.deepcopy(CODEX["body"])
    request = convert.build_request(
        ClientApi.OPENAI_RESPONSES, upstream, body, model=MODELS[upstream], stream=True
    )
    text = json.dumps(request.body)
    assert "exec_command" in text  # function tools are forwarded
    assert "web_search" not in text.replace("web_search_", "")  # hosted tools are not


SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}


@pytest.mark.parametrize("key", ["output_config", "output_format"])
def test_structured_output_maps_for_gpt_and_gemini_and_is_refused_for_claude(key: str) -> None:
    fmt = {"type": "json_schema", "schema": SCHEMA}
    body = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "n?"}]}
    body[key] = {"format": fmt} if key == "output_config" else fmt
    gpt = build(UpstreamApi.AZURE_OPENAI_CHAT, copy.deepcopy(body), {})
    assert gpt["response_format"]["json_schema"]["schema"] == SCHEMA
    gemini = build(UpstreamApi.VERTEX_GEMINI, copy.deepcopy(body), {})
    assert gemini["generationConfig"]["responseMimeType"] == "application/json"
    for upstream in (UpstreamApi.BEDROCK_CONVERSE, UpstreamApi.BEDROCK_INVOKE):
        with pytest.raises(ClientRequestError, match="structured output") as info:
            build(upstream, copy.deepcopy(body), {})
        assert info.value.param == ("output_format" if key == "output_format" else "output_config.format")


def test_claude_codes_long_user_id_reaches_gpt_hashed() -> None:
    body, headers = claude_code("first_turn")
    user = build(UpstreamApi.AZURE_OPENAI_CHAT, body, headers)["user"]
    assert user.startswith("sha256-") and len(user) <= 64
    short = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "metadata": {"user_id": "u1"}}
    assert build(UpstreamApi.AZURE_OPENAI_CHAT, short, {})["user"] == "u1"


def test_codex_sends_nothing_unknown_and_a_new_field_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    body = copy.deepcopy(CODEX["body"])
    with caplog.at_level(logging.DEBUG, logger="ftproxy.convert"):
        convert.build_request(
            ClientApi.OPENAI_RESPONSES,
            UpstreamApi.BEDROCK_CONVERSE,
            body,
            model="anthropic--claude-4.5-sonnet",
            stream=True,
        )
        assert not caplog.records  # every field of the captured request is mapped or documented
        body["future_knob"] = True
        convert.build_request(
            ClientApi.OPENAI_RESPONSES, UpstreamApi.VERTEX_GEMINI, body, model="gemini-2.5-pro", stream=True
        )
    assert [r.levelno for r in caplog.records] == [logging.DEBUG] and "future_knob" in caplog.records[
        0
    ].getMessage()


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("upstream", list(MODELS), ids=str)
def test_every_field_claude_code_sends_is_known(
    upstream: UpstreamApi, sample: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers = claude_code(sample)
    with caplog.at_level(logging.DEBUG, logger="ftproxy.convert"):
        build(upstream, body, headers)
    assert not caplog.records
