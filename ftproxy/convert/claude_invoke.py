"""ChatRequest → Bedrock invoke body (Claude's Messages API on Bedrock). Converse reuses the
thinking, sampling and tool-id rules for Claude (`converse`)."""

from __future__ import annotations

from typing import Any

from ftproxy.convert.anthropic_messages import BEDROCK_VERSION, claude_thinking_config, invoke_paths
from ftproxy.convert.base import UpstreamRequest
from ftproxy.convert.canonical import ChatRequest, claude_tool_id
from ftproxy.convert.limits import (
    CLAUDE_DEFAULT_MAX_TOKENS,
    CLAUDE_MIN_THINKING_BUDGET,
    EFFORT_BUDGETS,
    claude_cap,
    claude_thinks,
)


def claude_thinking(request: ChatRequest, model: str) -> tuple[dict[str, Any] | None, int]:
    """The thinking config and max_tokens for Claude: an OpenAI client's reasoning_effort becomes a
    budget that fits below max_tokens (Claude requires budget < max_tokens, budget ≥ 1024)."""
    cap = claude_cap(model, request.betas)
    max_tokens = request.max_tokens
    if request.thinking is not None:
        max_tokens = min(max_tokens or CLAUDE_DEFAULT_MAX_TOKENS, cap)
        return claude_thinking_config(request.thinking, request.effort, model, max_tokens), max_tokens
    if not claude_thinks(model):
        return None, min(max_tokens or CLAUDE_DEFAULT_MAX_TOKENS, cap)
    budget = EFFORT_BUDGETS.get(request.reasoning_effort or "")
    if budget is None:
        return None, min(max_tokens or CLAUDE_DEFAULT_MAX_TOKENS, cap)
    if max_tokens is None:
        max_tokens = min(budget + CLAUDE_DEFAULT_MAX_TOKENS, cap)
    max_tokens = min(max_tokens, cap)
    budget = min(budget, max_tokens - 1)
    if budget < CLAUDE_MIN_THINKING_BUDGET:
        return None, max_tokens
    return {"type": "enabled", "budget_tokens": budget}, max_tokens


def claude_sampling(request: ChatRequest, thinking: dict[str, Any] | None) -> dict[str, Any]:
    """temperature/top_p/top_k for Claude: temperature capped at 1 (OpenAI allows 2); left out when
    thinking was derived from reasoning_effort (Claude rejects them with thinking)."""
    if thinking is not None and request.thinking is None:
        return {}
    out: dict[str, Any] = {}
    if request.temperature is not None:
        out["temperature"] = min(request.temperature, 1.0)
    if request.top_p is not None:
        out["top_p"] = request.top_p
    if request.top_k is not None:
        out["top_k"] = request.top_k
    return out


def claude_messages(request: ChatRequest) -> list[dict[str, Any]]:
    """The turns with tool ids that Bedrock accepts."""
    out = []
    for turn in request.messages:
        blocks = []
        for block in turn["content"]:
            kind = block.get("type")
            if kind == "tool_use" and claude_tool_id(block["id"]) != block["id"]:
                block = {**block, "id": claude_tool_id(block["id"])}
            elif kind == "tool_result" and claude_tool_id(block["tool_use_id"]) != block["tool_use_id"]:
                block = {**block, "tool_use_id": claude_tool_id(block["tool_use_id"])}
            blocks.append(block)
        out.append({"role": turn["role"], "content": blocks})
    return out


def build_invoke_request(request: ChatRequest, *, model: str, stream: bool) -> UpstreamRequest:
    thinking, max_tokens = claude_thinking(request, model)
    body: dict[str, Any] = {
        "anthropic_version": BEDROCK_VERSION,
        "max_tokens": max_tokens,
        "messages": claude_messages(request),
    }
    if request.system:
        body["system"] = request.system
    body.update(claude_sampling(request, thinking))
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.tools:
        body["tools"] = [{k: v for k, v in t.items() if v or k != "description"} for t in request.tools]
        choice = request.tool_choice
        if choice is not None or request.parallel_tool_calls is False:
            choice = dict(choice or {"type": "auto"})
            if request.parallel_tool_calls is False and choice["type"] != "none":
                choice["disable_parallel_tool_use"] = True
            body["tool_choice"] = choice
    if thinking is not None:
        body["thinking"] = thinking
    if request.betas:
        body["anthropic_beta"] = request.betas
    path, headers, stream_format = invoke_paths(stream)
    return UpstreamRequest(path=path, body=body, stream_format=stream_format, headers=headers)
