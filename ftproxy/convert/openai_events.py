"""OpenAI Chat Completions answers: decoding them (GPT on Azure) and encoding them for OpenAI
chat clients.

Client stream: chat.completion.chunk events with one id (`chatcmpl-` + random, made once per
answer), `created`, and `model` = the model name the client asked for; the role chunk first,
then content deltas (thinking as `reasoning_content`), tool_calls deltas (index, id and name
first, then argument fragments), a chunk with the finish_reason, the usage chunk
(`choices: []`) only when the client asked with `stream_options.include_usage`, and exactly one
`data: [DONE]`.

Upstream stream: the finish_reason chunk comes before the usage chunk (the GPT request always
asks for it), so the message ends with the usage chunk, or with the stream.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ftproxy.convert._lenient import as_obj
from ftproxy.convert.base import Usage
from ftproxy.convert.events import (
    JSON,
    TEXT,
    THINKING,
    TOOL_USE,
    Answer,
    BlockDelta,
    BlockStart,
    BlockStop,
    Event,
    MessageDelta,
    MessageStart,
    MessageStop,
    StreamError,
    from_openai_finish,
    new_id,
    text_answer,
    to_openai_finish,
)
from ftproxy.convert.openai_passthrough import openai_error_chunk, openai_usage
from ftproxy.wire.apis import UpstreamProtocolError
from ftproxy.wire.sse import DONE, encode_data


def usage_json(usage: Usage) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cache_read_tokens:
        out["prompt_tokens_details"] = {"cached_tokens": usage.cache_read_tokens}
    return out


class OpenAIChatDecoder:
    """chat.completion.chunk events (or a whole chat.completion) → canonical events."""

    __slots__ = ("_done", "_kind", "_next", "_open_tool", "_started", "_stop", "_tools", "_usage")

    def __init__(self) -> None:
        self._started = False
        self._kind: str | None = None  # kind of the open block
        self._open_tool: Any = None  # upstream tool_calls index of the open tool block
        self._tools: set[Any] = set()  # upstream tool_calls indexes seen
        self._next = 0
        self._stop: str | None = None
        self._usage: Usage | None = None
        self._done = False

    def feed(self, chunk: dict[str, Any]) -> list[Event]:
        out: list[Event] = []
        if self._done:
            return out
        if "error" in chunk and not chunk.get("choices"):
            error = as_obj(chunk.get("error"))
            code = error.get("code")
            status = int(code) if isinstance(code, str) and code.isdigit() else 502
            out.append(StreamError(status, str(error.get("message") or "the upstream reported an error")))
            return out
        choices = chunk.get("choices")
        usage = openai_usage(chunk.get("usage"))
        if usage is not None:
            self._usage = usage
        if not isinstance(choices, list) or not choices:
            if usage is not None and self._stop is not None:
                self._end(out)
            return out  # Azure's content-filter preamble, or usage before the end
        if not self._started:
            self._started = True
            out.append(MessageStart(id=chunk.get("id") if isinstance(chunk.get("id"), str) else None))
        choice = as_obj(choices[0])
        delta = as_obj(choice.get("delta"))
        for key, kind in (("reasoning_content", THINKING), ("content", TEXT), ("refusal", TEXT)):
            text = delta.get(key)
            if isinstance(text, str) and text:
                self._text(kind, text, out)
        calls = delta.get("tool_calls")
        if isinstance(calls, list):
            for call in calls:
                self._tool_call(as_obj(call), out)
        finish = choice.get("finish_reason")
        if isinstance(finish, str) and finish:
            self._close(out)
            self._stop = from_openai_finish(finish)
            if usage is not None:
                self._end(out)
        return out

    def finish(self) -> list[Event]:
        out: list[Event] = []
        if self._stop is not None and not self._done:
            self._end(out)
        return out

    def whole(self, body: dict[str, Any]) -> list[Event]:
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices:
            raise UpstreamProtocolError("the chat completion has no choices")
        choice = as_obj(choices[0])
        message = as_obj(choice.get("message"))
        chunk = {
            "id": body.get("id"),
            "choices": [{"delta": message, "finish_reason": choice.get("finish_reason") or "stop"}],
            "usage": body.get("usage"),
        }
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            chunk["choices"][0]["delta"] = {
                **message,
                "tool_calls": [{**as_obj(c), "index": i} for i, c in enumerate(calls)],
            }
        out = self.feed(chunk)
        out.extend(self.finish())
        return out

    def plain_answer(self, body: dict[str, Any]) -> Answer | None:
        """`whole(body)`'s answer when its first choice's message is text alone (string or null
        content; no tool calls, reasoning or refusal) and the finish reason a string (or absent):
        the same id, text, stop reason and usage, read as `feed` reads them."""
        choices = body.get("choices")
        if type(choices) is not list or not choices:
            return None
        choice = choices[0]
        if type(choice) is not dict:
            return None
        message = choice.get("message")
        if (
            type(message) is not dict
            or message.get("tool_calls") is not None
            or message.get("reasoning_content") is not None
            or message.get("refusal") is not None
        ):
            return None
        content = message.get("content")
        finish = choice.get("finish_reason") or "stop"
        if not (content is None or type(content) is str) or type(finish) is not str:
            return None
        answer_id = body.get("id")
        return text_answer(
            answer_id if isinstance(answer_id, str) else None,
            [content] if content else [],
            from_openai_finish(finish),
            None,
            openai_usage(body.get("usage")),
        )

    def _end(self, out: list[Event]) -> None:
        out.append(MessageDelta(self._stop or "end_turn", None, self._usage))
        out.append(MessageStop())
        self._done = True

    def _text(self, kind: str, text: str, out: list[Event]) -> None:
        if self._kind != kind:
            self._close(out)
            out.append(BlockStart(self._next, kind))
            self._kind = kind
            self._next += 1
        out.append(BlockDelta(self._next - 1, kind, text))

    def _tool_call(self, call: dict[str, Any], out: list[Event]) -> None:
        index = call.get("index", 0)
        if not isinstance(index, int) or isinstance(index, bool):
            raise UpstreamProtocolError("a streamed tool call has no index")
        function = as_obj(call.get("function"))
        arguments = function.get("arguments")
        if index not in self._tools:
            self._close(out)
            self._tools.add(index)
            call_id = (
                call.get("id") if isinstance(call.get("id"), str) and call.get("id") else new_id("call_")
            )
            name = function.get("name")
            out.append(
                BlockStart(self._next, TOOL_USE, id=call_id, name=name if isinstance(name, str) else "")
            )
            self._kind, self._open_tool = TOOL_USE, index
            self._next += 1
        elif self._kind != TOOL_USE or self._open_tool != index:
            raise UpstreamProtocolError("the upstream interleaved the arguments of several tool calls")
        if isinstance(arguments, str) and arguments:
            out.append(BlockDelta(self._next - 1, JSON, arguments))

    def _close(self, out: list[Event]) -> None:
        if self._kind is not None:
            out.append(BlockStop(self._next - 1))
            self._kind = None
            self._open_tool = None


class OpenAIChatEncoder:
    """Canonical events → chat.completion.chunk SSE, or a whole chat.completion."""

    __slots__ = ("_created", "_empty_args", "_id", "_model", "_tool_index", "_wants_usage")

    def __init__(self, *, model: str, wants_usage: bool) -> None:
        self._id = new_id("chatcmpl-")
        self._created = int(time.time())
        self._model = model
        self._wants_usage = wants_usage
        self._tool_index: dict[int, int] = {}  # canonical block index → tool_calls index
        self._empty_args: set[int] = set()  # tool blocks without an argument fragment yet

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return encode_data(
            {
                "id": self._id,
                "object": "chat.completion.chunk",
                "created": self._created,
                "model": self._model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
        )

    def stream(self, event: Event) -> Iterator[bytes]:
        if isinstance(event, BlockDelta):
            if event.kind == TEXT:
                yield self._chunk({"content": event.text})
            elif event.kind == JSON:
                self._empty_args.discard(event.index)
                call = {"index": self._tool_index.get(event.index, 0), "function": {"arguments": event.text}}
                yield self._chunk({"tool_calls": [call]})
            elif event.kind == THINKING:
                yield self._chunk({"reasoning_content": event.text})
        elif isinstance(event, BlockStart):
            if event.kind == TOOL_USE:
                index = self._tool_index[event.index] = len(self._tool_index)
                self._empty_args.add(event.index)
                call = {
                    "index": index,
                    "id": event.id,
                    "type": "function",
                    "function": {"name": event.name, "arguments": ""},
                }
                yield self._chunk({"tool_calls": [call]})
        elif isinstance(event, BlockStop):
            if event.index in self._empty_args:  # a call without arguments: "{}", as OpenAI sends
                self._empty_args.discard(event.index)
                call = {"index": self._tool_index[event.index], "function": {"arguments": "{}"}}
                yield self._chunk({"tool_calls": [call]})
        elif isinstance(event, MessageStart):
            yield self._chunk({"role": "assistant", "content": ""})
        elif isinstance(event, MessageDelta):
            yield self._chunk({}, to_openai_finish(event.stop_reason))
            if self._wants_usage and event.usage is not None:
                yield encode_data(
                    {
                        "id": self._id,
                        "object": "chat.completion.chunk",
                        "created": self._created,
                        "model": self._model,
                        "choices": [],
                        "usage": usage_json(event.usage),
                    }
                )

    def stream_end(self) -> Iterator[bytes]:
        yield DONE

    def error(self, status: int, message: str) -> bytes:
        return openai_error_chunk(status, message)

    def render(self, answer: Answer) -> dict[str, Any]:
        # One pass over the blocks for the text, the tool calls and the thinking (what
        # `answer.text` and `answer.has_tool_use` would read in passes of their own).
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        thinking: list[str] = []
        for b in answer.blocks:
            if b.kind == TEXT:
                texts.append(b.text)
            elif b.kind == TOOL_USE:
                calls.append(
                    {
                        "id": b.id,
                        "type": "function",
                        "function": {"name": b.name, "arguments": b.text or "{}"},
                    }
                )
            elif b.kind == THINKING:
                thinking.append(b.text)
        text = "".join(texts)
        message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
        if calls:
            message["tool_calls"] = calls
        if thinking and (reasoning := "".join(thinking)):
            message["reasoning_content"] = reasoning
        out: dict[str, Any] = {
            "id": self._id,
            "object": "chat.completion",
            "created": self._created,
            "model": self._model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": to_openai_finish(answer.stop_reason),
                }
            ],
        }
        if answer.usage is not None:
            out["usage"] = usage_json(answer.usage)
        return out
