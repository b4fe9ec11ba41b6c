"""The APIs ftproxy speaks on each side, and how upstreams frame their streams.

Plain names at the bottom of the layers: the model table (`models.py`) says which upstream API
a deployment speaks, the converters turn one API into another, the wire decoders read a
`StreamFormat`. None of them needs to import another to agree on the names.
"""

from __future__ import annotations

from enum import StrEnum


class ClientApi(StrEnum):
    OPENAI_CHAT = "openai-chat"
    ANTHROPIC_MESSAGES = "anthropic-messages"
    OPENAI_RESPONSES = "openai-responses"


class UpstreamApi(StrEnum):
    AZURE_OPENAI_CHAT = "azure-openai-chat"
    BEDROCK_CONVERSE = "bedrock-converse"
    BEDROCK_INVOKE = "bedrock-invoke"
    VERTEX_GEMINI = "vertex-gemini"
    # The OpenAI-compatible `POST {deploymentUrl}/chat/completions` (no api-version; the model is
    # named in the body) of the models SAP hosts itself (Mistral, open source, IBM) and Perplexity.
    OPENAI_COMPATIBLE_CHAT = "openai-compatible-chat"
    # SAP's Orchestration Service (`/v2/completion`): any model of the generative AI hub, one
    # request shape; it streams SSE `data: {json}` events of its own answer envelope (SSE_JSON).
    ORCHESTRATION = "orchestration"


class StreamFormat(StrEnum):
    """How an upstream frames a stream; `wire.upstream.decode_stream` turns each into event dicts."""

    SSE_JSON = "sse-json"  # `data: {json}` lines, maybe ending with `data: [DONE]`
    SSE_JSON_OR_PYTHON = "sse-json-or-python"  # Converse: lines may be Python dict literals
    AWS_EVENTSTREAM = "aws-eventstream"  # binary frames carrying base64 JSON events


class UpstreamProtocolError(ValueError):
    """The upstream answered something we cannot understand (HTTP 502 / stream error event)."""
