"""SAP's Orchestration Service (`POST {deploymentUrl}/v2/completion`, `/v2/embeddings`): requests
built from a `ChatRequest`, answers decoded into canonical events.

Request (the schema is SAP's SDK, `gen_ai_hub.orchestration_v2.models`):

    {"config": {"modules": {"prompt_templating": {
        "prompt": {"template": [OpenAI-style messages], "tools": [...], "response_format": {...}},
        "model": {"name": <model>, "version": "latest", "params": {max_tokens, temperature, ...}}}},
      "stream": {"enabled": true}}}          # only when streaming

The conversation goes into `template` as OpenAI chat messages (system, user with text and
image_url parts, assistant with tool_calls, tool results as `tool` messages): the harmonised
API takes that one shape for every model behind it. Documents (PDF parts) have no place in it
and are refused with a 400. Note that the service treats `{{?name}}` in template text as a
placeholder; a conversation that contains that literal syntax is answered 400 by SAP.

Answer: `{"request_id", "intermediate_results": {per module}, "final_result": <an OpenAI
chat.completion>}`; a stream sends the same envelope per SSE event, `final_result` being a
chat.completion.chunk. The decoder unwraps `final_result` and hands it to the OpenAI decoder,
so streamed and whole answers go through one core. Orchestration's `reasoning_content` is a
list of `{content, signature}` blocks; it becomes a thinking block with its signature.

`intermediate_results` (templating, masking, filter scores, the raw LLM answer) stay with
ftproxy unless the client sends `x-ftproxy-orchestration-intermediate: true`: then a JSON
answer carries them as a top-level `intermediate_results` field, and a stream carries each
event's as an SSE comment line (`: intermediate_results {json}`), which SSE clients skip.

Errors: the service answers `{"error": {"request_id", "code", "message", "location",
"intermediate_results"}}` (or a list of them); `errors.upstream_message` reads the message, and a
block by the input filter (location "… Input Filter") becomes a 400 with code `content_filter`.
A stream's error event becomes the client's error event. The output filter blanks the answer
and says `finish_reason: content_filter`: OpenAI clients get that finish reason, Anthropic
clients `stop_reason: refusal`, Responses clients an incomplete response (content_filter).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from ftproxy._json import dumps
from ftproxy.convert._lenient import as_obj
from ftproxy.convert.base import ClientRequestError, UpstreamRequest
from ftproxy.convert.canonical import ChatRequest
from ftproxy.convert.events import SIGNATURE, THINKING, Answer, BlockDelta, Event, StreamError
from ftproxy.convert.hub import Decoder, Encoder, HubTranslator
from ftproxy.convert.openai_chat import openai_tools, to_openai_messages
from ftproxy.convert.openai_events import OpenAIChatDecoder
from ftproxy.convert.openai_passthrough import is_reasoning_model
from ftproxy.wire.apis import StreamFormat, UpstreamProtocolError

COMPLETION_PATH = "/v2/completion"
EMBEDDINGS_PATH = "/v2/embeddings"
INTERMEDIATE_HEADER = "x-ftproxy-orchestration-intermediate"
_STREAM = {"enabled": True}  # chunk_size and delimiters only matter to output filters: defaults
_PARAMS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed")
_TOOL_CHOICE = {"auto": "auto", "any": "required", "none": "none"}
_OPENAI_MODEL = re.compile(r"gpt-|o\d", re.ASCII)  # SAP's names of OpenAI's models


# --- request -------------------------------------------------------------------------------------


def build_request(request: ChatRequest, *, model: str, stream: bool) -> UpstreamRequest:
    messages = to_openai_messages(request)
    for i, message in enumerate(messages):
        content = message.get("content")
        if isinstance(content, list) and any(p.get("type") == "file" for p in content):
            raise ClientRequestError(
                "documents (file parts) cannot be sent to a model served through SAP's Orchestration "
                "Service; send the text, or images",
                f"messages[{i}].content",
            )
    prompt: dict[str, Any] = {"template": messages}
    if request.tools:
        prompt["tools"] = openai_tools(request.tools)
    if request.response_format is not None:
        prompt["response_format"] = request.response_format
    details: dict[str, Any] = {"name": model, "version": "latest"}
    params = _params(request, model)
    if params:
        details["params"] = params
    config: dict[str, Any] = {"modules": {"prompt_templating": {"prompt": prompt, "model": details}}}
    if stream:
        config["stream"] = _STREAM
    return UpstreamRequest(COMPLETION_PATH, {"config": config}, StreamFormat.SSE_JSON)


def with_modules(request: UpstreamRequest, modules: Mapping[str, Any]) -> UpstreamRequest:
    """`request` (just built by `build_request`, so its own) with the configured modules
    (filtering, masking, translation: config.json `orchestration`, built at start-up) beside its
    prompt templating. The module dicts are shared by every request and only ever read."""
    if modules:
        request.body["config"]["modules"].update(modules)
    return request


def _params(request: ChatRequest, model: str) -> dict[str, Any]:
    """The model parameters: OpenAI's names, which the service maps for every model behind it.
    OpenAI-only ones (parallel tool calls, reasoning effort: Codex sends both) go to GPT models
    only; another family's model would refuse them."""
    params: dict[str, Any] = {}
    if request.max_tokens is not None:
        params["max_tokens"] = request.max_tokens
    for key in _PARAMS:
        value = getattr(request, key)
        if value is not None:
            params[key] = value
    if request.stop:
        params["stop"] = request.stop[:4]
    tools = request.tools
    choice = request.tool_choice
    if choice is not None and tools and choice["type"] != "auto":
        if choice["type"] == "tool":
            params["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
        else:
            params["tool_choice"] = _TOOL_CHOICE.get(choice["type"], "auto")
    openai_model, reasoning_model = _openai_family(model)
    if openai_model:
        if tools and request.parallel_tool_calls is not None:
            params["parallel_tool_calls"] = request.parallel_tool_calls
        if request.reasoning_effort is not None and reasoning_model:
            params["reasoning_effort"] = request.reasoning_effort
    return params


@lru_cache(maxsize=1024)
def _openai_family(model: str) -> tuple[bool, bool]:
    """Whether `model` is SAP's name of an OpenAI model, and of an OpenAI reasoning model: facts
    of the name alone, so two regex matches per model name, not per request (the names are
    the configured and discovered ones: few)."""
    return _OPENAI_MODEL.match(model) is not None, is_reasoning_model(model)


def build_embeddings_request(body: dict[str, Any], *, model: str) -> dict[str, Any]:
    """An OpenAI embeddings body → the orchestration `/v2/embeddings` body."""
    text = body.get("input")
    if not (isinstance(text, str) or (isinstance(text, list) and all(isinstance(t, str) for t in text))):
        raise ClientRequestError(
            "'input' must be a string or a list of strings for a model served through SAP's "
            "Orchestration Service (token arrays are not accepted there)",
            "input",
        )
    params: dict[str, Any] = {}
    dimensions = body.get("dimensions")
    if dimensions is not None:
        if isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1:
            raise ClientRequestError("'dimensions' must be a positive integer", "dimensions")
        params["dimensions"] = dimensions
    encoding = body.get("encoding_format")
    if encoding is not None:
        if encoding not in ("float", "base64"):
            raise ClientRequestError("'encoding_format' must be float or base64", "encoding_format")
        params["encoding_format"] = encoding
    details: dict[str, Any] = {"name": model, "version": "latest"}
    if params:
        details["params"] = params
    return {"config": {"modules": {"embeddings": {"model": details}}}, "input": {"text": text}}


def embeddings_with_masking(request: dict[str, Any], modules: Mapping[str, Any]) -> dict[str, Any]:
    """An embeddings request with the configured masking: the one module `/v2/embeddings`
    takes besides the model (filters and translation are for chat completions)."""
    masking = modules.get("masking")
    if masking is not None:
        request["config"]["modules"]["masking"] = masking
    return request


def embeddings_answer(body: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI embeddings list inside an orchestration answer (`final_result`)."""
    final = body.get("final_result")
    if not isinstance(final, dict) or not isinstance(final.get("data"), list):
        raise UpstreamProtocolError("the orchestration embeddings answer has no final_result.data")
    return final


# --- answer --------------------------------------------------------------------------------------


class OrchestrationDecoder:
    """Orchestration answers (whole or streamed envelopes) → canonical events."""

    __slots__ = ("_inner",)

    def __init__(self) -> None:
        self._inner = OpenAIChatDecoder()

    def feed(self, event: dict[str, Any]) -> list[Event]:
        error = event.get("error")
        if error is not None:
            return [_stream_error(error)]
        final = event.get("final_result")
        if not isinstance(final, dict):
            return []  # an event of module results only (templating, input filter…)
        final, signature = _openai_shaped(final, "delta")
        events = self._inner.feed(final)
        return _signed(events, signature) if signature else events

    def finish(self) -> list[Event]:
        return self._inner.finish()

    def plain_answer(self, body: dict[str, Any]) -> Answer | None:
        # A reasoning block list (`_openai_shaped`'s work) is not plain for the inner decoder.
        final = body.get("final_result")
        return self._inner.plain_answer(final) if type(final) is dict else None

    def whole(self, body: dict[str, Any]) -> list[Event]:
        final = body.get("final_result")
        if not isinstance(final, dict):
            raise UpstreamProtocolError("the orchestration answer has no final_result")
        final, signature = _openai_shaped(final, "message")
        events = self._inner.whole(final)
        return _signed(events, signature) if signature else events


def _stream_error(error: Any) -> StreamError:
    if isinstance(error, list) and error:
        error = error[0]
    error = as_obj(error)
    code = error.get("code")
    if isinstance(code, str) and code.isdigit():
        code = int(code)
    status = code if isinstance(code, int) and not isinstance(code, bool) and 400 <= code <= 599 else 502
    message = str(error.get("message") or "the Orchestration Service reported an error")
    return StreamError(status, message)


def _openai_shaped(final: dict[str, Any], key: str) -> tuple[dict[str, Any], str]:
    """`final` with a reasoning block list turned into OpenAI's `reasoning_content` text, and the
    blocks' signature. Untouched (no copy) when there is no such list, the common case."""
    choices = final.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return final, ""
    part = choices[0].get(key)
    reasoning = part.get("reasoning_content") if isinstance(part, dict) else None
    if not isinstance(reasoning, list):
        return final, ""
    blocks = [as_obj(b) for b in reasoning]
    text = "".join(str(b.get("content") or "") for b in blocks)
    signature = "".join(str(b.get("signature") or "") for b in blocks)
    choice = {**choices[0], key: {**part, "reasoning_content": text}}
    return {**final, "choices": [choice, *choices[1:]]}, signature


def _signed(events: list[Event], signature: str) -> list[Event]:
    """A thinking block's signature, right after its last text in `events` (called only with
    one: most answers carry none, and skip the call)."""
    for i in range(len(events) - 1, -1, -1):
        event = events[i]
        if isinstance(event, BlockDelta) and event.kind == THINKING:
            events.insert(i + 1, BlockDelta(event.index, SIGNATURE, signature))
            break
    return events


class OrchestrationTranslator(HubTranslator):
    """The hub translator, plus the module results for a client that asked for them. Without
    them (the common case) each method is the hub's own, called directly: no generator of ours
    around each streamed event, no `super()` object per call."""

    __slots__ = ("_intermediate",)

    def __init__(self, decoder: Decoder, encoder: Encoder, *, intermediate: bool) -> None:
        HubTranslator.__init__(self, decoder, encoder)
        self._intermediate = intermediate

    def stream_events(self, event: dict[str, Any]) -> Iterator[bytes]:
        if self._intermediate:
            return self._with_intermediate(event)
        return HubTranslator.stream_events(self, event)

    def _with_intermediate(self, event: dict[str, Any]) -> Iterator[bytes]:
        results = event.get("intermediate_results")
        if results:
            yield b": intermediate_results " + dumps(results) + b"\n\n"
        yield from HubTranslator.stream_events(self, event)

    def complete(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = HubTranslator.complete(self, body)
        if self._intermediate and body.get("intermediate_results") is not None:
            answer["intermediate_results"] = body["intermediate_results"]
        return answer


def wants_intermediate(headers: dict[str, str] | None) -> bool:
    value = headers.get(INTERMEDIATE_HEADER) if headers else None
    return value is not None and value.strip().lower() in ("1", "true", "yes")


__all__ = [
    "COMPLETION_PATH",
    "EMBEDDINGS_PATH",
    "INTERMEDIATE_HEADER",
    "OrchestrationDecoder",
    "OrchestrationTranslator",
    "build_embeddings_request",
    "build_request",
    "embeddings_answer",
    "embeddings_with_masking",
    "wants_intermediate",
    "with_modules",
]
