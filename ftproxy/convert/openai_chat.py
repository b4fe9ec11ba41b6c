"""OpenAI Chat Completions requests: client body → `ChatRequest`, and `ChatRequest` → Azure body.

Client side (OpenAI client → Claude or Gemini): every `system`/`developer` message goes into the
real system prompt; `tool` messages become tool_result blocks of a user turn; assistant
`tool_calls` become tool_use blocks with their arguments parsed; `image_url` and `file` parts
with data URLs become image/document blocks.

Upstream side (Anthropic or Responses client → GPT): the reverse, then the GPT passthrough's own
fixes (usage in streams, reasoning-model fields). Tool results are sent as `tool` messages right
after the assistant turn, in their own order; images inside tool results, which `tool` messages
cannot carry, follow in a user message.
"""

from __future__ import annotations

from typing import Any

from ftproxy._json import dumps
from ftproxy.convert import openai_passthrough
from ftproxy.convert.base import ClientRequestError, UpstreamRequest
from ftproxy.convert.canonical import (
    ChatRequest,
    check_chat_common,
    each_tool,
    media_source,
    merge_turns,
    opt_bool,
    opt_int,
    opt_number,
    opt_str,
    stop_list,
    text_block,
    want_list,
    want_object,
    want_str,
)
from ftproxy.convert.events import parse_arguments
from ftproxy.convert.limits import capped, effort_for_budget, gpt_cap
from ftproxy.convert.tool_schema import want_schema
from ftproxy.wire.apis import UpstreamApi

_UNSUPPORTED = {
    "functions": "the legacy 'functions' API is not supported for this model; use 'tools'",
    "function_call": "the legacy 'function_call' is not supported for this model; use 'tool_choice'",
    "audio": "audio output is not supported for this model",
}


# The top-level fields of the plain request (`_plain_request`): what an SDK sends for a simple
# prompt. A body with any other field takes the general path.
_PLAIN_FIELDS = frozenset(
    {
        "model",
        "messages",
        "stream",
        "stream_options",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
    }
)


def parse_request(body: Any) -> ChatRequest:
    body = want_object(body, "body")
    check_chat_common(body)  # the common fields, as the GPT passthrough checks them
    if body.keys() <= _PLAIN_FIELDS:
        plain = _plain_request(body)
        if plain is not None:
            return plain
    return _general_request(body)


def _plain_request(body: dict[str, Any]) -> ChatRequest | None:
    """The request `_general_request` makes of a body of `_PLAIN_FIELDS` whose messages are text
    (string content, no tool calls), read without its per-field and per-part checks; None for
    any other body, which `_general_request` then reads (and refuses with its own error).

    What `check_chat_common` checked is not checked again: `messages` is a non-empty list of
    objects with a known role and string, list or null content, and the numbers are in range
    (max_tokens a whole number, as an int or a float)."""
    options = body.get("stream_options")
    if options is not None and not isinstance(options, dict):
        return None
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []  # `merge_turns`'s result: blank text left out, roles merged
    for message in body["messages"]:
        content = message.get("content")
        if not isinstance(content, str):
            return None
        role = message.get("role")
        if role == "user" or (role == "assistant" and message.get("tool_calls") is None):
            if content.strip():
                if turns and turns[-1]["role"] == role:
                    turns[-1]["content"].append({"type": "text", "text": content})
                else:
                    turns.append({"role": role, "content": [{"type": "text", "text": content}]})
        elif role == "system" or role == "developer":
            if content:
                system.append({"type": "text", "text": content})
        else:
            return None
    if not turns:
        return None
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if isinstance(max_tokens, float):  # a whole number (`check_chat_common`), read as `opt_int` reads it
        max_tokens = int(max_tokens)
    return ChatRequest(turns, system, max_tokens, body.get("temperature"), body.get("top_p"))


def _general_request(body: dict[str, Any]) -> ChatRequest:
    """Any body that `check_chat_common` passed."""
    for key, message in _UNSUPPORTED.items():
        if body.get(key) is not None:
            raise ClientRequestError(message, key)
    if body.get("n") not in (None, 1):
        raise ClientRequestError("only n=1 is supported for this model", "n")
    system: list[dict[str, Any]] = []
    turns: list[tuple[str, list[dict[str, Any]]]] = []
    for i, message in enumerate(want_list(body.get("messages"), "messages")):
        param = f"messages[{i}]"
        message = want_object(message, param)
        role = message.get("role")
        content = message.get("content")
        if role in ("system", "developer"):
            system.extend(_text_parts(content, f"{param}.content"))
        elif role == "user":
            turns.append(("user", _user_parts(content, f"{param}.content")))
        elif role == "assistant":
            blocks = _text_parts(content, f"{param}.content")
            blocks.extend(_tool_calls(message.get("tool_calls"), f"{param}.tool_calls"))
            turns.append(("assistant", blocks))
        elif role == "tool":
            tool_call_id = want_str(message.get("tool_call_id"), f"{param}.tool_call_id")
            result = {
                "type": "tool_result",
                "tool_use_id": tool_call_id,
                "content": [
                    b for b in _user_parts(content, f"{param}.content") if b["type"] in ("text", "image")
                ],
            }
            turns.append(("user", [result]))
        else:
            raise ClientRequestError(
                f"'{param}.role' must be one of system, developer, user, assistant, tool", f"{param}.role"
            )
    max_tokens = opt_int(body, "max_completion_tokens", 1)
    if max_tokens is None:
        max_tokens = opt_int(body, "max_tokens", 1)
    options = body.get("stream_options")
    if options is not None:
        want_object(options, "stream_options")
    response_format = body.get("response_format")
    if response_format is not None:
        want_object(response_format, "response_format")
    effort = opt_str(body, "reasoning_effort")
    return ChatRequest(
        messages=merge_turns(turns),
        system=[b for b in system if b["text"]],
        max_tokens=max_tokens,
        temperature=opt_number(body, "temperature", 0, 2),
        top_p=opt_number(body, "top_p", 0, 1),
        stop=stop_list(body.get("stop"), "stop"),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=opt_bool(body, "parallel_tool_calls"),
        reasoning_effort=effort.lower() if effort else None,
        response_format=response_format,
        presence_penalty=opt_number(body, "presence_penalty", -2, 2),
        frequency_penalty=opt_number(body, "frequency_penalty", -2, 2),
        seed=opt_int(body, "seed", -(2**63)),
        user=opt_str(body, "user"),
    )


def _text_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [text_block(content)]
    blocks = []
    for j, part in enumerate(want_list(content, param)):
        part = want_object(part, f"{param}[{j}]")
        kind = part.get("type")
        if kind == "text":
            blocks.append(text_block(want_str(part.get("text"), f"{param}[{j}].text")))
        elif kind == "refusal":
            blocks.append(text_block(want_str(part.get("refusal"), f"{param}[{j}].refusal")))
        else:
            raise ClientRequestError(f"'{param}[{j}].type' must be 'text' here", f"{param}[{j}].type")
    return blocks


def _user_parts(content: Any, param: str) -> list[dict[str, Any]]:
    if content is None or isinstance(content, str):
        return _text_parts(content, param)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(want_list(content, param)):
        p = f"{param}[{j}]"
        part = want_object(part, p)
        kind = part.get("type")
        if kind == "text":
            blocks.append(text_block(want_str(part.get("text"), f"{p}.text")))
        elif kind == "image_url":
            image = part.get("image_url")
            url = image if isinstance(image, str) else want_object(image, f"{p}.image_url").get("url")
            url = want_str(url, f"{p}.image_url.url")
            blocks.append({"type": "image", "source": media_source(url, f"{p}.image_url.url")})
        elif kind == "file":
            file = want_object(part.get("file"), f"{p}.file")
            data = file.get("file_data")
            if data is None:
                raise ClientRequestError(
                    "only inline files ('file_data') are supported", f"{p}.file.file_data"
                )
            source = media_source(want_str(data, f"{p}.file.file_data"), f"{p}.file.file_data")
            block: dict[str, Any] = {"type": "document", "source": source}
            if isinstance(file.get("filename"), str):
                block["title"] = file["filename"]
            blocks.append(block)
        elif kind == "input_audio":
            raise ClientRequestError("audio input is not supported for this model", f"{p}.type")
        else:
            raise ClientRequestError(f"'{p}.type' must be text, image_url or file", f"{p}.type")
    return blocks


def _tool_calls(value: Any, param: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    blocks = []
    for j, call in enumerate(want_list(value, param)):
        p = f"{param}[{j}]"
        call = want_object(call, p)
        function = want_object(call.get("function"), f"{p}.function")
        arguments = function.get("arguments")
        if arguments is not None and not isinstance(arguments, str):
            arguments = dumps(arguments).decode()  # some clients send an object
        blocks.append(
            {
                "type": "tool_use",
                "id": want_str(call.get("id"), f"{p}.id"),
                "name": want_str(function.get("name"), f"{p}.function.name"),
                "input": parse_arguments(arguments or ""),
            }
        )
    return blocks


def _tools(value: Any) -> list[dict[str, Any]]:
    tools = []
    for i, tool in each_tool(value):
        if tool.get("type", "function") != "function":
            raise ClientRequestError(
                f"tool type '{tool.get('type')}' is not supported for this model; use function tools",
                f"tools[{i}].type",
            )
        function = want_object(tool.get("function"), f"tools[{i}].function")
        parameters = function.get("parameters")
        schema = (
            {"type": "object", "properties": {}}
            if parameters is None
            else want_schema(parameters, f"tools[{i}].function.parameters")
        )
        tools.append(
            {
                "name": want_str(function.get("name"), f"tools[{i}].function.name"),
                "description": opt_str(function, "description", f"tools[{i}].function.description") or "",
                "input_schema": schema,
            }
        )
    return tools


def _tool_choice(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if isinstance(value, str):
        mapped = {"auto": "auto", "none": "none", "required": "any"}.get(value)
        if mapped is None:
            raise ClientRequestError(
                "'tool_choice' must be none, auto, required or a function", "tool_choice"
            )
        return {"type": mapped}
    value = want_object(value, "tool_choice")
    if value.get("type") != "function":
        raise ClientRequestError("'tool_choice.type' must be 'function'", "tool_choice.type")
    function = want_object(value.get("function"), "tool_choice.function")
    return {"type": "tool", "name": want_str(function.get("name"), "tool_choice.function.name")}


# --- ChatRequest → Azure OpenAI chat -------------------------------------------------------------


def build_azure_request(
    request: ChatRequest, *, model: str, stream: bool, api: UpstreamApi = UpstreamApi.AZURE_OPENAI_CHAT
) -> UpstreamRequest:
    """The chat completions body for GPT on Azure, or for an OpenAI-compatible deployment (`api`)."""
    body: dict[str, Any] = {"model": model, "messages": to_openai_messages(request)}
    max_tokens = capped(request.max_tokens, gpt_cap(model))
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "user"):
        value = getattr(request, key)
        if value is not None:
            body[key] = value
    if request.stop:
        body["stop"] = request.stop[:4]
    if request.tools:
        body["tools"] = openai_tools(request.tools)
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
    choice = request.tool_choice
    if choice is not None and (request.tools or choice["type"] == "none"):
        kind = choice["type"]
        if kind == "tool":
            body["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        else:
            body["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}.get(kind, "auto")
    if request.response_format is not None:
        body["response_format"] = request.response_format
    if openai_passthrough.is_reasoning_model(model):
        # Anthropic's output_config.effort; GPT's top level is "high" ("xhigh" is not on every model)
        anthropic_effort = "high" if request.effort == "xhigh" else request.effort
        effort = request.reasoning_effort or anthropic_effort or _effort_for_thinking(request.thinking)
        if effort is not None:
            body["reasoning_effort"] = effort
    return openai_passthrough.build_request(body, model=model, stream=stream, api=api)


def openai_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Canonical tools as Chat Completions function tools."""
    return [
        {
            "type": "function",
            "function": {
                "name": t["name"],
                **({"description": t["description"]} if t.get("description") else {}),
                "parameters": t["input_schema"],
            },
        }
        for t in tools
    ]


def _effort_for_thinking(thinking: dict[str, Any] | None) -> str | None:
    kind = (thinking or {}).get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens") if thinking else None
        return effort_for_budget(budget) if isinstance(budget, int) else "medium"
    return "medium" if kind == "adaptive" else None


def to_openai_messages(request: ChatRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    system = [b["text"] for b in request.system]
    if system:
        messages.append({"role": "system", "content": "\n\n".join(system)})
    for turn in request.messages:
        if turn["role"] == "assistant":
            messages.append(_assistant_message(turn["content"]))
            continue
        parts: list[dict[str, Any]] = []
        for block in turn["content"]:
            kind = block.get("type")
            if kind == "tool_result":
                text = "\n".join(b["text"] for b in block["content"] if b.get("type") == "text")
                if block.get("is_error"):
                    text = f"Error: {text}" if text else "Error"
                messages.append({"role": "tool", "tool_call_id": block["tool_use_id"], "content": text})
                images = (_openai_part(b) for b in block["content"] if b.get("type") in ("image", "document"))
                parts.extend(p for p in images if p is not None)
            else:
                part = _openai_part(block)
                if part is not None:
                    parts.append(part)
        if parts:
            # comprehensions, not generators (all(), join): one of these per user turn
            texts = [p["text"] for p in parts if p["type"] == "text"]
            if len(texts) == len(parts):
                messages.append({"role": "user", "content": "\n\n".join(texts)})
            else:
                messages.append({"role": "user", "content": parts})
    return messages


def _assistant_message(blocks: list[dict[str, Any]]) -> dict[str, Any]:
    text = "".join(b["text"] for b in blocks if b.get("type") == "text")
    calls = [
        {
            "id": b["id"],
            "type": "function",
            "function": {"name": b["name"], "arguments": dumps(b.get("input") or {}).decode()},
        }
        for b in blocks
        if b.get("type") == "tool_use"
    ]
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _openai_part(block: dict[str, Any]) -> dict[str, Any] | None:
    kind = block.get("type")
    if kind == "text":
        return {"type": "text", "text": block["text"]}
    source = block.get("source") or {}
    if source.get("type") == "base64":
        url = f"data:{source.get('media_type')};base64,{source.get('data')}"
    elif source.get("type") == "url":
        url = source.get("url")
    elif source.get("type") == "text":  # a plain-text document
        return {"type": "text", "text": str(source.get("data") or "")}
    else:
        return None
    if kind == "image":
        return {"type": "image_url", "image_url": {"url": url}}
    if kind == "document":
        return {"type": "file", "file": {"filename": block.get("title") or "document.pdf", "file_data": url}}
    return None
