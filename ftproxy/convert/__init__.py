"""Format conversion between the APIs clients speak and the APIs deployments speak.

    request = convert.build_request(client_api, upstream_api, body, model=..., stream=...)
    translator = convert.translator(client_api, upstream_api, model=..., body=body, stream=...)

Each (client, upstream) pair is one module with one translator core used by both the streaming
and the non-streaming path. Pairs not registered here answer a clear 400 (`ClientRequestError`).
"""

from __future__ import annotations

from typing import Any

from ftproxy.convert import openai_passthrough
from ftproxy.convert.base import (
    ClientApi,
    ClientRequestError,
    StreamFormat,
    Translator,
    UpstreamApi,
    UpstreamProtocolError,
    UpstreamRequest,
    Usage,
)

__all__ = [
    "ClientApi",
    "ClientRequestError",
    "StreamFormat",
    "Translator",
    "UpstreamApi",
    "UpstreamProtocolError",
    "UpstreamRequest",
    "Usage",
    "build_request",
    "translator",
]


def _unsupported(client: ClientApi, upstream: UpstreamApi, model: str) -> ClientRequestError:
    return ClientRequestError(
        f"model '{model}' is served by a {upstream.value} deployment, which this endpoint "
        f"({client.value}) cannot reach yet",
        "model",
    )


def build_request(
    client: ClientApi,
    upstream: UpstreamApi,
    body: dict[str, Any],
    *,
    model: str,
    stream: bool,
    headers: dict[str, str] | None = None,
) -> UpstreamRequest:
    if client is ClientApi.OPENAI_CHAT and upstream is UpstreamApi.AZURE_OPENAI_CHAT:
        return openai_passthrough.build_request(body, model=model, stream=stream)
    raise _unsupported(client, upstream, model)


def translator(
    client: ClientApi, upstream: UpstreamApi, *, model: str, body: dict[str, Any], stream: bool
) -> Translator:
    if client is ClientApi.OPENAI_CHAT and upstream is UpstreamApi.AZURE_OPENAI_CHAT:
        options = body.get("stream_options")
        wants_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        return openai_passthrough.OpenAIPassthroughTranslator(client_wants_usage=wants_usage)
    raise _unsupported(client, upstream, model)
