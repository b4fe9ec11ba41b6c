"""What particular models refuse or ignore, as one table, applied before the upstream call.

SAP AI Core passes a request to the model's own runtime, which refuses some inputs with an error
of its own shape, after a round trip. ftproxy knows those rules and answers first: a 400 in the
client's API shape that names the parameter (`refuses`), or, for a parameter the model would
ignore anyway or cannot take, a request without it (`drops`, `max_output_tokens`). The rules hold
on every route (a model refuses tools through the Orchestration Service as well).

The facts, and where they come from (the simulator's catalog states the same ones for its models,
in its own code: the product never imports the simulator):
- Amazon Nova (Bedrock Converse, AWS "Amazon Nova user guide: complete request schema"):
  `inferenceConfig.maxTokens` is at most 5000, so larger requests are capped; Nova Micro takes
  no images; Claude's extended thinking, `top_k` and Anthropic beta headers are not Nova
  parameters and are dropped (Converse would refuse them as unknown request fields).
- Perplexity Sonar (`sonar…`) has no function calling: `tools` is refused.
- DeepSeek-R1 has no function calling and no image input.
- Mistral models (vLLM with Mistral's tokenizer, vllm-project/vllm#12332) refuse a tool call id
  that is not 9 letters and digits ("Tool call id … must be a-z, A-Z, 0-9, with a length of
  9"), which is what a conversation begun with another model (`call_…`, `toolu_…`) carries: on
  the OpenAI-compatible route such ids are replaced by a 9-character digest of themselves, the
  same for a call and its result (`short_tool_ids`); Mistral's own ids pass unchanged.
- Text-only models on SAP's own runtimes (Meta Llama 3/3.1 instruct, Mixtral 8x7b, IBM Granite
  13b chat, which has no tools either): images are refused.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ftproxy.convert.base import ClientRequestError, UpstreamRequest
from ftproxy.convert.limits import cap_output_tokens
from ftproxy.wire.apis import ClientApi, UpstreamApi

TOOLS = "tools"
IMAGES = "images"


@dataclass(frozen=True, slots=True)
class ModelRule:
    models: re.Pattern[str]  # searched in the lower-cased model name
    refuses: frozenset[str] = frozenset()  # TOOLS, IMAGES
    drops: tuple[str, ...] = ()  # client body fields (the same name in every client API)
    drops_headers: tuple[str, ...] = ()  # client headers the converters would forward
    max_output_tokens: int | None = None
    short_tool_ids: bool = False  # tool call ids as 9 letters and digits (OpenAI-compatible route)


RULES: tuple[ModelRule, ...] = (
    ModelRule(
        re.compile(r"^amazon--nova|^nova-"),
        drops=("thinking", "top_k", "reasoning_effort", "reasoning"),
        drops_headers=("anthropic-beta",),
        max_output_tokens=5000,
    ),
    ModelRule(re.compile(r"nova-micro"), refuses=frozenset({IMAGES})),
    ModelRule(re.compile(r"^(perplexity--)?sonar"), refuses=frozenset({TOOLS})),
    ModelRule(re.compile(r"deepseek-r1"), refuses=frozenset({TOOLS, IMAGES})),
    ModelRule(re.compile(r"^ibm--granite"), refuses=frozenset({TOOLS, IMAGES})),
    ModelRule(re.compile(r"^meta--llama3|mixtral"), refuses=frozenset({IMAGES})),
    ModelRule(re.compile(r"^mistralai--|mistral|mixtral|pixtral"), short_tool_ids=True),
)

# Content part types that carry an image, in every client API (Chat, Messages, Responses).
_IMAGE_PARTS = frozenset({"image_url", "image", "input_image"})


@dataclass(frozen=True, slots=True)
class _Rules:
    refuses: frozenset[str]
    drops: tuple[str, ...]
    drops_headers: tuple[str, ...]
    max_output_tokens: int | None
    short_tool_ids: bool
    # nothing for `apply` to do: worked out once per model name with the rest, not per request
    empty: bool


@lru_cache(maxsize=1024)
def rules_for(model: str) -> _Rules:
    """Every rule that matches `model`, merged (made once per name: the lookup is a cache hit)."""
    name = model.lower()
    matching = [r for r in RULES if r.models.search(name)]
    caps = [r.max_output_tokens for r in matching if r.max_output_tokens]
    refuses = frozenset().union(*(r.refuses for r in matching))
    drops = tuple(f for r in matching for f in r.drops)
    drops_headers = tuple(h for r in matching for h in r.drops_headers)
    cap = min(caps) if caps else None
    short_ids = any(r.short_tool_ids for r in matching)
    return _Rules(
        refuses, drops, drops_headers, cap, short_ids, not (refuses or drops or drops_headers or cap)
    )


def apply(
    client: ClientApi, model: str, body: dict[str, Any], headers: dict[str, str] | None
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """The body and headers to convert for `model`; raises ClientRequestError (a 400) for a
    parameter the model refuses. The client's dicts are not changed."""
    rules = rules_for(model)
    if rules.empty:
        return body, headers
    if TOOLS in rules.refuses and body.get("tools"):
        raise ClientRequestError(
            f"model '{model}' does not support tools; send the request without 'tools'", "tools"
        )
    if IMAGES in rules.refuses and _has_image(client, body):
        param = "input" if client is ClientApi.OPENAI_RESPONSES else "messages"
        raise ClientRequestError(f"model '{model}' does not accept images; send text only", param)
    if any(name in body for name in rules.drops):
        body = {k: v for k, v in body.items() if k not in rules.drops}
    if headers and rules.drops_headers:
        headers = {k: v for k, v in headers.items() if k not in rules.drops_headers}
    return cap_output_tokens(client, body, rules.max_output_tokens), headers


_SHORT_ID = re.compile(r"[A-Za-z0-9]{9}")
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def adapt_request(upstream: UpstreamApi, model: str, request: UpstreamRequest) -> UpstreamRequest:
    """The built upstream request, with what the model's runtime needs in its own form."""
    if upstream is not UpstreamApi.OPENAI_COMPATIBLE_CHAT or not rules_for(model).short_tool_ids:
        return request
    messages = request.body.get("messages")
    if not isinstance(messages, list) or not any(_foreign_ids(m) for m in messages):
        return request
    return request._replace(body={**request.body, "messages": [_short_ids(m) for m in messages]})


def _foreign_ids(message: Any) -> bool:
    if not isinstance(message, dict):
        return False
    ids = [message.get("tool_call_id")]
    ids.extend(c.get("id") for c in message.get("tool_calls") or () if isinstance(c, dict))
    return any(isinstance(i, str) and not _SHORT_ID.fullmatch(i) for i in ids)


def short_id(value: str) -> str:
    """`value` if it is 9 letters and digits, else 9 of them derived from it (one id, one digest)."""
    if _SHORT_ID.fullmatch(value):
        return value
    number = int.from_bytes(hashlib.sha256(value.encode()).digest()[:8], "big")
    return "".join(_ALPHABET[(number >> (6 * i)) % 62] for i in range(9))


def _short_ids(message: Any) -> Any:
    if not _foreign_ids(message):
        return message
    out = dict(message)
    if isinstance(out.get("tool_call_id"), str):
        out["tool_call_id"] = short_id(out["tool_call_id"])
    if isinstance(out.get("tool_calls"), list):
        out["tool_calls"] = [
            {**c, "id": short_id(c["id"])} if isinstance(c, dict) and isinstance(c.get("id"), str) else c
            for c in out["tool_calls"]
        ]
    return out


def _has_image(client: ClientApi, body: dict[str, Any]) -> bool:
    messages = body.get("input" if client is ClientApi.OPENAI_RESPONSES else "messages")
    if not isinstance(messages, list):
        return False
    for message in messages:
        if not isinstance(message, dict):
            continue
        if _is_image(message):  # a Responses input item may be the image itself
            return True
        if _parts_have_image(message.get("content"), nested=True):
            return True
    return False


def _is_image(part: dict[str, Any]) -> bool:
    kind = part.get("type")
    return isinstance(kind, str) and kind in _IMAGE_PARTS


def _parts_have_image(parts: Any, *, nested: bool) -> bool:
    if not isinstance(parts, list):
        return False
    for part in parts:
        if not isinstance(part, dict):
            continue
        if _is_image(part):
            return True
        # an Anthropic tool_result carries content blocks of its own (one level, no deeper)
        if nested and _parts_have_image(part.get("content"), nested=False):
            return True
    return False


__all__ = ["IMAGES", "RULES", "TOOLS", "ModelRule", "adapt_request", "apply", "rules_for", "short_id"]
