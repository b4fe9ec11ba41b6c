"""Gemini deployments, Vertex AI: `models/{model}:generateContent` and `:streamGenerateContent`.

Clients stream with `?alt=sse` (`data: {chunk}` lines); without it Vertex streams one JSON array
whose elements arrive one by one, which is simulated too. SAP's samples send `parts` as a single
object and snake_case `generation_config`; both are accepted.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from ftproxy._json import dumps
from ftproxy.simulator import tool_choice
from ftproxy.simulator.answer import Answer, ToolDecl, as_dict, as_list, new_id, plan, stop_list, text_chars
from ftproxy.simulator.call import Call
from ftproxy.simulator.errors import gemini_error
from ftproxy.simulator.http import Reply, StreamReply, json_reply
from ftproxy.simulator.streaming import StreamBody, send_stream

_FINISH = {"stop": "STOP", "stop_sequence": "STOP", "length": "MAX_TOKENS", "tool": "STOP"}


def _parts(content: object) -> list[Any]:
    if not isinstance(content, dict):
        return []
    parts = content.get("parts")
    if isinstance(parts, dict):
        return [parts]
    return parts if isinstance(parts, list) else []


def last_user_text(body: dict[str, Any]) -> str | None:
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        return None
    last = contents[-1]
    if not isinstance(last, dict) or last.get("role", "user") != "user":
        return None
    return " ".join(p["text"] for p in _parts(last) if isinstance(p, dict) and isinstance(p.get("text"), str))


def _pick(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def _tools(body: dict[str, Any]) -> list[ToolDecl]:
    out = []
    for tool in as_list(body.get("tools")):
        if not isinstance(tool, dict):
            continue
        for decl in as_list(_pick(tool, "functionDeclarations", "function_declarations")):
            if isinstance(decl, dict) and "name" in decl:
                schema = decl.get("parameters") or _pick(
                    decl, "parametersJsonSchema", "parameters_json_schema"
                )
                out.append(
                    ToolDecl(str(decl["name"]), _lower_types(schema) if isinstance(schema, dict) else None)
                )
    return out


def _lower_types(schema: dict[str, Any]) -> dict[str, Any]:
    """Vertex schemas may spell types in upper case (STRING, OBJECT)."""
    out = dict(schema)
    if isinstance(out.get("type"), str):
        out["type"] = out["type"].lower()
    props = out.get("properties")
    if isinstance(props, dict):
        out["properties"] = {k: _lower_types(v) if isinstance(v, dict) else v for k, v in props.items()}
    return out


def _answer(call: Call) -> Answer | Reply:
    body = call.body
    contents = body.get("contents")
    if isinstance(contents, dict):
        contents = [contents]
    if not isinstance(contents, list) or not contents:
        return gemini_error(400, "Unable to submit request because it has an empty contents field.")
    config = as_dict(_pick(body, "generationConfig", "generation_config"))
    max_tokens = _pick(config, "maxOutputTokens", "max_output_tokens")
    system = _pick(body, "systemInstruction", "system_instruction")
    return plan(
        tokens=call.knobs.tokens,
        prompt_chars=text_chars(contents, system, body.get("tools")),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stop=stop_list(_pick(config, "stopSequences", "stop_sequences")),
        tool=call.knobs.tool,
        tools=_tools(body),
        tool_choice=tool_choice.from_gemini(_pick(body, "toolConfig", "tool_config")),
        args=call.knobs.args,
        model=call.spec.name,
    )


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "promptTokenCount": answer.prompt_tokens,
        "candidatesTokenCount": answer.completion_tokens,
        "totalTokenCount": answer.total_tokens,
        "trafficType": "ON_DEMAND",
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.prompt_tokens}],
        "candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": answer.completion_tokens}],
    }


def _meta(call: Call) -> dict[str, Any]:
    created = datetime.fromtimestamp(time.time(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {"modelVersion": call.spec.response_model, "createTime": created, "responseId": new_id("", 12)}


def _tool_part(answer: Answer) -> dict[str, Any]:
    assert answer.tool is not None
    return {"functionCall": {"name": answer.tool.name, "args": answer.tool.input}}


def generate(call: Call) -> Reply:
    answer = _answer(call)
    if isinstance(answer, Reply):
        return answer
    if call.knobs.malformed:
        return Reply(200, [("content-type", "application/json")], b'{"candidates": [{"content": ')
    part = {"text": answer.text} if answer.tool is None else _tool_part(answer)
    candidate = {
        "content": {"role": "model", "parts": [part]},
        "finishReason": _FINISH[answer.finish],
        "avgLogprobs": -0.1,
    }
    return json_reply(200, {"candidates": [candidate], "usageMetadata": _usage(answer), **_meta(call)})


def stream_generate(call: Call) -> Reply | StreamReply:
    answer = _answer(call)
    if isinstance(answer, Reply):
        return answer
    meta = _meta(call)
    parts = [{"text": w} for w in answer.chunks] if answer.tool is None else [_tool_part(answer)]
    chunks = [{"candidates": [{"content": {"role": "model", "parts": [p]}}], **meta} for p in parts]
    final = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": _FINISH[answer.finish]}
        ],
        "usageMetadata": _usage(answer),
        **meta,
    }
    if call.request.query.get("alt") == "sse":
        content = [b"data: " + dumps(c) + b"\r\n\r\n" for c in chunks]
        stream = StreamBody("text/event-stream", [], content, [b"data: " + dumps(final) + b"\r\n\r\n"])
        stream.garbage = b"data: {this is not json\r\n\r\n"
    else:
        # One JSON array, written element by element.
        content = [(b"[" if i == 0 else b",\r\n") + dumps(c) for i, c in enumerate(chunks)]
        epilogue = (b",\r\n" if content else b"[") + dumps(final) + b"]"
        stream = StreamBody("application/json; charset=UTF-8", [], content, [epilogue], b",\r\n{broken")
    return StreamReply(lambda proto: send_stream(proto, call.state, call.knobs, stream))


__all__ = ["generate", "last_user_text", "stream_generate"]
