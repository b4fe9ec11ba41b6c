"""Claude deployments, Bedrock Converse API: `/converse` and `/converse-stream`.

The stream goes out in one of three encodings: SSE `data: {json}` lines (what AI Core sends to
most clients), the same lines as Python dict literals (as AI Core sometimes does), or the AWS
binary event stream with one frame per event when the client asks for
`application/vnd.amazon.eventstream` (what boto3 and SAP's SDK ask for).
"""

from __future__ import annotations

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
    plan,
    stop_list,
    text_chars,
)
from ftproxy.simulator.call import Call
from ftproxy.simulator.errors import bedrock_error
from ftproxy.simulator.http import Reply, StreamReply, json_reply
from ftproxy.simulator.streaming import StreamBody, generation_ms, group_events, send_stream

EVENTSTREAM = "application/vnd.amazon.eventstream"
STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool": "tool_use",
    "stop_sequence": "stop_sequence",
}


last_user_text = partial(answer_text.last_user_text, strings=False)  # content is blocks only


def wants_eventstream(call: Call) -> bool:
    accept = call.request.header("accept") or ""
    return EVENTSTREAM in accept


def _answer(call: Call) -> Answer | Reply:
    body = call.body
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return bedrock_error(
            400,
            "1 validation error detected: Value null at 'messages' failed to satisfy constraint: "
            "Member must not be null",
        )
    first = messages[0]
    if not isinstance(first, dict) or first.get("role") != "user":
        return bedrock_error(
            400,
            "A conversation must start with a user message. "
            "Try again with a conversation that starts with a user message.",
        )
    config = as_dict(body.get("inferenceConfig"))
    tool_config = as_dict(body.get("toolConfig"))
    tools = [
        ToolDecl(
            str(t["toolSpec"].get("name", "")),
            as_dict(as_dict(t["toolSpec"].get("inputSchema")).get("json")) or None,
        )
        for t in as_list(tool_config.get("tools"))
        if isinstance(t, dict) and isinstance(t.get("toolSpec"), dict)
    ]
    extra = body.get("additionalModelRequestFields") or {}
    thinking = extra.get("thinking") if isinstance(extra, dict) else None
    max_tokens = config.get("maxTokens")
    return plan(
        tokens=call.knobs.tokens,
        prompt_chars=text_chars(body.get("system"), messages, tool_config),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stop=stop_list(config.get("stopSequences")),
        tool=call.knobs.tool,
        tools=tools,
        thinking=isinstance(thinking, dict) and thinking.get("type") == "enabled",
        id_prefix="tooluse_",
        tool_choice=tool_choice.from_converse(tool_config.get("toolChoice")),
        args=call.knobs.args,
        model=call.spec.name,
    )


def _usage(answer: Answer) -> dict[str, int]:
    return {
        "inputTokens": answer.prompt_tokens,
        "outputTokens": answer.completion_tokens,
        "totalTokens": answer.total_tokens,
    }


def converse(call: Call) -> Reply:
    answer = _answer(call)
    if isinstance(answer, Reply):
        return answer
    if call.knobs.malformed:
        return Reply(200, [("content-type", "application/json")], b'{"output": {"message": ')
    content: list[dict[str, Any]] = []
    if answer.thinking:
        content.append(
            {
                "reasoningContent": {
                    "reasoningText": {"text": answer.thinking_text, "signature": THINKING_SIGNATURE}
                }
            }
        )
    if answer.tool is None:
        content.append({"text": answer.text})
    else:
        tool = answer.tool
        content.append({"toolUse": {"toolUseId": tool.id, "name": tool.name, "input": tool.input}})
    return json_reply(
        200,
        {
            "metrics": {"latencyMs": int(generation_ms(call.knobs, answer.completion_tokens))},
            "output": {"message": {"role": "assistant", "content": content}},
            "stopReason": STOP_REASONS[answer.finish],
            "usage": _usage(answer),
        },
    )


def events(call: Call, answer: Answer) -> list[tuple[str, dict[str, Any], bool]]:
    """(event name, payload, is_chunk) in Bedrock's order."""
    out: list[tuple[str, dict[str, Any], bool]] = [("messageStart", {"role": "assistant"}, False)]
    index = 0
    if answer.thinking:
        for word in answer.thinking:
            out.append(
                (
                    "contentBlockDelta",
                    {"contentBlockIndex": index, "delta": {"reasoningContent": {"text": word}}},
                    True,
                )
            )
        sig = {"contentBlockIndex": index, "delta": {"reasoningContent": {"signature": THINKING_SIGNATURE}}}
        out.append(("contentBlockDelta", sig, False))
        out.append(("contentBlockStop", {"contentBlockIndex": index}, False))
        index += 1
    if answer.tool is None:
        for word in answer.chunks:
            out.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": {"text": word}}, True))
        if answer.chunks:
            out.append(("contentBlockStop", {"contentBlockIndex": index}, False))
    else:
        tool = answer.tool
        start = {"toolUse": {"toolUseId": tool.id, "name": tool.name}}
        out.append(("contentBlockStart", {"contentBlockIndex": index, "start": start}, False))
        for fragment in tool.fragments:
            out.append(
                (
                    "contentBlockDelta",
                    {"contentBlockIndex": index, "delta": {"toolUse": {"input": fragment}}},
                    True,
                )
            )
        out.append(("contentBlockStop", {"contentBlockIndex": index}, False))
    out.append(("messageStop", {"stopReason": STOP_REASONS[answer.finish]}, False))
    metrics = {"latencyMs": int(generation_ms(call.knobs, answer.completion_tokens))}
    out.append(("metadata", {"usage": _usage(answer), "metrics": metrics}, False))
    return out


def converse_stream(call: Call) -> Reply | StreamReply:
    answer = _answer(call)
    if isinstance(answer, Reply):
        return answer
    evs = events(call, answer)
    if wants_eventstream(call):
        wire = [(eventstream.encode_frame(name, dumps(payload)), chunk) for name, payload, chunk in evs]
        garbage = eventstream.encode_frame("contentBlockDelta", b'{"broken":', corrupt=True)
        ctype = EVENTSTREAM
    elif call.knobs.python_literal:
        wire = [(b"data: " + repr({name: payload}).encode() + b"\n\n", chunk) for name, payload, chunk in evs]
        garbage, ctype = b"data: {'contentBlockDelta': {'delta': \n\n", "text/event-stream"
    else:
        wire = [(b"data: " + dumps({name: payload}) + b"\n\n", chunk) for name, payload, chunk in evs]
        garbage, ctype = b'data: {"contentBlockDelta": {"delta": \n\n', "text/event-stream"
    prelude, content, epilogue = group_events(wire)
    stream = StreamBody(ctype, prelude, content, epilogue, garbage)
    return StreamReply(lambda proto: send_stream(proto, call.state, call.knobs, stream))


__all__ = [
    "EVENTSTREAM",
    "STOP_REASONS",
    "converse",
    "converse_stream",
    "last_user_text",
    "wants_eventstream",
]
