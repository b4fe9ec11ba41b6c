"""GPT deployments: Azure OpenAI chat completions and embeddings as AI Core serves them."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from ftproxy._json import dumps
from ftproxy.simulator import answer as answer_text
from ftproxy.simulator import tool_choice, vectors
from ftproxy.simulator.answer import (
    Answer,
    ToolDecl,
    as_dict,
    as_list,
    estimate_tokens,
    new_id,
    plan,
    stop_list,
    text_chars,
)
from ftproxy.simulator.call import Call
from ftproxy.simulator.catalog import ModelSpec
from ftproxy.simulator.errors import azure_error
from ftproxy.simulator.http import Reply, StreamReply, json_reply
from ftproxy.simulator.streaming import StreamBody, send_stream

_SAFE = {"filtered": False, "severity": "safe"}
_FILTER = {"hate": _SAFE, "self_harm": _SAFE, "sexual": _SAFE, "violence": _SAFE}
_CHOICE_FILTER = {
    **_FILTER,
    "protected_material_code": {"filtered": False, "detected": False},
    "protected_material_text": {"filtered": False, "detected": False},
}
_PROMPT_FILTER = [
    {
        "prompt_index": 0,
        "content_filter_results": {**_FILTER, "jailbreak": {"filtered": False, "detected": False}},
    }
]
_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool": "tool_calls"}
_FINGERPRINT = "fp_sim0000001"


last_user_text = answer_text.last_user_text  # string content or any text part


def plan_openai(
    call: Call, spec: ModelSpec, messages: list[Any], tools: object, params: Mapping[str, Any]
) -> Answer:
    """The answer to an OpenAI-shaped chat request: its `messages` and `tools`, and `params`
    (`max_completion_tokens` or `max_tokens`, `stop`, `tool_choice`): a Chat Completions body,
    or the Orchestration Service's model params."""
    max_tokens = params.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = params.get("max_tokens")
    declared = [
        ToolDecl(str(t["function"].get("name", "")), as_dict(t["function"].get("parameters")) or None)
        for t in as_list(tools)
        if isinstance(t, dict) and isinstance(t.get("function"), dict)
    ]
    return plan(
        tokens=call.knobs.tokens,
        prompt_chars=text_chars(messages, tools),
        max_tokens=max_tokens if isinstance(max_tokens, int) else None,
        stop=stop_list(params.get("stop")),
        tool=call.knobs.tool,
        tools=declared,
        id_prefix="call_",
        tool_choice=tool_choice.from_openai(params.get("tool_choice")),
        args=call.knobs.args,
        model=spec.name,
    )


def chat(call: Call) -> Reply | StreamReply:
    body, spec = call.body, call.spec
    if spec.api not in ("chat", "openai-compat"):
        return _unsupported("chatCompletion", spec.name)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return azure_error(
            400, "'messages' is a required property", type_="invalid_request_error", param="messages"
        )
    if spec.reasoning:
        rejected = _reasoning_rejects(body)
        if rejected is not None:
            return rejected
    if body.get("tools") is not None and not isinstance(body["tools"], list):
        return azure_error(
            400,
            f"Invalid type for 'tools': expected an array, but got {type(body['tools']).__name__} instead.",
            type_="invalid_request_error",
            param="tools",
        )
    answer = plan_openai(call, spec, messages, body.get("tools"), body)
    if body.get("stream") is True:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        stream = _stream(answer, spec.response_model, include_usage)
        if call.knobs.nan:
            stream.prelude, stream.content, stream.epilogue = (
                [_with_nan(c) for c in part] for part in (stream.prelude, stream.content, stream.epilogue)
            )
        return StreamReply(lambda proto: send_stream(proto, call.state, call.knobs, stream))
    if call.knobs.malformed:
        return Reply(200, [("content-type", "application/json")], b'{"id": "chatcmpl-broken", "choices": [')
    reply = json_reply(200, _completion(answer, spec.response_model))
    return Reply(200, reply.headers, _with_nan(reply.body)) if call.knobs.nan else reply


_NUMBERS = re.compile(rb'("(?:total_tokens|index)":)[0-9]+')


def _with_nan(data: bytes) -> bytes:
    """The `nan` directive: token counts and choice indexes become NaN (not JSON)."""
    return _NUMBERS.sub(rb"\1NaN", data)


def _reasoning_rejects(body: dict[str, Any]) -> Reply | None:
    temperature = body.get("temperature")
    if temperature is not None and temperature != 1:
        return azure_error(
            400,
            f"Unsupported value: 'temperature' does not support {temperature} with this model. "
            "Only the default (1) value is supported.",
            type_="invalid_request_error",
            param="temperature",
            code="unsupported_value",
        )
    if body.get("max_tokens") is not None:
        return azure_error(
            400,
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            type_="invalid_request_error",
            param="max_tokens",
            code="unsupported_parameter",
        )
    return None


def _unsupported(operation: str, model: str) -> Reply:
    return azure_error(
        400,
        f"The {operation} operation does not work with the specified model, {model}. "
        "Please choose different model and try again.",
        code="OperationNotSupported",
    )


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "completion_tokens": answer.completion_tokens,
        "completion_tokens_details": {
            "accepted_prediction_tokens": 0,
            "audio_tokens": 0,
            "reasoning_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        "prompt_tokens": answer.prompt_tokens,
        "prompt_tokens_details": {"audio_tokens": 0, "cached_tokens": 0},
        "total_tokens": answer.total_tokens,
    }


def _completion(answer: Answer, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "annotations": [],
        "content": answer.text,
        "refusal": None,
        "role": "assistant",
    }
    if answer.tool is not None:
        message["content"] = None
        message["tool_calls"] = [
            {
                "function": {"arguments": answer.tool.arguments, "name": answer.tool.name},
                "id": answer.tool.id,
                "type": "function",
            }
        ]
    return {
        "choices": [
            {
                "content_filter_results": _CHOICE_FILTER,
                "finish_reason": _FINISH[answer.finish],
                "index": 0,
                "logprobs": None,
                "message": message,
            }
        ],
        "created": int(time.time()),
        "id": new_id("chatcmpl-"),
        "model": model,
        "object": "chat.completion",
        "prompt_filter_results": _PROMPT_FILTER,
        "system_fingerprint": _FINGERPRINT,
        "usage": _usage(answer),
    }


def _stream(answer: Answer, model: str, include_usage: bool) -> StreamBody:
    cid, created = new_id("chatcmpl-"), int(time.time())

    def chunk(choices: list[Any], **extra: Any) -> bytes:
        obj: dict[str, Any] = {
            "choices": choices,
            "created": created,
            "id": cid,
            "model": model,
            "object": "chat.completion.chunk",
            "system_fingerprint": _FINGERPRINT,
        }
        if include_usage:
            obj["usage"] = None
        obj.update(extra)
        return b"data: " + dumps(obj) + b"\n\n"

    def delta(d: dict[str, Any], finish: str | None = None, filters: Any = _FILTER) -> bytes:
        return chunk(
            [
                {
                    "content_filter_results": filters,
                    "delta": d,
                    "finish_reason": finish,
                    "index": 0,
                    "logprobs": None,
                }
            ]
        )

    # Azure opens with the prompt filter results and no choices.
    prelude = [chunk([], prompt_filter_results=_PROMPT_FILTER)]
    if answer.tool is None:
        prelude.append(delta({"content": "", "refusal": None, "role": "assistant"}, filters={}))
        content = [delta({"content": w}) for w in answer.chunks]
    else:
        tool = answer.tool
        head = {
            "index": 0,
            "id": tool.id,
            "type": "function",
            "function": {"name": tool.name, "arguments": ""},
        }
        prelude.append(delta({"content": None, "role": "assistant", "tool_calls": [head]}, filters={}))
        content = [
            delta({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}, filters={})
            for f in tool.fragments
        ]
    epilogue = [delta({}, _FINISH[answer.finish], filters={})]
    if include_usage:
        epilogue.append(chunk([], usage=_usage(answer)))
    epilogue.append(b"data: [DONE]\n\n")
    return StreamBody("text/event-stream; charset=utf-8", prelude, content, epilogue)


# -- embeddings ---------------------------------------------------------------------------


def last_input_text(body: dict[str, Any]) -> str | None:
    value = body.get("input")
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and isinstance(value[-1], str):
        return value[-1]
    return None


def embeddings(call: Call) -> Reply:
    body, spec = call.body, call.spec
    if spec.api != "embeddings":
        return _unsupported("embeddings", spec.name)
    texts = _embedding_inputs(body.get("input"))
    if texts is None:
        return azure_error(
            400,
            "'input' must be a non-empty string, array of strings or array of token arrays",
            type_="invalid_request_error",
            param="input",
        )
    dims = body.get("dimensions")
    if dims is None:
        dims = spec.embedding_dims
    if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= spec.embedding_dims:
        return azure_error(
            400,
            f"This model does not support specifying dimensions of {dims}; "
            f"the maximum is {spec.embedding_dims}.",
            type_="invalid_request_error",
            param="dimensions",
        )
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        return azure_error(
            400, f"Invalid value for 'encoding_format': {encoding!r}.", type_="invalid_request_error"
        )
    data = [
        {"object": "embedding", "index": i, "embedding": vectors.embedding(text, dims, encoding == "base64")}
        for i, (text, _) in enumerate(texts)
    ]
    tokens = sum(n for _, n in texts)
    return json_reply(
        200,
        {
            "object": "list",
            "data": data,
            "model": spec.name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
    )


def _embedding_inputs(value: object) -> list[tuple[str, int]] | None:
    """(text, prompt tokens) per input; token-id arrays count one token per id."""
    if isinstance(value, str) and value:
        return [(value, estimate_tokens(len(value)))]
    if not isinstance(value, list) or not value:
        return None
    if all(isinstance(v, int) for v in value):
        return [(",".join(map(str, value)), len(value))]
    out = []
    for v in value:
        if isinstance(v, str) and v:
            out.append((v, estimate_tokens(len(v))))
        elif isinstance(v, list) and v and all(isinstance(t, int) for t in v):
            out.append((",".join(map(str, v)), len(v)))
        else:
            return None
    return out


__all__ = ["chat", "embeddings", "last_input_text", "last_user_text"]
