"""The Orchestration Service's v1 route, `POST …/completion`, which SAP's v1 client still speaks.

SAP's SDK `gen_ai_hub.orchestration` (as opposed to `orchestration_v2`) sends

    {"orchestration_config": {"module_configurations": {"templating_module_config":
        {"template", "defaults", "tools", "response_format"}, "llm_module_config":
        {"model_name", "model_version", "model_params"}, "masking_module_config",
        "filtering_module_config"}, "stream": true, "stream_options": {…}},
     "input_params": {…}, "messages_history": […]}

and reads `{"request_id", "module_results", "orchestration_result"}` (the same results under
v1's names), stream events of that shape, and errors as a flat `{"request_id", "code",
"message", "location", "module_results"}` (`gen_ai_hub.orchestration.models.response`,
`sse_client`). The request is rewritten into v2's and answered by `orchestration.completion`,
so both versions give the same answer; only the envelope's names differ.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from ftproxy._json import JSONDecodeError, dumps, loads
from ftproxy.simulator import orchestration
from ftproxy.simulator.answer import as_dict
from ftproxy.simulator.call import Call, Route
from ftproxy.simulator.http import Reply, StreamReply, json_reply

# v1 module config → v2 module name (the modules whose content is the same in both versions).
_MODULES = {"masking_module_config": "masking", "filtering_module_config": "filtering"}


def to_v2(body: dict[str, Any]) -> dict[str, Any]:
    """The v2 request a v1 request stands for."""
    config = as_dict(body.get("orchestration_config"))
    modules = as_dict(config.get("module_configurations"))
    llm = as_dict(modules.get("llm_module_config"))
    templating = as_dict(modules.get("templating_module_config"))
    model = {
        "name": llm.get("model_name"),
        "version": llm.get("model_version") or "latest",
        "params": as_dict(llm.get("model_params")),
    }
    v2_modules: dict[str, Any] = {"prompt_templating": {"prompt": templating, "model": model}}
    for v1_name, v2_name in _MODULES.items():
        if v1_name in modules:
            v2_modules[v2_name] = modules[v1_name]
    v2_config: dict[str, Any] = {"modules": v2_modules}
    if config.get("stream") is True:
        v2_config["stream"] = {"enabled": True, **as_dict(config.get("stream_options"))}
    out: dict[str, Any] = {"config": v2_config}
    if "messages_history" in body:
        out["messages_history"] = body["messages_history"]
    if "input_params" in body:
        out["placeholder_values"] = body["input_params"]
    return out


def to_v1(result: dict[str, Any]) -> dict[str, Any]:
    """A v2 answer, stream event or error body under v1's names."""
    error = result.get("error")
    if isinstance(error, dict):  # v1 errors are not wrapped
        flat = {k: v for k, v in error.items() if k != "intermediate_results"}
        return {**flat, "module_results": error.get("intermediate_results", {})}
    return {
        "request_id": result.get("request_id"),
        "module_results": result.get("intermediate_results", {}),
        "orchestration_result": result.get("final_result"),
    }


def _events(chunk: bytes) -> bytes:
    """Every whole `data: {…}` event of a chunk renamed; anything else (a cut stream) as it is."""
    events = chunk.split(b"\n\n")
    for i, event in enumerate(events):
        if event.startswith(b"data: {"):
            with contextlib.suppress(JSONDecodeError, ValueError):
                events[i] = b"data: " + dumps(to_v1(loads(event[6:])))
    return b"\n\n".join(events)


class _Transport:
    def __init__(self, transport: Any) -> None:
        self._transport = transport

    async def send_bytes(self, data: bytes) -> None:
        await self._transport.send_bytes(_events(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Proto:
    """The RSGI protocol with every byte sent renamed to v1 on the way out."""

    def __init__(self, proto: Any) -> None:
        self._proto = proto

    def response_stream(self, status: int, headers: Any) -> _Transport:
        return _Transport(self._proto.response_stream(status, headers))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._proto, name)


def completion(call: Call) -> Reply | StreamReply:
    result = orchestration.completion(dataclasses.replace(call, body=to_v2(call.body)))
    if isinstance(result, StreamReply):
        produce = result.produce
        return StreamReply(lambda proto: produce(_Proto(proto)))
    return json_reply(result.status, to_v1(loads(result.body)))


def last_user_text(body: dict[str, Any]) -> str | None:
    return orchestration.last_user_text(to_v2(body))


ROUTES = {"completion": Route("orchestration_v1", completion, last_user_text)}

__all__ = ["ROUTES", "completion", "last_user_text", "to_v1", "to_v2"]
