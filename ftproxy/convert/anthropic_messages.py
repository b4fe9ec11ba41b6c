"""Anthropic Messages requests: client body → `ChatRequest`, and bodies for Anthropic-on-Bedrock.

- `parse_request`: an Anthropic client's body, checked, for conversion to another family.
- `build_native_request`: an Anthropic client talking to Claude through Bedrock's invoke API:
  the body stays as it is, except what Bedrock requires (`anthropic_version`, no `model` or
  `stream`, `anthropic-beta` header → `anthropic_beta` body list) and the fields Bedrock rejects
  (`INVOKE_FIELDS` is the allow-list; see `convert.DROPPED_FIELDS`).
- `claude_invoke.build_invoke_request` (its own module) builds the invoke body for a converted
  `ChatRequest` (OpenAI/Responses client); it shares `BEDROCK_VERSION` and `invoke_paths` from here.

Streams use `/invoke-with-response-stream` with `Accept: application/vnd.amazon.eventstream`:
the AWS binary event stream is what Bedrock itself speaks and what every AWS SDK reads, so it is
the framing SAP AI Core relays most faithfully; the decoder also accepts SSE should a deployment
answer that way (`wire.upstream`).

What current clients (Claude Code) send and no SAP AI Core upstream takes as is:
- `system`-role entries inside `messages` become user-turn text wrapped in `<system>…</system>`,
  merged with the neighbouring user turn (tool results first): Bedrock, Converse and Gemini
  take system text only at the top, and moving it there would change the prompt's order.
- `thinking: {"type": "adaptive"}` becomes `enabled` with a budget from `output_config.effort`
  (`EFFORT_BUDGETS`, default high); `display` is left out (thinking text comes back). On Claude
  models without extended thinking (before 3.7) adaptive thinking is left out.
- Top-level fields this module does not know are dropped with a debug log line (logger
  `ftproxy.convert`), so that a newer client keeps working; the ones that would change the answer
  are in `convert.REFUSED_FIELDS`.
- Structured output (`output_config.format` / the older `output_format`, a JSON schema) becomes
  `response_format` for GPT and Gemini; Claude on Bedrock has no such switch here, and answering
  free text to a client that asked for JSON would be wrong, so it is a 400 there.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from ftproxy.convert.base import ClientRequestError, UpstreamRequest
from ftproxy.convert.canonical import (
    ChatRequest,
    each_tool,
    merge_turns,
    opt_int,
    opt_number,
    stop_list,
    text_block,
    want_list,
    want_object,
    want_str,
)
from ftproxy.convert.limits import (
    CLAUDE_DEFAULT_MAX_TOKENS,
    CLAUDE_MIN_THINKING_BUDGET,
    EFFORT_BUDGETS,
    claude_cap,
    claude_thinks,
)
from ftproxy.convert.tool_schema import want_schema
from ftproxy.wire.apis import StreamFormat

log = logging.getLogger("ftproxy.convert")

BEDROCK_VERSION = "bedrock-2023-05-31"
EVENTSTREAM = "application/vnd.amazon.eventstream"

# What Bedrock's invoke API accepts for Anthropic models; anything else it answers with
# "extraneous key [...] is not permitted".
INVOKE_FIELDS = frozenset(
    {
        "anthropic_version",
        "anthropic_beta",
        "max_tokens",
        "system",
        "messages",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "thinking",
        "context_management",
    }
)
# anthropic-beta values Bedrock accepts (it rejects the request for any other one).
BEDROCK_BETAS = frozenset(
    {
        "computer-use-2024-10-22",
        "computer-use-2025-01-24",
        "computer-use-2025-11-24",
        "token-efficient-tools-2025-02-19",
        "interleaved-thinking-2025-05-14",
        "output-128k-2025-02-19",
        "dev-full-thinking-2025-05-14",
        "context-1m-2025-08-07",
        "context-management-2025-06-27",
        "effort-2025-11-24",
        "tool-search-tool-2025-10-19",
        "tool-examples-2025-10-29",
    }
)
# Anthropic-hosted server tools Bedrock does not run.
_SERVER_TOOL_PREFIXES = ("web_search_", "web_fetch_", "code_execution_", "mcp_", "memory_")
_BLOCK_TYPES = frozenset(
    {"text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}
)
# Top-level fields of an Anthropic Messages body that are mapped (here or in the builders) or
# listed in `convert.DROPPED_FIELDS`; any other is a newer client's and is dropped with a log line.
KNOWN_FIELDS = frozenset(
    {
        "model", "messages", "system", "max_tokens", "stream", "temperature", "top_p", "top_k",
        "stop_sequences", "tools", "tool_choice", "thinking", "metadata", "output_config",
        "context_management", "service_tier", "container", "mcp_servers", "cache_control",
        "inference_geo", "speed", "diagnostics", "workspace_id", "user_profile_id", "anthropic_beta",
        "anthropic_version", "output_format", "safeguards",
    }
)  # fmt: skip
# Anthropic's effort levels → the OpenAI/ftproxy effort names (`limits.EFFORT_BUDGETS`).
EFFORTS = {"low": "low", "medium": "medium", "high": "high", "max": "xhigh", "xhigh": "xhigh"}
# What a tool definition may carry to Bedrock (Claude Code adds e.g. `defer_loading`).
_TOOL_FIELDS = frozenset({"type", "name", "description", "input_schema", "cache_control"})


def log_unknown_fields(body: dict[str, Any]) -> None:
    if body.keys() <= KNOWN_FIELDS:  # the common case, in one C call
        return
    unknown = sorted(key for key in body if key not in KNOWN_FIELDS)
    if unknown:
        log.debug("Anthropic Messages: dropped unknown fields %s (a newer client's)", ", ".join(unknown))


def requested_effort(body: dict[str, Any]) -> str | None:
    """`output_config.effort` as an ftproxy effort name; unknown levels are left out, not refused."""
    config = body.get("output_config")
    effort = config.get("effort") if isinstance(config, dict) else None
    if effort is not None and not isinstance(effort, str):
        raise ClientRequestError("'output_config.effort' must be a string", "output_config.effort")
    return EFFORTS.get(effort) if effort else None


def end_user(user_id: Any) -> str | None:
    """metadata.user_id as OpenAI's `user`: ids longer than 64 characters (Claude Code sends a JSON
    blob with its device id) become a stable hash, short enough for Azure and not the raw id."""
    if not isinstance(user_id, str) or not user_id:
        return None
    return user_id if len(user_id) <= 64 else "sha256-" + hashlib.sha256(user_id.encode()).hexdigest()[:40]


def structured_output(body: dict[str, Any]) -> dict[str, Any] | None:
    """`output_config.format` (or `output_format`) as an OpenAI `response_format`, or None."""
    config = body.get("output_config")
    fmt = config.get("format") if isinstance(config, dict) else None
    param = "output_config.format"
    if fmt is None and body.get("output_format") is not None:
        fmt, param = body["output_format"], "output_format"
    if fmt is None:
        return None
    fmt = want_object(fmt, param)
    if fmt.get("type") != "json_schema":
        raise ClientRequestError(f"'{param}.type' must be 'json_schema'", f"{param}.type")
    schema = want_object(fmt.get("schema"), f"{param}.schema")
    return {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}


def refuse_structured_output(body: dict[str, Any]) -> None:
    """Claude on Bedrock: structured output cannot be honoured, and ignoring it changes the answer."""
    if structured_output(body) is not None:
        param = "output_format" if body.get("output_format") is not None else "output_config.format"
        raise ClientRequestError(
            f"'{param}' (structured output) is not supported for Claude models on SAP AI Core; "
            "describe the JSON you want in the prompt, or use a GPT or Gemini model",
            param,
        )


def system_turn(content: Any, param: str) -> list[dict[str, Any]]:
    """A `system`-role entry of `messages`, as text blocks for a user turn."""
    if isinstance(content, str):
        texts = [content]
    else:
        texts = []
        for j, block in enumerate(want_list(content, param)):
            block = want_object(block, f"{param}[{j}]")
            if block.get("type") != "text":
                raise ClientRequestError(f"'{param}[{j}].type' must be 'text'", f"{param}[{j}].type")
            texts.append(want_str(block.get("text"), f"{param}[{j}].text"))
    text = "\n\n".join(t for t in texts if t.strip())
    return [text_block(f"<system>\n{text}\n</system>")] if text else []


def claude_thinking_config(
    thinking: dict[str, Any] | None, effort: str | None, model: str, max_tokens: int
) -> dict[str, Any] | None:
    """The `thinking` a Bedrock Claude model takes for what the client asked: adaptive becomes a
    budget (Bedrock's Claude models take `enabled` + `budget_tokens`) or, on models without
    extended thinking, nothing (adaptive lets the model decide; an explicit `enabled` is sent as
    asked); `display` is left out. None when no thinking fits below max_tokens."""
    if thinking is None or thinking.get("type") not in ("enabled", "adaptive"):
        return None
    if thinking.get("type") == "adaptive" and not claude_thinks(model):
        return None
    budget = thinking.get("budget_tokens")
    if thinking.get("type") == "adaptive" or not isinstance(budget, int):
        budget = EFFORT_BUDGETS[effort or "high"]
    budget = min(budget, max_tokens - 1)
    if budget < CLAUDE_MIN_THINKING_BUDGET:
        return None
    return {"type": "enabled", "budget_tokens": budget}


def native_messages(messages: list[Any]) -> list[dict[str, Any]]:
    """The client's turns for Bedrock: system entries folded into user turns, roles alternating."""
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for i, message in enumerate(messages):
        message = want_object(message, f"messages[{i}]")
        role = message.get("role")
        if role == "system":
            turns.append(("user", system_turn(message.get("content"), f"messages[{i}].content")))
        elif role in ("user", "assistant"):
            turns.append((role, _native_blocks(message.get("content"), f"messages[{i}].content")))
        else:
            raise ClientRequestError(
                f"'messages[{i}].role' must be user, assistant or system", f"messages[{i}].role"
            )
    return merge_turns(turns)


def _native_blocks(content: Any, param: str) -> list[dict[str, Any]]:
    """A turn's content as blocks: text, or a list of block objects (passed on as they are)."""
    if isinstance(content, str):
        return [text_block(content)]
    if content is None:
        return []
    return [want_object(block, f"{param}[{j}]") for j, block in enumerate(want_list(content, param))]


def bedrock_betas(headers: dict[str, str] | None, body: dict[str, Any] | None = None) -> list[str]:
    if not headers and body is None:
        return []
    values: list[str] = []
    for name, value in (headers or {}).items():
        if name.lower() == "anthropic-beta" and isinstance(value, str):
            values.extend(v.strip() for v in value.split(","))
    if body is not None and isinstance(body.get("anthropic_beta"), list):
        values.extend(v for v in body["anthropic_beta"] if isinstance(v, str))
    return sorted({v for v in values if v in BEDROCK_BETAS})


def invoke_paths(stream: bool) -> tuple[str, dict[str, str], StreamFormat]:
    if stream:
        return "/invoke-with-response-stream", {"Accept": EVENTSTREAM}, StreamFormat.AWS_EVENTSTREAM
    return "/invoke", {}, StreamFormat.SSE_JSON


def build_native_request(
    body: Any, *, model: str, stream: bool, headers: dict[str, str] | None = None
) -> UpstreamRequest:
    body = want_object(body, "body")
    log_unknown_fields(body)
    refuse_structured_output(body)
    betas = bedrock_betas(headers, body)
    out = {key: value for key, value in body.items() if key in INVOKE_FIELDS}
    out["messages"] = native_messages(want_list(body.get("messages"), "messages"))
    out["anthropic_version"] = BEDROCK_VERSION
    max_tokens = opt_int(body, "max_tokens", 1)
    out["max_tokens"] = min(max_tokens or CLAUDE_DEFAULT_MAX_TOKENS, claude_cap(model, betas))
    thinking = body.get("thinking")
    thinking = claude_thinking_config(
        want_object(thinking, "thinking") if thinking is not None else None,
        requested_effort(body),
        model,
        out["max_tokens"],
    )
    if thinking is None:
        out.pop("thinking", None)
        if isinstance(body.get("context_management"), dict):
            out.pop("context_management")  # its clear_thinking edits need thinking on
    else:
        out["thinking"] = thinking
    if betas:
        out["anthropic_beta"] = betas
    else:
        out.pop("anthropic_beta", None)
    tools = body.get("tools")
    if isinstance(tools, list):
        kept = [
            {k: v for k, v in t.items() if k in _TOOL_FIELDS} if isinstance(t, dict) else t
            for t in tools
            if not _is_server_tool(t)
        ]
        if kept:
            out["tools"] = kept
        else:
            out.pop("tools", None)
            out.pop("tool_choice", None)
    path, extra_headers, stream_format = invoke_paths(stream)
    return UpstreamRequest(path=path, body=out, stream_format=stream_format, headers=extra_headers)


def _is_server_tool(tool: Any) -> bool:
    kind = tool.get("type") if isinstance(tool, dict) else None
    return isinstance(kind, str) and kind.startswith(_SERVER_TOOL_PREFIXES)


# --- client body → ChatRequest ------------------------------------------------------------------


# The top-level fields of the plain request (`_plain_request`): a simple prompt.
_PLAIN_FIELDS = frozenset(
    {"model", "messages", "max_tokens", "stream", "system", "temperature", "top_p", "top_k"}
)


def parse_request(body: Any, headers: dict[str, str] | None = None) -> ChatRequest:
    body = want_object(body, "body")
    log_unknown_fields(body)
    if body.keys() <= _PLAIN_FIELDS:
        plain = _plain_request(body, headers)
        if plain is not None:
            return plain
    return _general_request(body, headers)


def _plain_request(body: dict[str, Any], headers: dict[str, str] | None) -> ChatRequest | None:
    """The request `_general_request` makes of a body of `_PLAIN_FIELDS` whose messages are user
    and assistant text (string content) and whose system prompt is a string; None for any other
    body, which `_general_request` then reads (and refuses with its own error). The numbers are
    read by the same helpers in the same order, after everything the general path checks before
    them has passed, so that an invalid one is the same 400."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        return None
    turns: list[dict[str, Any]] = []  # `merge_turns`'s result: blank text left out, roles merged
    for message in messages:
        if not isinstance(message, dict):
            return None
        content = message.get("content")
        role = message.get("role")
        if not isinstance(content, str) or (role != "user" and role != "assistant"):
            return None
        if content.strip():
            if turns and turns[-1]["role"] == role:
                turns[-1]["content"].append({"type": "text", "text": content})
            else:
                turns.append({"role": role, "content": [{"type": "text", "text": content}]})
    system = body.get("system")
    if not turns or (system is not None and not isinstance(system, str)):
        return None
    request = ChatRequest(
        turns,
        [text_block(system)] if system else [],
        opt_int(body, "max_tokens", 1),
        opt_number(body, "temperature", 0, 1),
        opt_number(body, "top_p", 0, 1),
        opt_int(body, "top_k", 0),
    )
    if headers:
        request.betas = bedrock_betas(headers)
    return request


def _general_request(body: dict[str, Any], headers: dict[str, str] | None) -> ChatRequest:
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for i, message in enumerate(want_list(body.get("messages"), "messages")):
        param = f"messages[{i}]"
        message = want_object(message, param)
        role = message.get("role")
        if role == "system":
            turns.append(("user", system_turn(message.get("content"), f"{param}.content")))
            continue
        if role not in ("user", "assistant"):
            raise ClientRequestError(f"'{param}.role' must be user, assistant or system", f"{param}.role")
        turns.append((role, _blocks(message.get("content"), f"{param}.content")))
    thinking = body.get("thinking")
    if thinking is not None:
        thinking = want_object(thinking, "thinking")
        if thinking.get("type") == "enabled":
            opt_int(thinking, "budget_tokens", 1, "thinking.budget_tokens")
        elif thinking.get("type") not in ("disabled", "adaptive"):
            raise ClientRequestError("'thinking.type' must be enabled, disabled or adaptive", "thinking.type")
        if thinking.get("type") == "disabled":
            thinking = None
        else:  # `display` (omitted/summarized) has no upstream equivalent: thinking text comes back
            thinking = {k: v for k, v in thinking.items() if k in ("type", "budget_tokens")}
    metadata = body.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    tool_choice = body.get("tool_choice")
    parallel = None
    if tool_choice is not None:
        tool_choice = want_object(tool_choice, "tool_choice")
        if tool_choice.get("type") not in ("auto", "any", "tool", "none"):
            raise ClientRequestError("'tool_choice.type' must be auto, any, tool or none", "tool_choice.type")
        if tool_choice["type"] == "tool":
            want_str(tool_choice.get("name"), "tool_choice.name")
        if tool_choice.get("disable_parallel_tool_use") is True:
            parallel = False
    return ChatRequest(
        messages=merge_turns(turns),
        system=_system(body.get("system")),
        max_tokens=opt_int(body, "max_tokens", 1),
        temperature=opt_number(body, "temperature", 0, 1),
        top_p=opt_number(body, "top_p", 0, 1),
        top_k=opt_int(body, "top_k", 0),
        stop=stop_list(body.get("stop_sequences"), "stop_sequences"),
        tools=_tools(body.get("tools")),
        tool_choice=tool_choice,
        parallel_tool_calls=parallel,
        thinking=thinking,
        user=end_user(user),
        betas=bedrock_betas(headers),
        effort=requested_effort(body),
        response_format=structured_output(body),
    )


def _system(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if isinstance(value, str):
        return [text_block(value)] if value else []
    blocks = []
    for i, block in enumerate(want_list(value, "system")):
        block = want_object(block, f"system[{i}]")
        if block.get("type") != "text":
            raise ClientRequestError(f"'system[{i}].type' must be 'text'", f"system[{i}].type")
        want_str(block.get("text"), f"system[{i}].text")
        if block["text"]:
            blocks.append(block)
    return blocks


def _blocks(content: Any, param: str, *, nested: bool = False) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [text_block(content)]
    blocks = []
    for j, block in enumerate(want_list(content, param)):
        p = f"{param}[{j}]"
        block = want_object(block, p)
        kind = block.get("type")
        allowed = ("text", "image", "document") if nested else _BLOCK_TYPES
        if not isinstance(kind, str) or kind not in allowed:
            raise ClientRequestError(
                f"content block type '{kind}' is not supported for this model", f"{p}.type"
            )
        if kind == "text":
            want_str(block.get("text"), f"{p}.text")
        elif kind in ("image", "document"):
            source = want_object(block.get("source"), f"{p}.source")
            if source.get("type") in ("base64", "text"):
                want_str(source.get("data"), f"{p}.source.data")
                want_str(source.get("media_type", ""), f"{p}.source.media_type")
            elif source.get("type") == "url":
                want_str(source.get("url"), f"{p}.source.url")
            else:
                raise ClientRequestError(f"'{p}.source.type' must be base64, url or text", f"{p}.source.type")
        elif kind == "tool_use":
            want_str(block.get("id"), f"{p}.id")
            want_str(block.get("name"), f"{p}.name")
            if not isinstance(block.get("input", {}), dict):
                raise ClientRequestError(f"'{p}.input' must be an object", f"{p}.input")
            block = {**block, "input": block.get("input") or {}}
        elif kind == "tool_result":
            want_str(block.get("tool_use_id"), f"{p}.tool_use_id")
            inner = block.get("content")
            block = {
                **block,
                "content": [] if inner is None else _blocks(inner, f"{p}.content", nested=True),
                "is_error": block.get("is_error") is True,
            }
        elif kind == "thinking":
            want_str(block.get("thinking"), f"{p}.thinking")
        elif kind == "redacted_thinking":
            want_str(block.get("data"), f"{p}.data")
        blocks.append(block)
    return blocks


def _tools(value: Any) -> list[dict[str, Any]]:
    tools = []
    for i, tool in each_tool(value):
        if tool.get("type") not in (None, "custom"):
            continue  # server tools (web search, bash…) only run on Anthropic's own platform
        schema = tool.get("input_schema")
        tools.append(
            {
                "name": want_str(tool.get("name"), f"tools[{i}].name"),
                "description": tool["description"] if isinstance(tool.get("description"), str) else "",
                "input_schema": (
                    {"type": "object"} if schema is None else want_schema(schema, f"tools[{i}].input_schema")
                ),
                **({"cache_control": tool["cache_control"]} if tool.get("cache_control") else {}),
            }
        )
    return tools
