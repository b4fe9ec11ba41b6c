"""OpenAI Chat Completions client → Azure OpenAI (GPT) upstream: nearly a passthrough.

The body keeps its OpenAI shape. What we change, and why:
- streams always ask the upstream for usage (`stream_options.include_usage`) so that ftproxy
  can count tokens; the usage chunk reaches the client only if the client asked for it;
- reasoning models (gpt-5, o-series) reject `max_tokens` and non-default `temperature`/`top_p`
  on Azure: `max_tokens` becomes `max_completion_tokens` and the sampling fields are dropped;
- Azure's first stream chunk has `"choices": []` and only content-filter results: it is dropped
  because several clients index `choices[0]` on every chunk;
- every chunk carries the id of the first one, and `[DONE]` is sent exactly once.

The same passthrough serves the OpenAI-compatible deployments SAP hosts (Mistral, open source,
IBM, DeepSeek, Perplexity: `UpstreamApi.OPENAI_COMPATIBLE_CHAT`); the differences are data:
their path has no api-version, and the body names the deployment's model (Azure ignores it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from ftproxy.convert.base import ClientRequestError, UpstreamRequest, Usage
from ftproxy.convert.canonical import check_chat_common, each_tool, want_object
from ftproxy.convert.tool_schema import want_schema
from ftproxy.wire.apis import StreamFormat, UpstreamApi, UpstreamProtocolError
from ftproxy.wire.sse import DONE, encode_data

API_VERSION = "2024-12-01-preview"
CHAT_PATH = f"/chat/completions?api-version={API_VERSION}"
# The chat path under a deployment URL, per upstream API that speaks OpenAI chat completions.
CHAT_PATHS = {
    UpstreamApi.AZURE_OPENAI_CHAT: CHAT_PATH,
    UpstreamApi.OPENAI_COMPATIBLE_CHAT: "/chat/completions",
}

_REASONING_MODEL = re.compile(r"^(gpt-5|o\d)(\b|[-.])")
_DROPPED_FOR_REASONING = ("temperature", "top_p")
_NO_CHOICES = "the chat completion has no choices"


@lru_cache(maxsize=1024)
def is_reasoning_model(model: str) -> bool:
    """A fact of the name alone, asked on every GPT request: one regex match per model name
    (the configured and discovered ones: few), a cache hit after."""
    return _REASONING_MODEL.match(model) is not None


def build_request(
    body: dict[str, Any], *, model: str, stream: bool, api: UpstreamApi = UpstreamApi.AZURE_OPENAI_CHAT
) -> UpstreamRequest:
    check_chat_common(body)  # the same 400s as the converted pairs, before the upstream call
    tools = body.get("tools")
    if tools is not None:  # absent is none (`each_tool`): most requests skip the checker's call
        _check_tools(tools)
    upstream = dict(body)
    if api is UpstreamApi.OPENAI_COMPATIBLE_CHAT:
        upstream["model"] = model  # the deployment's model, not a client alias of it
    upstream["stream"] = stream
    if stream:
        options = body.get("stream_options")
        if options is not None and not isinstance(options, dict):
            raise ClientRequestError("stream_options must be an object", "stream_options")
        upstream["stream_options"] = {**(options or {}), "include_usage": True}
    else:
        upstream.pop("stream_options", None)
    if is_reasoning_model(model):
        for name in _DROPPED_FOR_REASONING:
            upstream.pop(name, None)
        if "max_tokens" in upstream:
            upstream.setdefault("max_completion_tokens", upstream.pop("max_tokens"))
            upstream.pop("max_tokens", None)
    return UpstreamRequest(CHAT_PATHS[api], upstream, StreamFormat.SSE_JSON)


def _check_tools(value: Any) -> None:
    """The tools' shapes and schemas, as the converted pairs check them; the body itself is
    forwarded unchanged (Azure judges the rest)."""
    for i, tool in each_tool(value):
        if tool.get("type", "function") == "function":
            function = want_object(tool.get("function"), f"tools[{i}].function")
            if function.get("parameters") is not None:
                want_schema(function["parameters"], f"tools[{i}].function.parameters")


def openai_usage(value: Any) -> Usage | None:
    """The usage object of an answer or chunk, leniently read (a count of the wrong type reads
    as 0, as `as_int` would read it). `as_int` and `as_obj` are inlined: every answer of every
    OpenAI-shaped route comes through here, and a call each costs more than the test itself."""
    if not isinstance(value, dict):
        return None
    prompt = value.get("prompt_tokens")
    completion = value.get("completion_tokens")
    details = value.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    return Usage(
        prompt if isinstance(prompt, int) and not isinstance(prompt, bool) else 0,
        completion if isinstance(completion, int) and not isinstance(completion, bool) else 0,
        cached if isinstance(cached, int) and not isinstance(cached, bool) else 0,
    )


def openai_error_chunk(status: int, message: str) -> bytes:
    # The shape OpenAI sends mid-stream; the OpenAI SDKs raise an APIError when they see it.
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return encode_data({"error": {"message": message, "type": kind, "param": None, "code": str(status)}})


def _carries_content(choice: Any) -> bool:
    """A chunk's choice with answer content: text, reasoning, a refusal or a tool call."""
    delta = choice.get("delta") if isinstance(choice, dict) else None
    return isinstance(delta, dict) and any(
        delta.get(k) for k in ("content", "reasoning_content", "refusal", "tool_calls")
    )


class OpenAIPassthroughTranslator:
    def __init__(self, *, client_wants_usage: bool) -> None:
        self.usage: Usage | None = None
        self.content_started = False
        self._client_wants_usage = client_wants_usage
        self._id: str | None = None
        self._finished = False  # a finish_reason was seen

    def stream_events(self, event: dict[str, Any]) -> Iterator[bytes]:
        if event.get("id"):
            if self._id is None:
                self._id = event["id"]
            else:
                event["id"] = self._id
        choices = event.get("choices")
        if choices is not None and not isinstance(choices, list):
            raise UpstreamProtocolError("a chat.completion.chunk has choices that are not a list")
        if not choices:
            usage = openai_usage(event.get("usage"))
            if usage is None:
                return  # Azure's content-filter preamble
            self.usage = usage
            if not self._client_wants_usage:
                return
        else:
            # one loop, no generators: this runs on every streamed chunk
            for choice in choices:
                if isinstance(choice, dict):
                    if not self.content_started and _carries_content(choice):
                        self.content_started = True
                    if choice.get("finish_reason"):
                        self._finished = True
            if event.get("usage") is not None and not self._client_wants_usage:
                event.pop("usage")
        yield encode_data(event)

    def stream_end(self) -> Iterator[bytes]:
        if not self._finished:
            yield openai_error_chunk(502, "the upstream stream ended before the answer was complete")
            return
        yield DONE

    def stream_error(self, status: int, message: str) -> bytes:
        return openai_error_chunk(status, message)

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        choices = body.get("choices")
        # what every OpenAI client reads first: without it a 200 no client can use (a loop,
        # not all() over a generator: this runs on every GPT answer)
        if not isinstance(choices, list) or not choices:
            raise UpstreamProtocolError(_NO_CHOICES)
        for choice in choices:
            if not isinstance(choice, dict):
                raise UpstreamProtocolError(_NO_CHOICES)
        self.usage = openai_usage(body.get("usage"))
        body.pop("prompt_filter_results", None)
        return body
