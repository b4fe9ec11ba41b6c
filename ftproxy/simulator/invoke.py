"""Claude deployments, Anthropic Messages on Bedrock: `/invoke` and `/invoke-with-response-stream`.

Bedrock validates the body like its JSON schema does: `anthropic_version` and `max_tokens` are
required, and `model`/`stream` are extraneous keys (the proxy must strip them). Streams are
Anthropic SSE event JSONs, wrapped as base64 `chunk` frames of the AWS binary event stream when
the client accepts `application/vnd.amazon.eventstream`, else as `data:` lines.
"""

from __future__ import annotations

import base64
from functools import partial
from typing import Any

from ftproxy._json import dumps
from ftproxy.simulator import answer as answer_text
from ftproxy.simulator import eventstream, tool_choice
from ftproxy.simulator.answer import (
    THINKING_SIGNATURE,
    Answer,
    ToolDecl,
    as_dict,
    as_list,
    new_id,
    plan,
    stop_list,
    text_chars,
)
from ftproxy.simulator.call import Call
from ftproxy.simulator.converse import EVENTSTREAM, STOP_REASONS, wants_eventstream
from ftproxy.simulator.errors import bedrock_error
from ftproxy.simulator.http import Reply, StreamReply, json_reply
from ftproxy.simulator.streaming import StreamBody, generation_ms, group_events, send_stream

_EXTRANEOUS = ("model", "stream")


last_user_text = partial(answer_text.last_user_text, block_type="text")


def _malformed(detail: str) -> Reply:
    return bedrock_error(400, f"Malformed input request: {detail}, please reformat your input and try again.")


def _answer(call: Call) -> Answer | Reply:
    body = call.body
    for key in _EXTRANEOUS:
        if key in body:
            return _malformed(f"#: extraneous key [{key}] is not permitted")
    for key in ("anthropic_version", "max_tokens", "messages"):
        if key not in body:
            return _malformed(f"#: required key [{key}] not found")
    messages, max_tokens = body["messages"], body["max_tokens"]
    if not isinstance(max_tokens, int) or max_tokens < 1:
        return _malformed("#/max_tokens: expected minimum: 1")
    if not isinstance(messages, list) or not messages:
        return _malformed("#/messages: expected minimum item count: 1")
    tools = [
        ToolDecl(str(t.get("name", "")), as_dict(t.get("input_schema")) or None)
        for t in as_list(body.get("tools"))
        if isinstance(t, dict) and "name" in t
    ]
    thinking = body.get("thinking")
    return plan(
        tokens=call.knobs.tokens,
        prompt_chars=text_chars(body.get("system"), messages, body.get("tools")),
        max_tokens=max_tokens,
        stop=stop_list(body.get("stop_sequences")),
        tool=call.knobs.tool,
        tools=tools,
        thinking=isinstance(thinking, dict) and thinking.get("type") == "enabled",
        id_prefix="toolu_bdrk_",
        tool_choice=tool_choice.from_anthropic(body.get("tool_choice")),
        args=call.knobs.args,
        model=call.spec.name,
    )


def _content(answer: Answer) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = []
    if answer.thinking:
        content.append(
            {"type": "thinking", "thinking": answer.thinking_text, "signature": THINKING_SIGNATURE}
        )
    if answer.tool is None:
        content.append({"type": "text", "text": answer.text})
    else:
        tool = answer.tool
        content.append({"type": "tool_use", "id": tool.id, "name": tool.name, "input": tool.input})
    return content


def invoke(call: Call) -> Reply:
    answer = _answer(call)
    if isinstance(answer, Reply):
        return answer
    if call.knobs.malformed:
        return Reply(200, [("content-type", "application/json")], b'{"id": "msg_bdrk_broken", "content": [')
    message = {
        "id": new_id("msg_bdrk_"),
        "type": "message",
        "role": "assistant",
        "model": call.spec.response_model,
        "content": _content(answer),
        "stop_reason": STOP_REASONS[answer.finish],
        "stop_sequence": answer.stop_sequence,
        "usage": {
            "input_tokens": answer.prompt_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": answer.completion_tokens,
        },
    }
    headers = [
        ("x-amzn-bedrock-input-token-count", str(answer.prompt_tokens)),
        ("x-amzn-bedrock-output-token-count", str(answer.completion_tokens)),
    ]
    return json_reply(200, message, headers)


def _block(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _delta(index: int, delta: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_delta", "index": index, "delta": delta}


def events(call: Call, answer: Answer) -> list[tuple[dict[str, Any], bool]]:
    """(Anthropic event, is_chunk) in the order Bedrock sends them."""
    usage = {
        "input_tokens": answer.prompt_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        # Anthropic reports a token already spent at message_start; message_delta has the total.
        "output_tokens": 1,
    }
    message = {
        "id": new_id("msg_bdrk_"),
        "type": "message",
        "role": "assistant",
        "model": call.spec.response_model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    out: list[tuple[dict[str, Any], bool]] = [({"type": "message_start", "message": message}, False)]
    index = 0
    if answer.thinking:
        out.append((_block(index, {"type": "thinking", "thinking": "", "signature": ""}), False))
        out.extend((_delta(index, {"type": "thinking_delta", "thinking": w}), True) for w in answer.thinking)
        out.append((_delta(index, {"type": "signature_delta", "signature": THINKING_SIGNATURE}), False))
        out.append(({"type": "content_block_stop", "index": index}, False))
        index += 1
    if answer.tool is None:
        out.append((_block(index, {"type": "text", "text": ""}), False))
        out.append(({"type": "ping"}, False))
        out.extend((_delta(index, {"type": "text_delta", "text": w}), True) for w in answer.chunks)
    else:
        tool = answer.tool
        out.append(
            (_block(index, {"type": "tool_use", "id": tool.id, "name": tool.name, "input": {}}), False)
        )
        out.append(({"type": "ping"}, False))
        out.extend(
            (_delta(index, {"type": "input_json_delta", "partial_json": f}), True) for f in tool.fragments
        )
    out.append(({"type": "content_block_stop", "index": index}, False))
    finish = {"stop_reason": STOP_REASONS[answer.finish], "stop_sequence": answer.stop_sequence}
    out.append(
        (
            {"type": "message_delta", "delta": finish, "usage": {"output_tokens": answer.completion_tokens}},
            False,
        )
    )
    latency = int(generation_ms(call.knobs, answer.completion_tokens))
    metrics = {
        "inputTokenCount": answer.prompt_tokens,
        "outputTokenCount": answer.completion_tokens,
        "invocationLatency": latency,
        "firstByteLatency": int(call.knobs.latency_ms + call.knobs.ttft_ms),
    }
    out.append(({"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}, False))
    return out


def _frame(event: dict[str, Any], corrupt: bool = False) -> bytes:
    payload = dumps({"bytes": base64.b64encode(dumps(event)).decode()})
    return eventstream.encode_frame("chunk", payload, corrupt=corrupt)


def invoke_stream(call: Call) -> Reply | StreamReply:
    answer = _answer(call)
    if isinstance(answer, Reply):
        return answer
    evs = events(call, answer)
    if wants_eventstream(call):
        wire = [(_frame(ev), chunk) for ev, chunk in evs]
        garbage = _frame({"type": "content_block_delta"}, corrupt=True)
        ctype = EVENTSTREAM
    else:
        wire = [(b"data: " + dumps(ev) + b"\n\n", chunk) for ev, chunk in evs]
        garbage, ctype = b'data: {"type": "content_block_delta", \n\n', "text/event-stream"
    prelude, content, epilogue = group_events(wire)
    stream = StreamBody(ctype, prelude, content, epilogue, garbage)
    return StreamReply(lambda proto: send_stream(proto, call.state, call.knobs, stream))


__all__ = ["invoke", "invoke_stream", "last_user_text"]
