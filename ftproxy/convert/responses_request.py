"""OpenAI Responses requests (Codex CLI) → Chat Completions bodies.

Every upstream is reached through chat: `to_chat` gives the chat body, which then goes the way
an OpenAI chat client's body goes (passthrough to GPT, or parsed and converted for Claude and
Gemini).

    instructions                    → a system message first
    input: "text"                   → one user message
    message items (input_text, input_image, input_file, output_text, refusal) → chat messages
    function_call items             → assistant tool_calls (consecutive ones in one message)
    function_call_output items      → tool messages
    custom_tool_call(_output)       → the same, arguments {"input": …}
    reasoning items                 → left out (they are the model's own, opaque to other models)
    tools (type function, flat)     → chat function tools; other tool types are left out
    tool_choice, parallel_tool_calls, temperature, top_p → the same
    max_output_tokens               → max_tokens
    reasoning.effort                → reasoning_effort
    text.format json_schema/json_object → response_format

`previous_response_id` and `item_reference` need server-side state ftproxy does not keep: they
are refused (400) rather than silently answered without the earlier turns.
"""

from __future__ import annotations

from typing import Any

from ftproxy._json import dumps
from ftproxy.convert.base import ClientRequestError
from ftproxy.convert.canonical import each_tool, opt_int, want_list, want_object, want_str
from ftproxy.convert.tool_schema import want_schema

_DROPPED_ITEMS = frozenset({"reasoning", "web_search_call", "file_search_call", "image_generation_call"})


def to_chat(body: Any) -> dict[str, Any]:
    body = want_object(body, "body")
    if body.get("previous_response_id") is not None:
        raise ClientRequestError(
            "previous_response_id is not supported: ftproxy stores no responses; send the whole "
            "conversation in 'input' (with store=false)",
            "previous_response_id",
        )
    messages: list[dict[str, Any]] = []
    instructions = body.get("instructions")
    if instructions is not None and want_str(instructions, "instructions"):
        messages.append({"role": "system", "content": instructions})
    value = body.get("input")
    if value is None:
        raise ClientRequestError("'input' is required", "input")
    if isinstance(value, str):
        messages.append({"role": "user", "content": value})
    else:
        for i, item in enumerate(want_list(value, "input")):
            _item(want_object(item, f"input[{i}]"), f"input[{i}]", messages)
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    max_tokens = opt_int(body, "max_output_tokens", 1)
    if max_tokens is not None:
        chat["max_tokens"] = max_tokens
    for key in ("temperature", "top_p", "parallel_tool_calls", "user", "stream"):
        if body.get(key) is not None:
            chat[key] = body[key]
    tools = _tools(body.get("tools"))
    if tools:
        chat["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"))
        if choice is not None:
            chat["tool_choice"] = choice
    elif body.get("tool_choice") == "none":
        chat["tool_choice"] = "none"
    reasoning = body.get("reasoning")
    if reasoning is not None:
        effort = want_object(reasoning, "reasoning").get("effort")
        if effort is not None:
            chat["reasoning_effort"] = want_str(effort, "reasoning.effort")
    text = body.get("text")
    if text is not None:
        fmt = want_object(text, "text").get("format")
        if fmt is not None:
            fmt = want_object(fmt, "text.format")
            if fmt.get("type") == "json_schema":
                schema = {"name": fmt.get("name") or "response", "schema": fmt.get("schema") or {}}
                if fmt.get("strict") is not None:
                    schema["strict"] = fmt["strict"]
                chat["response_format"] = {"type": "json_schema", "json_schema": schema}
            elif fmt.get("type") == "json_object":
                chat["response_format"] = {"type": "json_object"}
    return chat


def _item(item: dict[str, Any], param: str, messages: list[dict[str, Any]]) -> None:
    kind = item.get("type", "message" if "role" in item else None)
    if kind == "message":
        role = item.get("role")
        if role not in ("user", "assistant", "system", "developer"):
            raise ClientRequestError(
                f"'{param}.role' must be user, assistant, system or developer", f"{param}.role"
            )
        content = _content(item.get("content"), f"{param}.content", assistant=role == "assistant")
        messages.append({"role": role, "content": content})
    elif kind in ("function_call", "custom_tool_call"):
        call_id = want_str(item.get("call_id"), f"{param}.call_id")
        name = want_str(item.get("name"), f"{param}.name")
        if kind == "function_call":
            arguments = item.get("arguments")
            arguments = arguments if isinstance(arguments, str) else dumps(arguments or {}).decode()
        else:
            arguments = dumps({"input": item.get("input")}).decode()
        call = {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
        last = messages[-1] if messages else None
        if last is not None and last["role"] == "assistant":
            last.setdefault("tool_calls", []).append(call)
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind in ("function_call_output", "custom_tool_call_output"):
        output = item.get("output")
        if isinstance(output, list):
            output = "\n".join(
                str(p.get("text")) for p in output if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        elif not isinstance(output, str):
            output = "" if output is None else dumps(output).decode()
        call_id = want_str(item.get("call_id"), f"{param}.call_id")
        messages.append({"role": "tool", "tool_call_id": call_id, "content": output})
    elif kind == "item_reference":
        raise ClientRequestError("item_reference is not supported: ftproxy stores no items", f"{param}.type")
    elif isinstance(kind, str) and kind in _DROPPED_ITEMS:
        return
    else:
        raise ClientRequestError(f"input item type '{kind}' is not supported", f"{param}.type")


def _content(value: Any, param: str, *, assistant: bool) -> Any:
    if isinstance(value, str):
        return value
    parts: list[dict[str, Any]] = []
    for j, part in enumerate(want_list(value, param)):
        p = f"{param}[{j}]"
        part = want_object(part, p)
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": want_str(part.get("text"), f"{p}.text")})
        elif kind == "refusal":
            parts.append({"type": "text", "text": want_str(part.get("refusal"), f"{p}.refusal")})
        elif kind == "input_image":
            if part.get("image_url") is None:
                raise ClientRequestError("only images given by 'image_url' are supported", f"{p}.image_url")
            url = want_str(part.get("image_url"), f"{p}.image_url")
            parts.append({"type": "image_url", "image_url": {"url": url}})
        elif kind == "input_file":
            if part.get("file_data") is None:
                raise ClientRequestError("only inline files ('file_data') are supported", f"{p}.file_data")
            file = {"file_data": want_str(part.get("file_data"), f"{p}.file_data")}
            if isinstance(part.get("filename"), str):
                file["filename"] = part["filename"]
            parts.append({"type": "file", "file": file})
        else:
            raise ClientRequestError(f"content part type '{kind}' is not supported", f"{p}.type")
    if assistant:
        return "".join(p.get("text", "") for p in parts if p["type"] == "text")
    return parts


def _tools(value: Any) -> list[dict[str, Any]]:
    tools = []
    for i, tool in each_tool(value):
        if tool.get("type") != "function":
            continue  # built-in tools (web_search, local_shell, custom grammars…) run only at OpenAI
        function: dict[str, Any] = {"name": want_str(tool.get("name"), f"tools[{i}].name")}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        parameters = tool.get("parameters")
        function["parameters"] = (
            want_schema(parameters, f"tools[{i}].parameters")
            if parameters is not None
            else {"type": "object", "properties": {}}
        )
        if isinstance(tool.get("strict"), bool):
            function["strict"] = tool["strict"]
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(value: Any) -> Any:
    if value is None or value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        return {"type": "function", "function": {"name": value["name"]}}
    return None  # hosted-tool choices: the default applies
