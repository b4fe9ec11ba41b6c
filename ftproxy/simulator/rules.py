"""Model-specific rules the real upstreams enforce, checked before a deployment's handler runs.

The data is `catalog.ModelSpec` (`rejects`, `max_output_tokens`), so the proxy can read the same
table; this module only turns a broken rule into the upstream's own 400. Sources are in
README.md ("Model rules").
"""

from __future__ import annotations

from typing import Any

from ftproxy.simulator.answer import as_dict
from ftproxy.simulator.catalog import ModelSpec
from ftproxy.simulator.errors import bedrock_error, openai_compat_error, perplexity_error
from ftproxy.simulator.http import Reply

# What each upstream says when a request carries a parameter it does not take.
_PERPLEXITY_TOOLS = "Tool calling is not supported for this model."
# vLLM started without a tool-call parser (how SAP serves DeepSeek-R1) refuses any tools.
_VLLM_TOOLS = '"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set'


def _rejected(spec: ModelSpec, param: str) -> Reply:
    message = rejection_message(spec, param)
    if spec.family == "perplexity":
        return perplexity_error(400, message)
    return openai_compat_error(400, message, param)


def _max_tokens(spec: ModelSpec, api: str, body: dict[str, Any]) -> object:
    if api == "converse":
        return as_dict(body.get("inferenceConfig")).get("maxTokens")
    return body.get("max_completion_tokens", body.get("max_tokens"))


def rejected_param(spec: ModelSpec, body: dict[str, Any]) -> str | None:
    """The first parameter of `body` that `spec` does not take, or None."""
    if spec.rejects:  # most models have none: no work on their hot path
        for param in sorted(spec.rejects):  # sorted: the same param named in every process
            if body.get(param) is not None:
                return param
    return None


def rejection_message(spec: ModelSpec, param: str) -> str:
    """What the model's server says about `param` (the orchestration LLM module relays it)."""
    if param == "tools":
        return _PERPLEXITY_TOOLS if spec.family == "perplexity" else _VLLM_TOOLS
    return f"Unsupported parameter: '{param}'"


def check(spec: ModelSpec, body: dict[str, Any]) -> Reply | None:
    """The 400 `spec`'s upstream answers `body` with, or None when every rule holds."""
    param = rejected_param(spec, body)
    if param is not None:
        return _rejected(spec, param)
    limit = spec.max_output_tokens
    if limit:
        requested = _max_tokens(spec, spec.api, body)
        if isinstance(requested, int) and not isinstance(requested, bool) and requested > limit:
            # Bedrock's ValidationException for a cap above the model's (Nova: 1..5000).
            return bedrock_error(
                400,
                f"The maximum tokens you requested exceeds the model limit of {limit}. "
                f"Try again with a maximum tokens value that is lower than {limit}.",
            )
    return None


__all__ = ["check", "rejected_param", "rejection_message"]
