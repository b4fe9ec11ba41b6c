"""Output-token limits and thinking budgets per model family.

max tokens, when the request is converted for another family:
- Claude requires `max_tokens`. When the client gives none, ftproxy sends
  `CLAUDE_DEFAULT_MAX_TOKENS` (4096), or the model's maximum if that is smaller, or room for the
  thinking budget plus 4096 when thinking was asked for.
- GPT and Gemini: when the client gives none, none is sent and the deployment's own default
  applies.
- Whatever the client asks is capped at the model's documented maximum output (the table below),
  so that e.g. Claude Code's `max_tokens: 32000` does not fail on a model that allows 16384.
  Unknown models of a family get the family's largest known maximum, which only stops absurd
  values. The GPT passthrough (OpenAI client → GPT) is not capped: Azure's answer is the truth.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from ftproxy.wire.apis import ClientApi

CLAUDE_DEFAULT_MAX_TOKENS = 4096
CLAUDE_MIN_THINKING_BUDGET = 1024

# OpenAI reasoning effort ↔ thinking budget tokens (Claude, Gemini).
EFFORT_BUDGETS = {"low": 2048, "medium": 8192, "high": 24576, "xhigh": 32768}
NO_THINKING_EFFORTS = frozenset({"none", "minimal"})

_CLAUDE_VERSION = re.compile(
    r"claude-(?:(opus|sonnet|haiku)-)?(\d+)(?:[.-](\d)(?!\d))?(?:-(opus|sonnet|haiku))?", re.ASCII
)
_GPT_CAPS = (
    (re.compile(r"gpt-5"), 128_000),
    (re.compile(r"^o\d"), 100_000),
    (re.compile(r"gpt-4\.1"), 32_768),
    (re.compile(r"gpt-4o"), 16_384),
    (re.compile(r"gpt-4-turbo|gpt-4-\d{4}|gpt-35|gpt-3\.5"), 4_096),
    (re.compile(r"gpt-4\b"), 8_192),
)
_GEMINI_CAPS = (
    (re.compile(r"gemini-(1\.|2\.0)"), 8_192),
    (re.compile(r"gemini-"), 65_535),
)
GPT_MAX = 128_000
GEMINI_MAX = 65_535
CLAUDE_MAX = 128_000


def _base_name(model: str) -> str:
    name = model.lower().rsplit("/", 1)[-1]
    return name.split("--", 1)[1] if "--" in name else name


@lru_cache(maxsize=1024)
def _claude_version(model: str) -> tuple[str, tuple[int, int]] | None:
    """(family, (major, minor)) of a Claude model name, None for a name without a version. Made
    once per name (deployment names are few): every converted Claude request reads it twice."""
    match = _CLAUDE_VERSION.search(_base_name(model))
    if not match:
        return None
    family = match.group(1) or match.group(4) or ""
    return family, (int(match.group(2)), int(match.group(3) or 0))


def claude_cap(model: str, betas: list[str] | tuple[str, ...] = ()) -> int:
    parsed = _claude_version(model)
    if parsed is None:
        return CLAUDE_MAX
    family, version = parsed
    if version < (3, 5):
        return 4_096
    if version == (3, 5):
        return 8_192
    if version == (3, 7):
        return 128_000 if "output-128k-2025-02-19" in betas else 64_000
    if version < (4, 5) and family == "opus":
        return 32_000
    if version < (5, 0):
        return 64_000
    return CLAUDE_MAX


def claude_thinks(model: str) -> bool:
    """Whether a Claude model has extended thinking (3.7 and later; unknown names are assumed to)."""
    parsed = _claude_version(model)
    return parsed is None or parsed[1] >= (3, 7)


def _table_cap(model: str, caps: Iterable[tuple[re.Pattern[str], int]], default: int) -> int:
    """The cap of the first pattern that matches the model's name; `default` for names not listed."""
    name = _base_name(model)
    return next((cap for pattern, cap in caps if pattern.search(name)), default)


# Cached per name, as `_claude_version` is: a pure function of a deployment's model name.
@lru_cache(maxsize=1024)
def gpt_cap(model: str) -> int:
    return _table_cap(model, _GPT_CAPS, GPT_MAX)


@lru_cache(maxsize=1024)
def gemini_cap(model: str) -> int:
    return _table_cap(model, _GEMINI_CAPS, GEMINI_MAX)


def capped(requested: int | None, cap: int) -> int | None:
    return None if requested is None else max(1, min(requested, cap))


def effort_for_budget(budget: int) -> str:
    if budget <= EFFORT_BUDGETS["low"]:
        return "low"
    if budget <= EFFORT_BUDGETS["medium"]:
        return "medium"
    return "high"


def gemini_model_name(model: str) -> str:
    """The model name Vertex expects in the path: the SAP name without a provider prefix."""
    name = model.rsplit("/", 1)[-1]
    return name.split("--", 1)[1] if "--" in name else name


# The field that bounds the answer's length, per client API (the first one present wins).
_OUTPUT_FIELDS: dict[ClientApi, tuple[str, ...]] = {
    ClientApi.OPENAI_CHAT: ("max_completion_tokens", "max_tokens"),
    ClientApi.ANTHROPIC_MESSAGES: ("max_tokens",),
    ClientApi.OPENAI_RESPONSES: ("max_output_tokens",),
}


def cap_output_tokens(client: ClientApi, body: dict[str, Any], cap: int | None) -> dict[str, Any]:
    """The body with its output-token field at most `cap` (set to `cap` when absent)."""
    if cap is None:
        return body
    names = _OUTPUT_FIELDS[client]
    present = next((n for n in names if body.get(n) is not None), None)
    if present is None:
        return {**body, names[-1]: cap}
    value = body[present]
    if isinstance(value, int) and not isinstance(value, bool) and value > cap:
        return {**body, present: cap}
    return body  # within the cap, or of a wrong type that the converters reject with a 400
