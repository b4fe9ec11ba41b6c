"""The Orchestration Service deployment: `POST …/v2/completion` and `…/v2/embeddings`.

One deployment (id `deployment_id("orchestration")`) answers for every model of the catalog
named in `config.modules.prompt_templating.model.name` (a list of module configs is a fallback
chain: the first with a known model answers); an unknown name is a 400 from the LLM module, as
SAP answers it. Bodies follow SAP's SDK (`gen_ai_hub.orchestration_v2.models`):

    {"request_id", "intermediate_results": {"templating", "input_masking", "input_filtering",
     "llm", "output_filtering", "output_unmasking"}, "final_result": <chat.completion>}

and a stream is SSE `data: {…}` events of the same envelope with chat.completion.chunk results
(every delta carries `content`, "" at least, as the SDK requires), then `data: [DONE]`.

The answer is the simulator's usual one (`answer.plan`: words naming the model, tool calls from
`prompt.tools` and `[[sim:tool=…]]`). Modules: `[[sim:filter=input]]` makes the prompt violent
content, which the input filter blocks (400 with the filter's module results, location
"Filtering Module - Input Filter") unless the request's filters let it through (`filters.py`:
thresholds, Llama Guard categories); `[[sim:filter=output]]` the same for the answer, which the
output filter blanks (finish_reason content_filter); translation modules report their results
without translating; masking (`masking.py`) masks the template before the "model" sees it, and the
answer repeats the masked prompt, so that the masking, and with pseudonymization the unmasking,
shows in what comes back. Template placeholders (`{{?name}}`) are filled from
`placeholder_values`, then `prompt.defaults`; a missing one is the templating module's 400.
"""

from __future__ import annotations

import dataclasses
import re
import time
import uuid
from typing import Any

from ftproxy._json import dumps, loads
from ftproxy.simulator import answer as answers
from ftproxy.simulator import catalog, filters, openai_api, rules
from ftproxy.simulator.answer import Answer, as_dict, as_list
from ftproxy.simulator.call import Call, Route
from ftproxy.simulator.catalog import ModelSpec
from ftproxy.simulator.http import Reply, StreamReply, json_reply
from ftproxy.simulator.masking import Masker, map_texts, masker
from ftproxy.simulator.streaming import StreamBody, send_stream

DEPLOYMENT_ID = catalog.deployment_id("orchestration")
# Stands for the deployment in the generic call path (errors before the handler: Azure-like
# `{"error": {"code", "message"}}`, which SAP's SDK reads as the orchestration error it is).
SPEC = ModelSpec("orchestration", "gpt", "chat")
_FINISH = {"stop": "stop", "stop_sequence": "stop", "length": "length", "tool": "tool_calls"}
_FINGERPRINT = "fp_sim0000001"
# The modules echoed back in `intermediate_results.simulator_modules` (a simulator-only key; the
# SDK's module results allow extra fields), so a test can see exactly what a request carried.
_ECHOED = ("filtering", "masking", "translation", "grounding")
_INPUT_BLOCKED = "Prompt filtered due to safety violations. Please modify the prompt and try again."
_DONE = b"data: [DONE]\n\n"
_PLACEHOLDER = re.compile(r"\{\{\s*\?\s*([\w.-]+)\s*\}\}")


def error(status: int, message: str, location: str, intermediate: dict[str, Any] | None = None) -> Reply:
    """The service's error envelope: `{"error": {request_id, code, message, location, …}}`."""
    body: dict[str, Any] = {
        "request_id": str(uuid.uuid4()),
        "code": status,
        "message": f"{status} - {location}: {message}",
        "location": location,
    }
    if intermediate is not None:
        body["intermediate_results"] = intermediate
    return json_reply(status, {"error": body})


def _filled(template: list[Any], values: dict[str, Any]) -> list[Any]:
    """The template with its `{{?name}}` placeholders replaced (history is never templated)."""

    def fill(text: str) -> str:
        return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), text) if "{{?" in text else text

    return map_texts(template, fill)


def _template(body: dict[str, Any]) -> list[Any]:
    modules = _first_modules(body)
    prompt = as_dict(as_dict(modules.get("prompt_templating")).get("prompt"))
    return as_list(body.get("messages_history")) + as_list(prompt.get("template"))


def _first_modules(body: dict[str, Any]) -> dict[str, Any]:
    modules = as_dict(body.get("config")).get("modules")
    return as_dict(modules[0] if isinstance(modules, list) and modules else modules)


def last_user_text(body: dict[str, Any]) -> str | None:
    """Directives live in the last template message when it is the user's."""
    return answers.last_user_text({"messages": _template(body)})


def _choose(body: dict[str, Any], chat: bool) -> tuple[dict[str, Any], ModelSpec] | Reply:
    """The module config that answers, and its model (the first known one of a fallback list)."""
    modules = as_dict(body.get("config")).get("modules")
    chain = modules if isinstance(modules, list) else [modules]
    if not chain or not all(isinstance(m, dict) for m in chain):
        return error(400, "'config.modules' must be an object or a non-empty list", "Request Body")
    name, version = "", "latest"
    for config in chain:
        key = "prompt_templating" if chat else "embeddings"
        details = as_dict(as_dict(config.get(key)).get("model"))
        name, version = str(details.get("name") or ""), str(details.get("version") or "latest")
        spec = catalog.find(name)
        if spec is not None and (spec.api == "embeddings") != chat:
            return config, spec
    module = "LLM Module" if chat else "Embeddings Module"
    return error(400, f"Model '{name}' with version '{version}' is not available for this deployment", module)


def completion(call: Call) -> Reply | StreamReply:
    body = call.body
    if not isinstance(body.get("config"), dict):
        return error(400, "'config' is required (or 'config_ref')", "Request Body")
    chosen = _choose(body, chat=True)
    if isinstance(chosen, Reply):
        return chosen
    modules, spec = chosen
    templating = as_dict(modules.get("prompt_templating"))
    prompt = as_dict(templating.get("prompt"))
    template = as_list(prompt.get("template"))
    if not template and not as_list(body.get("messages_history")):
        return error(400, "'prompt.template' must hold at least one message", "Templating Module")
    values = {**as_dict(prompt.get("defaults")), **as_dict(body.get("placeholder_values"))}
    missing = sorted({m.group(1) for m in _PLACEHOLDER.finditer(dumps(template).decode())} - set(values))
    if missing:
        return error(400, f"Missing required parameters: {missing}", "Templating Module")
    template = as_list(body.get("messages_history")) + _filled(template, values)
    params = as_dict(as_dict(templating.get("model")).get("params"))
    mask = masker(modules)
    intermediate: dict[str, Any] = {"templating": template}
    if mask is not None:
        template = mask.mask_messages(template)
        intermediate["input_masking"] = {
            "message": "Input to LLM is masked successfully.",
            "data": {"masked_template": dumps(template).decode()},
        }
    received = {k: v for k, v in modules.items() if k in _ECHOED}
    if received:
        intermediate["simulator_modules"] = received
    translation = as_dict(modules.get("translation"))
    if translation.get("input"):
        intermediate["input_translation"] = {
            "message": "Input to LLM translated successfully.",
            "data": {"config": as_dict(translation["input"]).get("config")},
        }
    flagged = call.knobs.filter == "input"
    if flagged and filters.blocks(modules, "input"):
        intermediate["input_filtering"] = {
            "message": _INPUT_BLOCKED,
            "data": filters.scores(modules, "input"),
        }
        return error(400, _INPUT_BLOCKED, "Filtering Module - Input Filter", intermediate)
    if as_dict(modules.get("filtering")).get("input"):
        intermediate["input_filtering"] = {
            "message": "Input Filter passed successfully.",
            "data": filters.scores(modules, "input", flagged=flagged),
        }
    refused = rules.rejected_param(spec, {"tools": prompt.get("tools")})
    if refused is not None:  # the model's own server refuses it; the LLM module relays that
        return error(400, rules.rejection_message(spec, refused), "LLM Module", intermediate)
    answer = _plan(call, spec, template, prompt, params, mask)
    flagged = call.knobs.filter == "output"
    blocked = flagged and filters.blocks(modules, "output")
    if blocked or as_dict(modules.get("filtering")).get("output"):
        failed = 1 if blocked else 0
        intermediate["output_filtering"] = {
            "message": f"{failed} of 1 choices failed the output filter.",
            "data": {"choices": [{"index": 0, **filters.scores(modules, "output", flagged=flagged)}]},
        }
    if translation.get("output"):
        intermediate["output_translation"] = {
            "message": "Output translated successfully.",
            "data": {"config": as_dict(translation["output"]).get("config")},
        }
    stream = as_dict(as_dict(body.get("config")).get("stream")).get("enabled") is True
    result = _Result(answer, spec.response_model, mask, blocked)
    if stream:
        events = result.stream(intermediate)
        return StreamReply(lambda proto: send_stream(proto, call.state, call.knobs, events))
    return json_reply(200, result.whole(intermediate))


def _plan(
    call: Call,
    spec: ModelSpec,
    template: list[Any],
    prompt: dict[str, Any],
    params: dict[str, Any],
    mask: Masker | None,
) -> Answer:
    answer = openai_api.plan_openai(call, spec, template, prompt.get("tools"), params)
    if mask is not None and answer.tool is None:
        # The "model" repeats what it was given: the masked prompt shows in the answer.
        said = answers.last_user_text({"messages": template}) or ""
        echo = tuple(w if i == 0 else " " + w for i, w in enumerate(f"You wrote: {said}".split()))
        rest = (" " + answer.chunks[0], *answer.chunks[1:]) if answer.chunks else ()
        answer = dataclasses.replace(answer, chunks=echo + rest)
    return answer


@dataclasses.dataclass(slots=True)
class _Result:
    answer: Answer
    model: str
    mask: Masker | None
    blocked: bool  # by the output filter: no content, finish_reason content_filter
    id: str = dataclasses.field(default_factory=lambda: answers.new_id("chatcmpl-"))
    created: int = dataclasses.field(default_factory=lambda: int(time.time()))
    request_id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))

    def _text(self, text: str) -> str:
        return self.mask.unmask(text) if self.mask is not None and self.mask.pseudonymize else text

    def _finish(self) -> str:
        return "content_filter" if self.blocked else _FINISH[self.answer.finish]

    def _usage(self) -> dict[str, Any]:
        a = self.answer
        return {
            "completion_tokens": a.completion_tokens,
            "prompt_tokens": a.prompt_tokens,
            "total_tokens": a.total_tokens,
        }

    def _result(self, obj: str, choices: list[Any], usage: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "object": obj,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": _FINGERPRINT,
            "choices": choices,
        }
        if usage:
            out["usage"] = self._usage()
        return out

    def _message(self, text: str) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        tool = self.answer.tool
        if tool is not None and not self.blocked:
            message["content"] = ""
            message["tool_calls"] = [
                {
                    "id": tool.id,
                    "type": "function",
                    "function": {"name": tool.name, "arguments": tool.arguments},
                }
            ]
        return message

    def whole(self, intermediate: dict[str, Any]) -> dict[str, Any]:
        raw = self.answer.text
        llm = self._result("chat.completion", [
            {"index": 0, "message": self._message(raw), "finish_reason": _FINISH[self.answer.finish]}
        ])  # fmt: skip
        final_text = "" if self.blocked else self._text(raw)
        choice = {"index": 0, "message": self._message(final_text), "finish_reason": self._finish()}
        intermediate = {**intermediate, "llm": llm}
        if self.mask is not None and self.mask.pseudonymize:
            intermediate["output_unmasking"] = [choice]
        return {
            "request_id": self.request_id,
            "intermediate_results": intermediate,
            "final_result": self._result("chat.completion", [choice]),
        }

    def _event(self, delta: dict[str, Any], finish: str | None, intermediate: dict[str, Any]) -> bytes:
        chunk = self._result(
            "chat.completion.chunk",
            [{"index": 0, "delta": {"content": "", **delta}, "finish_reason": finish}],
            usage=finish is not None,
        )
        event = {"request_id": self.request_id, "intermediate_results": intermediate, "final_result": chunk}
        return b"data: " + dumps(event) + b"\n\n"

    def stream(self, intermediate: dict[str, Any]) -> StreamBody:
        first = self._event({"role": "assistant"}, None, intermediate)
        tool = self.answer.tool
        content: list[bytes] = []
        if self.blocked:
            pass  # the output filter let nothing through
        elif tool is None:
            content = [self._event({"content": self._text(w)}, None, {}) for w in self.answer.chunks]
        else:
            head = {
                "index": 0,
                "id": tool.id,
                "type": "function",
                "function": {"name": tool.name, "arguments": ""},
            }
            content = [self._event({"tool_calls": [head]}, None, {})]
            content += [
                self._event({"tool_calls": [{"index": 0, "function": {"arguments": f}}]}, None, {})
                for f in tool.fragments
            ]
        last = self._event(
            {}, self._finish(), {k: v for k, v in intermediate.items() if k == "output_filtering"}
        )
        return StreamBody("text/event-stream; charset=utf-8", [first], content, [last, _DONE])


# --- embeddings ----------------------------------------------------------------------------------


def embeddings(call: Call) -> Reply:
    body = call.body
    chosen = _choose(body, chat=False)
    if isinstance(chosen, Reply):
        return chosen
    modules, spec = chosen
    details = as_dict(as_dict(modules.get("embeddings")).get("model"))
    params = as_dict(details.get("params"))
    text = as_dict(body.get("input")).get("text")
    mask = masker(modules)
    if mask is not None:
        text = (
            mask.mask(text)
            if isinstance(text, str)
            else [mask.mask(t) if isinstance(t, str) else t for t in as_list(text)]
        )
    openai_body = {"input": text, **{k: params[k] for k in ("dimensions", "encoding_format") if k in params}}
    reply = openai_api.embeddings(dataclasses.replace(call, spec=spec, body=openai_body))
    answer = loads(reply.body)
    if reply.status >= 400:
        message = str(as_dict(answer.get("error")).get("message") or "embedding failed")
        return error(reply.status, message, "Embeddings Module")
    intermediate: dict[str, Any] = {}
    if mask is not None:
        intermediate["input_masking"] = {"message": "Input to embedding model is masked successfully."}
    return json_reply(
        200, {"request_id": str(uuid.uuid4()), "intermediate_results": intermediate, "final_result": answer}
    )


ROUTES = {
    "v2/completion": Route("orchestration", completion, last_user_text),
    "v2/embeddings": Route("orchestration_embeddings", embeddings, lambda body: None),
}

__all__ = ["DEPLOYMENT_ID", "ROUTES", "SPEC", "completion", "embeddings", "error", "last_user_text"]
