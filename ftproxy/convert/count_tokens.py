"""`/v1/messages/count_tokens`: an estimate of a Messages body's input tokens, without an upstream.

SAP AI Core offers no token counting endpoint, so the answer is an ESTIMATE, deterministic and
computed locally:

- text (system, messages, tool results, thinking, tool names, descriptions and schemas, tool call
  inputs as compact JSON): ASCII characters / 4, rounded up, plus one token per non-ASCII
  character (CJK text is about one token per character; the typical BPE rate for English and code
  is about four characters per token);
- 1,600 tokens per image (Anthropic's cost of an image of about 1.15 megapixels, the largest
  size before it scales images down);
- PDF documents: 2,000 tokens per estimated page, a page being taken as 50 KB of the file;
- 4 tokens per message and 8 per tool definition for the framing, and 3 for the whole request.

Real tokenizers differ by model; expect the estimate within about ±20% for prose and code.
"""

from __future__ import annotations

import math
from typing import Any

from ftproxy._json import dumps
from ftproxy.convert.base import ClientRequestError
from ftproxy.convert.canonical import want_list, want_object

IMAGE_TOKENS = 1600
PDF_PAGE_TOKENS = 2000
PDF_PAGE_BYTES = 50_000
_SKIPPED_KEYS = frozenset(
    {"type", "id", "tool_use_id", "media_type", "signature", "cache_control", "data", "url"}
)


def estimate_text(text: str) -> int:
    ascii_chars = sum(1 for c in text if c < "\x80") if not text.isascii() else len(text)
    return math.ceil(ascii_chars / 4) + (len(text) - ascii_chars)


def count_tokens(body: Any) -> int:
    """An estimate of the input tokens of an Anthropic Messages body (see the module doc)."""
    body = want_object(body, "body")
    messages = want_list(body.get("messages"), "messages")
    total = 3 + _walk(body.get("system"), 0)
    for i, message in enumerate(messages):
        message = want_object(message, f"messages[{i}]")
        if message.get("role") not in ("user", "assistant", "system"):  # Claude Code sends system turns
            raise ClientRequestError(
                f"'messages[{i}].role' must be user, assistant or system", f"messages[{i}].role"
            )
        total += 4 + _walk(message.get("content"), 0)
    tools = body.get("tools")
    if tools is not None:
        for tool in want_list(tools, "tools"):
            total += 8 + estimate_text(dumps(tool).decode()) if isinstance(tool, dict) else 0
    return total


def _walk(value: Any, depth: int) -> int:
    if depth > 64:
        return 0
    if isinstance(value, str):
        return estimate_text(value)
    if isinstance(value, list):
        return sum(_walk(v, depth + 1) for v in value)
    if not isinstance(value, dict):
        return 0
    kind = value.get("type")
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "document":
        source = value.get("source")
        if (
            isinstance(source, dict)
            and source.get("type") == "base64"
            and isinstance(source.get("data"), str)
        ):
            pages = max(1, math.ceil(len(source["data"]) * 3 / 4 / PDF_PAGE_BYTES))
            return pages * PDF_PAGE_TOKENS
        if isinstance(source, dict) and source.get("type") == "text":
            return _walk(source.get("data"), depth + 1)
    if kind == "tool_use" and isinstance(value.get("input"), dict):
        return estimate_text(str(value.get("name") or "")) + estimate_text(dumps(value["input"]).decode())
    if kind == "redacted_thinking":
        return 0
    return sum(_walk(v, depth + 1) for k, v in value.items() if k not in _SKIPPED_KEYS)
