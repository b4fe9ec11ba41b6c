"""Canonical events → OpenAI Responses answers (Codex CLI): the response object, or its stream.

Each canonical block becomes one output item: text → a `message` item with one `output_text`
part, tool_use → a `function_call` item, thinking → a `reasoning` item whose summary is the
thinking text (redacted thinking is left out). Stream events, each with `type` and
`sequence_number`, framed as `event: <type>\\ndata: {json}\\n\\n`:

    response.created, response.in_progress,
    per item: response.output_item.added, then
      message:   response.content_part.added, response.output_text.delta…, response.output_text.done,
                 response.content_part.done
      function:  response.function_call_arguments.delta…, response.function_call_arguments.done
      reasoning: response.reasoning_summary_part.added, response.reasoning_summary_text.delta…,
                 response.reasoning_summary_text.done, response.reasoning_summary_part.done
    response.output_item.done; finally response.completed (or response.incomplete when the
    answer hit max_output_tokens or a content filter). Failures: response.failed.

The final response object of a stream is rendered from the same `Collector` as a non-streamed
answer, so both are identical but for nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from ftproxy.convert.base import Usage
from ftproxy.convert.events import (
    JSON,
    MAX_TOKENS,
    REFUSAL,
    TEXT,
    THINKING,
    TOOL_USE,
    Answer,
    Block,
    BlockDelta,
    BlockStart,
    BlockStop,
    Collector,
    Event,
    MessageStart,
    MessageStop,
    new_id,
)
from ftproxy.wire.sse import encode_event

_ITEM_PREFIX = {TEXT: "msg_", TOOL_USE: "fc_", THINKING: "rs_"}


class ResponsesEncoder:
    __slots__ = ("_collector", "_created", "_echo", "_id", "_item_ids", "_model", "_output_index", "_seq")

    def __init__(self, *, model: str, body: dict[str, Any]) -> None:
        self._id = new_id("resp_")
        self._created = int(time.time())
        self._model = model
        self._seq = 0
        self._collector = Collector()
        self._item_ids: dict[int, str] = {}  # canonical block index → output item id
        self._output_index: dict[int, int] = {}  # canonical block index → output index
        tools = body.get("tools")
        max_output = body.get("max_output_tokens")
        choice = body.get("tool_choice")
        self._echo = {
            "instructions": body.get("instructions") if isinstance(body.get("instructions"), str) else None,
            "max_output_tokens": max_output if isinstance(max_output, int) else None,
            "parallel_tool_calls": body.get("parallel_tool_calls") is not False,
            "temperature": _number(body.get("temperature")),
            "top_p": _number(body.get("top_p")),
            "tool_choice": choice if isinstance(choice, str | dict) else "auto",
            "tools": [t for t in tools if isinstance(t, dict) and t.get("type") == "function"]
            if isinstance(tools, list)
            else [],
        }

    # --- whole answers ---

    def render(self, answer: Answer) -> dict[str, Any]:
        output = [self._item(block, i, done=True) for i, block in enumerate(answer.blocks)]
        return self._response(self._status(answer), [o for o in output if o is not None], answer)

    def _status(self, answer: Answer) -> str:
        return "incomplete" if answer.stop_reason in (MAX_TOKENS, REFUSAL) else "completed"

    def _response(self, status: str, output: list[dict[str, Any]], answer: Answer | None) -> dict[str, Any]:
        response: dict[str, Any] = {
            "id": self._id,
            "object": "response",
            "created_at": self._created,
            "status": status,
            "error": None,
            "incomplete_details": None,
            "model": self._model,
            "output": output,
            **self._echo,
            "text": {"format": {"type": "text"}},
            "usage": None,
        }
        if answer is not None and status == "incomplete":
            reason = "content_filter" if answer.stop_reason == REFUSAL else "max_output_tokens"
            response["incomplete_details"] = {"reason": reason}
        if answer is not None and answer.usage is not None:
            response["usage"] = usage_json(answer.usage)
        return response

    def _item(self, block: Block, index: int, *, done: bool) -> dict[str, Any] | None:
        item_id = self._item_ids.get(index) or self._item_ids.setdefault(
            index, new_id(_ITEM_PREFIX.get(block.kind, ""))
        )
        status = "completed" if done else "in_progress"
        if block.kind == TEXT:
            content = [_text_part(block.text)] if done else []
            return {
                "id": item_id,
                "type": "message",
                "status": status,
                "role": "assistant",
                "content": content,
            }
        if block.kind == TOOL_USE:
            return {
                "id": item_id,
                "type": "function_call",
                "status": status,
                "call_id": block.id,
                "name": block.name,
                "arguments": (block.text or "{}") if done else "",
            }
        if block.kind == THINKING:
            summary = [{"type": "summary_text", "text": block.text}] if done else []
            return {"id": item_id, "type": "reasoning", "summary": summary}
        return None  # redacted thinking

    # --- streams ---

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return encode_event(kind, payload)

    def stream(self, event: Event) -> Iterator[bytes]:
        self._collector.add(event)
        if isinstance(event, BlockDelta):
            yield from self._delta(event)
        elif isinstance(event, BlockStart):
            yield from self._start(event)
        elif isinstance(event, BlockStop):
            yield from self._stop(event.index)
        elif isinstance(event, MessageStart):
            response = self._response("in_progress", [], None)
            yield self._event("response.created", response=response)
            yield self._event("response.in_progress", response=response)
        elif isinstance(event, MessageStop):
            answer = self._collector.answer
            response = self.render(answer)
            kind = "response.completed" if response["status"] == "completed" else "response.incomplete"
            yield self._event(kind, response=response)

    def _start(self, event: BlockStart) -> Iterator[bytes]:
        block = self._collector.answer.blocks[event.index]
        item = self._item(block, event.index, done=False)
        if item is None:
            return
        output_index = self._output_index[event.index] = len(self._output_index)
        yield self._event("response.output_item.added", output_index=output_index, item=item)
        common = {"item_id": item["id"], "output_index": output_index}
        if block.kind == TEXT:
            yield self._event("response.content_part.added", **common, content_index=0, part=_text_part(""))
        elif block.kind == THINKING:
            part = {"type": "summary_text", "text": ""}
            yield self._event("response.reasoning_summary_part.added", **common, summary_index=0, part=part)

    def _delta(self, event: BlockDelta) -> Iterator[bytes]:
        output_index = self._output_index.get(event.index)
        if output_index is None or not event.text:
            return
        common = {"item_id": self._item_ids[event.index], "output_index": output_index}
        if event.kind == TEXT:
            yield self._event(
                "response.output_text.delta", **common, content_index=0, delta=event.text, logprobs=[]
            )
        elif event.kind == JSON:
            yield self._event("response.function_call_arguments.delta", **common, delta=event.text)
        elif event.kind == THINKING:
            yield self._event(
                "response.reasoning_summary_text.delta", **common, summary_index=0, delta=event.text
            )

    def _stop(self, index: int) -> Iterator[bytes]:
        output_index = self._output_index.get(index)
        if output_index is None:
            return
        block = self._collector.answer.blocks[index]
        item = self._item(block, index, done=True)
        assert item is not None
        common = {"item_id": item["id"], "output_index": output_index}
        if block.kind == TEXT:
            text = block.text
            yield self._event("response.output_text.done", **common, content_index=0, text=text, logprobs=[])
            yield self._event("response.content_part.done", **common, content_index=0, part=_text_part(text))
        elif block.kind == TOOL_USE:
            yield self._event(
                "response.function_call_arguments.done",
                **common,
                name=block.name,
                arguments=item["arguments"],
            )
        elif block.kind == THINKING:
            yield self._event(
                "response.reasoning_summary_text.done", **common, summary_index=0, text=block.text
            )
            part = {"type": "summary_text", "text": block.text}
            yield self._event("response.reasoning_summary_part.done", **common, summary_index=0, part=part)
        yield self._event("response.output_item.done", output_index=output_index, item=item)

    def stream_end(self) -> Iterator[bytes]:
        return iter(())

    def error(self, status: int, message: str) -> bytes:
        answer = self._collector.answer
        output = [self._item(b, i, done=True) for i, b in enumerate(answer.blocks) if i in self._output_index]
        response = self._response("failed", [o for o in output if o is not None], None)
        code = "rate_limit_exceeded" if status == 429 else "server_error"
        response["error"] = {"code": code, "message": message}
        return self._event("response.failed", response=response)


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {
            "cached_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.total_tokens,
    }


def _text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _number(value: Any) -> float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None
