"""The canonical request every converted pair goes through, and the checks shared by the parsers.

Client bodies (OpenAI chat, Anthropic Messages, Responses via chat) are parsed into a
`ChatRequest`; upstream bodies (Converse, Anthropic-on-Bedrock, Gemini, Azure chat) are built
from it. Turns and content blocks use Anthropic's shapes, the richest of the four:

    {"type": "text", "text"}                      {"type": "tool_use", "id", "name", "input": {…}}
    {"type": "image", "source": {"type": "base64", "media_type", "data"} | {"type": "url", "url"}}
    {"type": "document", "source": {…}}           {"type": "tool_result", "tool_use_id",
    {"type": "thinking", "thinking", "signature"}   "content": [text/image blocks], "is_error"}
    {"type": "redacted_thinking", "data"}

Turns alternate user/assistant (consecutive turns of one role are merged, tool results first),
and blocks of empty text are left out: every upstream rejects them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ftproxy.convert.base import ClientRequestError


@dataclass(slots=True)
class ChatRequest:
    messages: list[dict[str, Any]]
    system: list[dict[str, Any]] = field(default_factory=list)  # text blocks
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    tools: list[dict[str, Any]] = field(default_factory=list)  # {"name", "description", "input_schema"}
    tool_choice: dict[str, Any] | None = None  # {"type": auto|any|tool|none, "name"?}
    parallel_tool_calls: bool | None = None
    thinking: dict[str, Any] | None = None  # Anthropic's `thinking`, when the client sent one
    reasoning_effort: str | None = None  # OpenAI's, when the client sent one
    response_format: dict[str, Any] | None = None  # OpenAI's
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    seed: int | None = None
    user: str | None = None
    betas: list[str] = field(default_factory=list)  # anthropic-beta values
    effort: str | None = None  # Anthropic's output_config.effort, as an EFFORT_BUDGETS key


# --- field checks -------------------------------------------------------------------------------


def want_object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ClientRequestError(f"'{param}' must be an object", param)
    return value


def want_list(value: Any, param: str) -> list[Any]:
    if not isinstance(value, list):
        raise ClientRequestError(f"'{param}' must be an array", param)
    return value


def want_str(value: Any, param: str) -> str:
    if not isinstance(value, str):
        raise ClientRequestError(f"'{param}' must be a string", param)
    return value


def each_tool(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    """The client's `tools` array, checked alike for the three client APIs: absent is none, else
    an array of objects. Each API then reads its own fields (and skips its own hosted tools)."""
    if value is None:
        return
    for i, tool in enumerate(want_list(value, "tools")):
        yield i, want_object(tool, f"tools[{i}]")


def opt_str(body: dict[str, Any], key: str, param: str | None = None) -> str | None:
    value = body.get(key)
    return None if value is None else want_str(value, param or key)


def opt_bool(body: dict[str, Any], key: str, param: str | None = None) -> bool | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ClientRequestError(f"'{param or key}' must be true or false", param or key)
    return value


def opt_number(
    body: dict[str, Any], key: str, low: float, high: float, param: str | None = None
) -> float | None:
    value = body.get(key)
    if value is None:
        return None
    name = param or key
    # An int is exact at any size (math.isfinite overflows on a 400-digit one): the range check
    # below compares it exactly.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
    ):
        raise ClientRequestError(f"'{name}' must be a number", name)
    if not low <= value <= high:
        raise ClientRequestError(f"'{name}' must be between {low:g} and {high:g}", name)
    return value


INT64_MAX = 2**63 - 1  # the widest integer any upstream takes; above it is never meant


def opt_int(
    body: dict[str, Any], key: str, low: int = 0, param: str | None = None, high: int = INT64_MAX
) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    name = param or key
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ClientRequestError(f"'{name}' must be an integer", name)
    if value < low:
        raise ClientRequestError(f"'{name}' must be at least {low}", name)
    if value > high:
        raise ClientRequestError(f"'{name}' must be at most {high}", name)
    return value


def stop_list(value: Any, param: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    items = want_list(value, param)
    for i, item in enumerate(items):
        want_str(item, f"{param}[{i}]")
    return [s for s in items if s]


# --- content helpers ----------------------------------------------------------------------------

_DATA_URL = re.compile(r"data:([\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*?;base64,", re.ASCII)


def parse_data_url(url: str, param: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a `data:` URL; None for http(s) URLs."""
    if url.startswith(("http://", "https://")):
        return None
    match = _DATA_URL.match(url)
    if not match:
        raise ClientRequestError(f"'{param}' must be a base64 data: URL or an http(s) URL", param)
    return match.group(1) or "application/octet-stream", url[match.end() :]


def media_source(url: str, param: str) -> dict[str, Any]:
    parsed = parse_data_url(url, param)
    if parsed is None:
        return {"type": "url", "url": url}
    media_type, data = parsed
    return {"type": "base64", "media_type": media_type, "data": data}


def text_block(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def is_blank_text(block: dict[str, Any]) -> bool:
    return block.get("type") == "text" and not str(block.get("text") or "").strip()


def merge_turns(turns: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Turns alternating user/assistant, without blank text, tool results first in a user turn."""
    merged: list[dict[str, Any]] = []
    for role, blocks in turns:
        kept = [b for b in blocks if not is_blank_text(b)]
        if not kept:
            continue
        if merged and merged[-1]["role"] == role:
            merged[-1]["content"].extend(kept)
        else:
            merged.append({"role": role, "content": kept})
    for turn in merged:
        content = turn["content"]
        if turn["role"] == "user" and any(b.get("type") == "tool_result" for b in content):
            turn["content"] = [b for b in content if b.get("type") == "tool_result"] + [
                b for b in content if b.get("type") != "tool_result"
            ]
    if not merged:
        raise ClientRequestError("'messages' must contain at least one message with content", "messages")
    return merged


def tool_names_by_id(messages: list[dict[str, Any]]) -> dict[str, str]:
    return {
        b["id"]: b["name"]
        for m in messages
        if m["role"] == "assistant"
        for b in m["content"]
        if b.get("type") == "tool_use"
    }


def result_text(block: dict[str, Any]) -> str:
    """The text of a tool_result block's content (images left out)."""
    return "\n".join(b["text"] for b in block.get("content") or () if b.get("type") == "text" and b["text"])


_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOOL_ID_BAD = re.compile(r"[^a-zA-Z0-9_-]")


def claude_tool_id(tool_id: str) -> str:
    """Bedrock accepts tool ids matching [a-zA-Z0-9_-]{1,64}; others are rewritten the same way
    in the call and in its result so that the two still match."""
    if _TOOL_ID.match(tool_id):
        return tool_id
    cleaned = _TOOL_ID_BAD.sub("_", tool_id)[:64]
    return cleaned or "tool"


# --- the common Chat Completions fields, checked alike for every family -------------------------
# One table for the GPT passthrough and the converted pairs, in OpenAI's wording, so that a
# malformed field is the same 400 whichever model it is sent to. Cheap on purpose (type and range
# checks, no copies): the passthrough runs it on every request.

# name → (kind, low, high); "decimal" takes ints and floats, "integer" ints only.
CHAT_NUMBERS: dict[str, tuple[str, float, float]] = {
    "temperature": ("decimal", 0, 2),
    "top_p": ("decimal", 0, 1),
    "presence_penalty": ("decimal", -2, 2),
    "frequency_penalty": ("decimal", -2, 2),
    "max_tokens": ("integer", 1, INT64_MAX),
    "max_completion_tokens": ("integer", 1, INT64_MAX),
    "seed": ("integer", -(2**63), INT64_MAX),
    "n": ("integer", 1, 128),
    "top_logprobs": ("integer", 0, 20),
}
CHAT_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
_JSON_TYPES = {str: "a string", bool: "a boolean", int: "an integer", float: "a decimal", list: "an array",
               dict: "an object", type(None): "null"}  # fmt: skip


def _got(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "an unknown type")


def _number_error(name: str, value: Any, kind: str, low: float, high: float) -> ClientRequestError | None:
    """The 400 for a number field `value` (not None) of CHAT_NUMBERS, or None if it is valid."""
    ok = isinstance(value, int) or (kind == "decimal" and isinstance(value, float) and math.isfinite(value))
    if isinstance(value, float) and kind == "integer" and value.is_integer():
        ok = True
    if isinstance(value, bool) or not ok:
        return ClientRequestError(
            f"Invalid type for '{name}': expected {'a decimal' if kind == 'decimal' else 'an integer'}, "
            f"but got {_got(value) if not isinstance(value, float) else 'a non-finite decimal'} instead.",
            name,
            "invalid_type",
        )
    # Exact comparison at any size; a 400-digit value is not echoed back.
    if value < low:
        return ClientRequestError(
            f"Invalid '{name}': {kind} below minimum value. Expected a value >= {low:g}.",
            name,
            f"{kind}_below_min_value",
        )
    if value > high:
        return ClientRequestError(
            f"Invalid '{name}': {kind} above maximum value. Expected a value <= {high:g}.",
            name,
            f"{kind}_above_max_value",
        )
    return None


def _check_numbers(body: dict[str, Any]) -> None:
    # The body's fields are looked up in the table, not the table's nine in the body: a body has a
    # few. On an invalid one the table is walked in its own order, so that the error is the same
    # whatever the body's order.
    for name in body:
        spec = CHAT_NUMBERS.get(name)
        if spec is not None:
            value = body[name]
            if value is not None and _number_error(name, value, *spec) is not None:
                _raise_first_number_error(body)


def _raise_first_number_error(body: dict[str, Any]) -> None:
    for name, (kind, low, high) in CHAT_NUMBERS.items():
        value = body.get(name)
        error = None if value is None else _number_error(name, value, kind, low, high)
        if error is not None:
            raise error


def check_chat_common(body: dict[str, Any]) -> None:
    """The common Chat Completions fields of `body`, in OpenAI's shape and wording."""
    _check_numbers(body)
    messages = body.get("messages")
    if messages is None:
        raise ClientRequestError(
            "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if not isinstance(messages, list):
        raise ClientRequestError(
            f"Invalid type for 'messages': expected an array, but got {_got(messages)} instead.",
            "messages",
            "invalid_type",
        )
    if not messages:
        raise ClientRequestError(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, "
            "but got an empty array instead.",
            "messages",
            "empty_array",
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise ClientRequestError(
                f"Invalid type for 'messages[{i}]': expected an object, but got {_got(message)} instead.",
                f"messages[{i}]",
                "invalid_type",
            )
        role = message.get("role")
        if role not in CHAT_ROLES:
            if role is None:
                raise ClientRequestError(
                    f"Missing required parameter: 'messages[{i}].role'.",
                    f"messages[{i}].role",
                    "missing_required_parameter",
                )
            raise ClientRequestError(
                f"Invalid value: {role!r}. Supported values are: 'system', 'assistant', 'user', "
                "'function', 'tool', and 'developer'.",
                f"messages[{i}].role",
                "invalid_value",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):  # a tuple: cheaper than a union
            raise ClientRequestError(
                f"Invalid type for 'messages[{i}].content': expected one of a string or array of "
                f"objects, but got {_got(content)} instead.",
                f"messages[{i}].content",
                "invalid_type",
            )
