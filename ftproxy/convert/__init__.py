"""Format conversion between the APIs clients speak and the APIs deployments speak.

    request = convert.build_request(client_api, upstream_api, body, model=..., stream=..., headers=...)
    translator = convert.translator(client_api, upstream_api, model=..., body=body)
    n = convert.count_tokens(body)      # /v1/messages/count_tokens: an estimate (count_tokens.py)

Pairs (client → upstream):
- OpenAI chat → GPT: `openai_passthrough` (nearly unchanged).
- Anthropic Messages → Claude on Bedrock invoke: native (`anthropic_messages.build_native_request`,
  `anthropic_events.AnthropicPassthroughTranslator`).
- every other pair goes through the hub: the client body is parsed into a `canonical.ChatRequest`
  (`openai_chat`, `anthropic_messages`, Responses via `responses_request.to_chat` → chat), the
  upstream body is built from it (`converse`, `claude_invoke.build_invoke_request`, `gemini`,
  `openai_chat.build_azure_request`), and the answer is decoded into canonical events
  (`events`) and encoded for the client (`openai_events`, `anthropic_events`, `responses_events`)
  by one `hub.HubTranslator`, for streams and whole answers alike. Responses → GPT sends the
  chat body from `to_chat` through the GPT passthrough.

Upstream paths and stream framings: Converse `/converse`, `/converse-stream` (SSE lines that may be
Python dict literals); Bedrock invoke `/invoke`, `/invoke-with-response-stream` with
`Accept: application/vnd.amazon.eventstream` (binary AWS event stream); Gemini
`/models/{model}:generateContent`, `/models/{model}:streamGenerateContent?alt=sse`; GPT
`/chat/completions?api-version=…`; SAP's Orchestration Service `/v2/completion` for any model of
the generative AI hub (`orchestration`: every client API through the hub, SSE of its envelope).

What particular models refuse or ignore (tools, images, Nova's output limit) is one table,
`model_rules.RULES`, applied to every pair before the builder runs.

Fields that are deliberately not forwarded are listed in `DROPPED_FIELDS` (client fields of the
converted pairs) and `anthropic_messages.INVOKE_FIELDS` (the allow-list of the native Claude pair);
`REFUSED_FIELDS` are answered with a 400 because ignoring them would give a wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ftproxy.convert import (
    anthropic_messages,
    claude_invoke,
    converse,
    gemini,
    model_rules,
    openai_chat,
    openai_passthrough,
    orchestration,
)
from ftproxy.convert.anthropic_events import (
    AnthropicDecoder,
    AnthropicEncoder,
    AnthropicPassthroughTranslator,
)
from ftproxy.convert.base import ClientRequestError, Translator, UpstreamRequest, Usage
from ftproxy.convert.canonical import ChatRequest
from ftproxy.convert.converse import ConverseDecoder
from ftproxy.convert.count_tokens import count_tokens
from ftproxy.convert.fields import DROPPED_FIELDS, REFUSED_FIELDS, RESPONSES_MAPPED, log_unknown, refuse
from ftproxy.convert.gemini import GeminiDecoder
from ftproxy.convert.hub import Decoder, Encoder, HubTranslator
from ftproxy.convert.openai_events import OpenAIChatDecoder, OpenAIChatEncoder
from ftproxy.convert.responses_events import ResponsesEncoder
from ftproxy.convert.responses_request import to_chat
from ftproxy.wire.apis import ClientApi, StreamFormat, UpstreamApi, UpstreamProtocolError

__all__ = [
    "DROPPED_FIELDS",
    "REFUSED_FIELDS",
    "ClientApi",
    "ClientRequestError",
    "StreamFormat",
    "Translator",
    "UpstreamApi",
    "UpstreamProtocolError",
    "UpstreamRequest",
    "Usage",
    "build_request",
    "count_tokens",
    "translator",
]


_BUILDERS: dict[UpstreamApi, Callable[..., UpstreamRequest]] = {
    UpstreamApi.AZURE_OPENAI_CHAT: openai_chat.build_azure_request,
    UpstreamApi.OPENAI_COMPATIBLE_CHAT: partial(
        openai_chat.build_azure_request, api=UpstreamApi.OPENAI_COMPATIBLE_CHAT
    ),
    UpstreamApi.BEDROCK_CONVERSE: converse.build_request,
    UpstreamApi.BEDROCK_INVOKE: claude_invoke.build_invoke_request,
    UpstreamApi.VERTEX_GEMINI: gemini.build_request,
    UpstreamApi.ORCHESTRATION: orchestration.build_request,
}
_DECODERS: dict[UpstreamApi, Callable[[], Decoder]] = {
    UpstreamApi.AZURE_OPENAI_CHAT: OpenAIChatDecoder,
    UpstreamApi.OPENAI_COMPATIBLE_CHAT: OpenAIChatDecoder,
    UpstreamApi.BEDROCK_CONVERSE: ConverseDecoder,
    UpstreamApi.BEDROCK_INVOKE: AnthropicDecoder,
    UpstreamApi.VERTEX_GEMINI: GeminiDecoder,
    UpstreamApi.ORCHESTRATION: orchestration.OrchestrationDecoder,
}

# The upstreams that take OpenAI chat completions as they are (Azure's GPT and the
# OpenAI-compatible deployments SAP hosts): an OpenAI client's body passes through to them.
_OPENAI_CHAT_UPSTREAMS = frozenset({UpstreamApi.AZURE_OPENAI_CHAT, UpstreamApi.OPENAI_COMPATIBLE_CHAT})


@dataclass(frozen=True)
class _Pair:
    """How one (client, upstream) pair builds the upstream request and translates the answer."""

    build: Callable[..., UpstreamRequest]  # (body, *, model, stream, headers)
    translate: Callable[..., Translator]  # (body, *, client_model, wants_usage, headers)


def _pair(client: ClientApi, upstream: UpstreamApi) -> _Pair:
    """The one place that knows which pairs skip the hub (module docstring: "Pairs")."""
    if client is ClientApi.OPENAI_CHAT and upstream in _OPENAI_CHAT_UPSTREAMS:
        return _Pair(partial(_build_gpt_passthrough, upstream), _gpt_passthrough_translator)
    if client is ClientApi.ANTHROPIC_MESSAGES and upstream is UpstreamApi.BEDROCK_INVOKE:
        return _Pair(_build_claude_native, _claude_native_translator)
    return _Pair(partial(_build_hub, client, upstream), partial(_hub_translator, client, upstream))


def _build_gpt_passthrough(
    upstream: UpstreamApi,
    body: dict[str, Any],
    *,
    model: str,
    stream: bool,
    headers: dict[str, str] | None,
) -> UpstreamRequest:
    return openai_passthrough.build_request(body, model=model, stream=stream, api=upstream)


def _gpt_passthrough_translator(
    body: dict[str, Any], *, client_model: str, wants_usage: bool, headers: dict[str, str] | None
) -> Translator:
    return openai_passthrough.OpenAIPassthroughTranslator(client_wants_usage=wants_usage)


def _build_claude_native(
    body: dict[str, Any], *, model: str, stream: bool, headers: dict[str, str] | None
) -> UpstreamRequest:
    return anthropic_messages.build_native_request(body, model=model, stream=stream, headers=headers)


def _claude_native_translator(
    body: dict[str, Any], *, client_model: str, wants_usage: bool, headers: dict[str, str] | None
) -> Translator:
    return AnthropicPassthroughTranslator(model=client_model)


def _build_hub(
    client: ClientApi,
    upstream: UpstreamApi,
    body: dict[str, Any],
    *,
    model: str,
    stream: bool,
    headers: dict[str, str] | None,
) -> UpstreamRequest:
    refuse(client, body)
    request: ChatRequest
    if client is ClientApi.OPENAI_RESPONSES:
        log_unknown(client, body, RESPONSES_MAPPED)
        chat = to_chat(body)
        if upstream in _OPENAI_CHAT_UPSTREAMS:
            return openai_passthrough.build_request(chat, model=model, stream=stream, api=upstream)
        request = openai_chat.parse_request(chat)
    elif client is ClientApi.OPENAI_CHAT:
        request = openai_chat.parse_request(body)
    else:
        if upstream is UpstreamApi.BEDROCK_CONVERSE:
            anthropic_messages.refuse_structured_output(body)
        request = anthropic_messages.parse_request(body, headers)
    return _BUILDERS[upstream](request, model=model, stream=stream)


def _hub_translator(
    client: ClientApi,
    upstream: UpstreamApi,
    body: dict[str, Any],
    *,
    client_model: str,
    wants_usage: bool,
    headers: dict[str, str] | None,
) -> Translator:
    encoder: Encoder
    if client is ClientApi.OPENAI_CHAT:
        encoder = OpenAIChatEncoder(model=client_model, wants_usage=wants_usage)
    elif client is ClientApi.ANTHROPIC_MESSAGES:
        encoder = AnthropicEncoder(model=client_model)
    else:
        encoder = ResponsesEncoder(model=client_model, body=body)
    if upstream is UpstreamApi.ORCHESTRATION:
        intermediate = orchestration.wants_intermediate(headers)
        return orchestration.OrchestrationTranslator(
            _DECODERS[upstream](), encoder, intermediate=intermediate
        )
    return HubTranslator(_DECODERS[upstream](), encoder)


# Every pair's entry, made once: a request looks its pair up with one dict read.
_PAIRS = {(client, upstream): _pair(client, upstream) for client in ClientApi for upstream in UpstreamApi}


def build_request(
    client: ClientApi,
    upstream: UpstreamApi,
    body: dict[str, Any],
    *,
    model: str,
    stream: bool,
    headers: dict[str, str] | None = None,
) -> UpstreamRequest:
    if not isinstance(body, dict):
        raise ClientRequestError("the request body must be a JSON object")
    body, headers = model_rules.apply(client, model, body, headers)  # what the model refuses or ignores
    request = _PAIRS[client, upstream].build(body, model=model, stream=stream, headers=headers)
    return model_rules.adapt_request(upstream, model, request)


def translator(
    client: ClientApi,
    upstream: UpstreamApi,
    *,
    model: str,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Translator:
    body = body if isinstance(body, dict) else {}
    client_model = body.get("model") if isinstance(body.get("model"), str) else model
    options = body.get("stream_options")
    wants_usage = bool(isinstance(options, dict) and options.get("include_usage"))
    return _PAIRS[client, upstream].translate(
        body, client_model=client_model, wants_usage=wants_usage, headers=headers
    )
