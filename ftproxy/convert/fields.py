"""Which client fields the converted pairs drop, which they refuse with a 400, and the two checks
that read those tables (`refuse`, `log_unknown`). The GPT passthrough and the native Claude pair
do not use them (see `ftproxy.convert`)."""

from __future__ import annotations

import logging
from typing import Any

from ftproxy.convert.base import ClientRequestError
from ftproxy.wire.apis import ClientApi

log = logging.getLogger("ftproxy.convert")

_NO_EQUIVALENT = "no equivalent in Bedrock Converse, Bedrock invoke or Gemini"

# Client fields the converted pairs do not forward, and why. Fields not listed here and not in
# REFUSED_FIELDS are mapped (see each module's docstring). The GPT passthrough forwards
# everything; the native Claude pair forwards `anthropic_messages.INVOKE_FIELDS` only.
DROPPED_FIELDS: dict[ClientApi, dict[str, str]] = {
    ClientApi.OPENAI_CHAT: {
        "model": "the deployment is chosen by it; the upstream body names no model",
        "stream": "chooses the upstream endpoint (converse-stream, streamGenerateContent…)",
        "stream_options": "include_usage is honoured by ftproxy itself; nothing to forward",
        "logprobs": _NO_EQUIVALENT,
        "top_logprobs": _NO_EQUIVALENT,
        "logit_bias": _NO_EQUIVALENT,
        "store": "OpenAI-hosted storage; SAP AI Core has none",
        "metadata": "OpenAI-hosted storage metadata; SAP AI Core has none",
        "service_tier": "OpenAI billing tiers; SAP AI Core has none",
        "prediction": "OpenAI predicted outputs; no equivalent elsewhere",
        "web_search_options": "OpenAI-hosted web search; no equivalent on SAP AI Core",
        "modalities": "text is the only output modality of the converted pairs",
        "verbosity": "GPT-5-only hint; no equivalent elsewhere",
        "prompt_cache_key": "OpenAI cache routing hint; Claude/Gemini cache by prefix",
        "prompt_cache_options": "OpenAI cache settings; no equivalent elsewhere",
        "prompt_cache_retention": "OpenAI cache settings; no equivalent elsewhere",
        "safety_identifier": "OpenAI abuse-monitoring id; no equivalent elsewhere",
        "moderation": "OpenAI moderation settings; no equivalent elsewhere",
        "user": "forwarded to GPT only; Converse and Gemini have no end-user field",
        "presence_penalty": "forwarded to Gemini and GPT; Claude has no penalties",
        "frequency_penalty": "forwarded to Gemini and GPT; Claude has no penalties",
        "seed": "forwarded to Gemini and GPT; Claude has no seed",
        "response_format": "forwarded to Gemini (responseMimeType/responseSchema) and GPT; Claude "
        "has no structured-output switch (describe the format in the prompt)",
        "parallel_tool_calls": "false → disable_parallel_tool_use on Bedrock invoke; Converse and "
        "Gemini have no switch",
    },
    ClientApi.ANTHROPIC_MESSAGES: {
        "model": "the deployment is chosen by it",
        "stream": "chooses the upstream endpoint",
        "metadata": "user_id → `user` for GPT (hashed when over 64 characters, as Claude Code's is); "
        "Converse and Gemini have no end-user field",
        "service_tier": "Anthropic API capacity tiers; SAP AI Core has none",
        "container": "Anthropic-hosted code execution containers",
        "mcp_servers": "Anthropic-hosted MCP connector",
        "context_management": "Anthropic context editing (beta); only the native Claude pair forwards it",
        "safeguards": "Anthropic-hosted classifiers of dangerous tool use (Claude Code's interactive "
        "auto mode): SAP AI Core runs none; Claude Code's own permission rules still apply",
        "cache_control": "top-level automatic caching: only block-level cache_control maps "
        "(to Converse cachePoint); Gemini and GPT cache implicitly",
        "output_config": "effort → the thinking budget of adaptive thinking (Claude, Gemini) and "
        "reasoning_effort (GPT reasoning models, max → high); without thinking Claude on Bedrock has "
        "no effort switch; other output_config keys have no equivalent",
        "thinking.display": "omitted/summarized display of thinking: Bedrock and Gemini have none; "
        "the thinking text comes back as the model wrote it",
        "thinking.type adaptive (Claude)": "Bedrock's Claude models take enabled + budget_tokens: the "
        "budget comes from output_config.effort (default high); models before 3.7 get none",
        "messages[].role system": "mid-conversation system entries become <system>…</system> text in "
        "the user turn they border: no upstream takes system text between turns",
        "tools[].defer_loading and other tool keys": "Bedrock takes name, description, input_schema, "
        "cache_control; deferred tools are sent in full",
        "unknown top-level fields": "a newer client's: dropped with a debug log line "
        "(logger ftproxy.convert) so that the request still works",
        "inference_geo": "Anthropic data residency; SAP AI Core deployments fix the region",
        "speed": "Anthropic API speed tiers; SAP AI Core has none",
        "diagnostics": "Anthropic API diagnostics",
        "workspace_id": "Anthropic API workspaces",
        "user_profile_id": "Anthropic API user profiles",
        "top_k": "forwarded to Claude (Converse additionalModelRequestFields) and Gemini; GPT has none",
        "tools[].type (server tools)": "web search, code execution, bash…: run on Anthropic's "
        "platform only; dropped rather than refused so that Claude Code keeps working",
        "thinking blocks in history": "kept for Claude (signed by Claude); GPT and Gemini cannot take "
        "them back and get the turn without them",
        "cache_control on blocks": "→ Converse cachePoint; GPT and Gemini cache implicitly",
        "anthropic-beta header": "forwarded to Claude (invoke body / Converse "
        "additionalModelRequestFields) filtered to the values Bedrock accepts",
    },
    ClientApi.OPENAI_RESPONSES: {
        "model": "the deployment is chosen by it",
        "stream": "chooses the upstream endpoint",
        "store": "ftproxy stores nothing; Codex sends store=false anyway",
        "include": "encrypted reasoning and hosted-tool outputs do not exist on SAP AI Core",
        "metadata": "response storage metadata; nothing is stored",
        "truncation": "server-side context truncation; the whole input is sent",
        "max_tool_calls": "limit for OpenAI-hosted tools",
        "service_tier": "OpenAI billing tiers",
        "stream_options": "obfuscation settings of OpenAI's own streams",
        "top_logprobs": "no logprobs on the converted pairs",
        "prompt_cache_key": "OpenAI cache routing hint",
        "prompt_cache_options": "OpenAI cache settings",
        "prompt_cache_retention": "OpenAI cache settings",
        "safety_identifier": "OpenAI abuse-monitoring id",
        "user": "forwarded to GPT only",
        "background": "background mode needs stored responses; answered in the foreground",
        "background_options": "see background",
        "context_management": "OpenAI server-side compaction",
        "moderation": "OpenAI moderation settings",
        "access_programs": "OpenAI access programs",
        "image": "OpenAI image-generation settings",
        "tools[] of other types": "web_search, file_search, local_shell, custom (grammar) tools and "
        "MCP run only on OpenAI's platform; only function tools are forwarded",
        "reasoning items in input": "opaque to other models; the turn goes on without them",
        "client_metadata": "Codex's session and turn ids, for OpenAI's own bookkeeping",
        "unknown top-level fields": "a newer client's: dropped with a debug log line "
        "(logger ftproxy.convert) so that the request still works",
    },
}

REFUSED_FIELDS: dict[ClientApi, dict[str, str]] = {
    ClientApi.OPENAI_CHAT: {
        "n": "n > 1: only one answer per request on the converted pairs",
        "functions": "the legacy functions API: use tools",
        "function_call": "the legacy functions API: use tool_choice",
        "audio": "audio output",
    },
    ClientApi.ANTHROPIC_MESSAGES: {
        "output_config.format / output_format": "structured output on Claude (Bedrock): refused, "
        "since a free-text answer would be wrong; GPT and Gemini get it as response_format",
    },
    ClientApi.OPENAI_RESPONSES: {
        "previous_response_id": "needs stored responses; send the whole conversation",
        "conversation": "needs stored conversations; send the whole conversation",
        "prompt": "stored prompt templates live at OpenAI",
    },
}


# Responses fields `to_chat` reads; with DROPPED_FIELDS and REFUSED_FIELDS, everything it knows.
RESPONSES_MAPPED = frozenset(
    {"input", "instructions", "max_output_tokens", "temperature", "top_p", "parallel_tool_calls", "tools",
     "tool_choice", "reasoning", "text"}
)  # fmt: skip


def log_unknown(client: ClientApi, body: dict[str, Any], mapped: frozenset[str]) -> None:
    known = mapped | DROPPED_FIELDS[client].keys() | REFUSED_FIELDS[client].keys()
    unknown = sorted(key for key in body if key not in known)
    if unknown:
        log.debug("%s: dropped unknown fields %s (a newer client's)", client.value, ", ".join(unknown))


def refuse(client: ClientApi, body: dict[str, Any]) -> None:
    if body.keys().isdisjoint(REFUSED_FIELDS[client]):  # the common case, in one C call
        return
    for key, reason in REFUSED_FIELDS[client].items():
        value = body.get(key)
        if value is not None and not (key == "n" and value == 1):
            raise ClientRequestError(f"'{key}' is not supported for this model ({reason})", key)
