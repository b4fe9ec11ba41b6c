"""What the simulated model answers, decided once per request and independent of the wire format.

Every family renders the same `Answer` both as one JSON reply and as a stream, so streamed and
non-streamed calls report identical usage by construction: prompt tokens are ceil(chars / 4)
of the request's text, completion tokens the number of chunks emitted (words, thinking words and
tool-argument fragments).

The text names the model that answered, and the default length (16 words) is exactly its first
sentences, so a demo answer ends with a full stop. Tool calls follow the request's tool choice
(`tool_choice.py`) and the `[[sim:tool=…]]` directive; arguments come from the tool's schema
(`schema_sample.py`) or from the `args=` directive.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ftproxy._json import dumps
from ftproxy.simulator.schema_sample import sample_arguments
from ftproxy.simulator.tool_choice import AUTO, ToolChoice

# The answer cycles through these words, one per chunk; the first 16 (the default length) are
# two whole sentences. {model} is one word: model names hold no spaces.
_TEXT = (
    "Hello from the simulated SAP AI Core deployment of {model}. This answer is deterministic demo "
    "text. It arrives one word per chunk so that streaming, pacing and usage accounting can be "
    "tested precisely."
)
_THINKING_TEXT = "Let me think about this request step by step."
_THINKING: tuple[str, ...] = tuple(w if i == 0 else " " + w for i, w in enumerate(_THINKING_TEXT.split()))
THINKING_SIGNATURE = "c2ltdWxhdGVkLXRoaW5raW5nLXNpZ25hdHVyZQ=="
_FRAGMENT = 8


@dataclass(frozen=True, slots=True)
class ToolDecl:
    name: str
    schema: Mapping[str, Any] | None


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    input: dict[str, Any]
    arguments: str
    fragments: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Answer:
    chunks: tuple[str, ...]
    thinking: tuple[str, ...]
    tool: ToolCall | None
    # "stop" | "length" | "tool" | "stop_sequence"
    finish: str
    stop_sequence: str | None
    prompt_tokens: int

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    @property
    def thinking_text(self) -> str:
        return "".join(self.thinking)

    @property
    def completion_tokens(self) -> int:
        tool = len(self.tool.fragments) if self.tool else 0
        return len(self.chunks) + len(self.thinking) + tool

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@lru_cache(maxsize=256)
def words(n: int, model: str = "") -> tuple[str, ...]:
    """`n` words cycling through a fixed text naming `model`; every word but the first has a
    leading space."""
    sentence = _TEXT.format(model=model.split()[0] if model.strip() else "a model").split()
    return tuple(
        sentence[i % len(sentence)] if i == 0 else " " + sentence[i % len(sentence)] for i in range(n)
    )


def text_chars(*values: object) -> int:
    """Characters in every string leaf (not keys) of JSON-like values."""
    total = 0
    stack: list[object] = list(values)
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return total


def estimate_tokens(chars: int) -> int:
    return max(1, -(-chars // 4))


def plan(
    *,
    tokens: int,
    prompt_chars: int,
    max_tokens: int | None = None,
    stop: Sequence[str] = (),
    tool: str | None = None,
    tools: Sequence[ToolDecl] = (),
    thinking: bool = False,
    id_prefix: str = "call_",
    tool_choice: ToolChoice = AUTO,
    args: Mapping[str, Any] | None = None,
    model: str = "",
) -> Answer:
    prompt_tokens = estimate_tokens(prompt_chars)
    think = _THINKING if thinking else ()
    tool = _chosen_tool(tool, tools, tool_choice)
    if tool is not None:
        call = _tool_call(tool, tools, id_prefix, args)
        return Answer((), think, call, "tool", None, prompt_tokens)
    n = tokens
    finish = "stop"
    if max_tokens is not None and max_tokens < n:
        n, finish = max(0, max_tokens), "length"
    chunks = words(n, model)
    matched = None
    if stop:
        chunks, matched = _cut_at_stop(chunks, stop)
        if matched is not None:
            finish = "stop_sequence"
    return Answer(chunks, think, None, finish, matched, prompt_tokens)


def _cut_at_stop(chunks: tuple[str, ...], stop: Sequence[str]) -> tuple[tuple[str, ...], str | None]:
    text = ""
    for i, chunk in enumerate(chunks):
        text += chunk
        for seq in stop:
            if seq and seq in text:
                return chunks[:i], seq
    return chunks, None


_FIRST = ("1", "*", "auto", "first", "true")


def _chosen_tool(directive: str | None, tools: Sequence[ToolDecl], choice: ToolChoice) -> str | None:
    """The tool to call (a name or a `_FIRST` spelling), or None for a text answer."""
    if choice.mode == "none":
        return None
    if choice.mode == "auto" or not tools:
        return directive
    if choice.name is not None:
        return choice.name
    declared = {t.name for t in tools}
    return directive if directive in declared else "*"


def _tool_call(
    wanted: str, tools: Sequence[ToolDecl], id_prefix: str, given: Mapping[str, Any] | None = None
) -> ToolCall:
    if wanted.lower() in _FIRST:
        decl = tools[0] if tools else ToolDecl("get_weather", None)
    else:
        decl = next((t for t in tools if t.name == wanted), ToolDecl(wanted, None))
    args = dict(given) if given is not None else sample_arguments(decl.schema)
    text = dumps(args).decode()
    fragments = tuple(text[i : i + _FRAGMENT] for i in range(0, len(text), _FRAGMENT))
    return ToolCall(id_prefix + secrets.token_hex(12), decl.name, args, text, fragments)


def new_id(prefix: str, nbytes: int = 12) -> str:
    return prefix + secrets.token_hex(nbytes)


def last_user_text(
    body: Mapping[str, Any], *, strings: bool = True, block_type: str | None = None
) -> str | None:
    """The text of the final message when it is the user's (where `[[sim:…]]` directives live).

    `strings`: whether the API allows plain-string content (Converse does not); `block_type`:
    the `type` a text block must have (Anthropic's), or None for any block with a "text".
    """
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return None
    content = last.get("content")
    if isinstance(content, str):
        return content if strings else None
    if isinstance(content, list):
        return " ".join(
            b["text"]
            for b in content
            if isinstance(b, dict)
            and isinstance(b.get("text"), str)
            and (block_type is None or b.get("type") == block_type)
        )
    return None


def as_list(value: object) -> list[Any]:
    """`value` when it is a JSON array, else empty: a request's optional arrays of any type must
    not crash the simulator (the upstreams answer junk with a 400, or ignore it)."""
    return value if isinstance(value, list) else []


def as_dict(value: object) -> dict[str, Any]:
    """`value` when it is a JSON object, else empty (see `as_list`)."""
    return value if isinstance(value, dict) else {}


def stop_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(v for v in value if isinstance(v, str))
    return ()


__all__ = [
    "THINKING_SIGNATURE",
    "Answer",
    "ToolCall",
    "ToolDecl",
    "as_dict",
    "as_list",
    "estimate_tokens",
    "last_user_text",
    "new_id",
    "plan",
    "sample_arguments",
    "stop_list",
    "text_chars",
    "words",
]
