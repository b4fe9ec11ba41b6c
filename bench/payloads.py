"""Request bodies, and their exact upstream equivalents for the direct (limit) measurements.

A direct call is only a fair limit if it sends what the proxy sends: the upstream path and body
come from ftproxy's own `convert.build_request`, so the direct request is byte for byte the
conversion of the proxy's request. The simulator's timing is steered by `[[sim:...]]` directives
in the last user message (the proxy does not forward `x-sim-*` headers), so one simulator serves
every scenario and both paths see the same upstream behaviour.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ftproxy.convert import build_request
from ftproxy.demo import DEMO_KEY
from ftproxy.simulator import orchestration
from ftproxy.simulator.catalog import deployment_id
from ftproxy.wire.apis import ClientApi, UpstreamApi

GPT = "gpt-4.1"
CLAUDE = "anthropic--claude-4.5-sonnet"  # Bedrock Converse upstream
GEMINI = "gemini-2.5-pro"
# Offered only through the Orchestration Service (no deployment of its own): the proxy finds it
# by discovery and sends `/v2/completion` to the orchestration deployment.
ORCHESTRATED = "mistralai--mistral-small-instruct"
_UPSTREAM = {
    GPT: UpstreamApi.AZURE_OPENAI_CHAT,
    CLAUDE: UpstreamApi.BEDROCK_CONVERSE,
    GEMINI: UpstreamApi.VERTEX_GEMINI,
    ORCHESTRATED: UpstreamApi.ORCHESTRATION,
}
_DEPLOYMENT = {ORCHESTRATED: orchestration.DEPLOYMENT_ID}


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def directive(**knobs: float | int) -> str:
    return "[[sim:" + ",".join(f"{k}={v}" for k, v in knobs.items()) + "]]"


def chat_body(model: str, *, stream: bool = False, **knobs: float | int) -> dict[str, Any]:
    text = f"Benchmark request: answer briefly. {directive(**knobs)}" if knobs else "Benchmark request."
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": 256,
    }
    if stream:
        body["stream"] = True
    return body


def large_conversation(model: str, *, turns: int = 60, words: int = 80, tools: int = 16) -> dict[str, Any]:
    """A long agent conversation (system prompt, tools, tool calls and results): the kind of
    request Claude Code sends, and the conversion work that parallel threads could speed up."""
    filler = " ".join(f"word{i % 97}" for i in range(words))
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are a careful assistant. " + filler}]
    for t in range(turns):
        messages.append({"role": "user", "content": f"Turn {t}: {filler}"})
        if t % 3 == 2:
            call_id = f"call_{t}"
            messages.append(
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": call_id,
                            "type": "function",
                            "function": {
                                "name": f"tool_{t % tools}",
                                "arguments": json.dumps({"q": filler[:200], "n": t}),
                            },
                        }
                    ],
                }
            )
            messages.append({"role": "tool", "tool_call_id": call_id, "content": filler})
            messages.append({"role": "user", "content": f"Thanks for turn {t}."})
        messages.append({"role": "assistant", "content": f"Answer {t}: {filler}"})
    messages.append({"role": "user", "content": f"Summarise. {directive(tokens=16)}"})
    tool_defs = [
        {
            "type": "function",
            "function": {
                "name": f"tool_{i}",
                "description": f"Tool number {i}. " + filler[:120],
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                    "required": ["q"],
                },
            },
        }
        for i in range(tools)
    ]
    return {"model": model, "messages": messages, "tools": tool_defs, "max_tokens": 1024, "temperature": 0.2}


# The client API a proxy request speaks: its path and the headers its SDK sends. `chat_body`'s
# shape (model, messages with string content, max_tokens) is valid for both.
_CLIENT: dict[ClientApi, tuple[str, dict[str, str]]] = {
    ClientApi.OPENAI_CHAT: ("/v1/chat/completions", {"Authorization": f"Bearer {DEMO_KEY}"}),
    ClientApi.ANTHROPIC_MESSAGES: (
        "/v1/messages",
        {"x-api-key": DEMO_KEY, "anthropic-version": "2023-06-01"},
    ),
}


def proxy_request(body: dict[str, Any], client: ClientApi = ClientApi.OPENAI_CHAT) -> HttpRequest:
    path, auth = _CLIENT[client]
    return HttpRequest("POST", path, {**auth, "Content-Type": "application/json"}, json.dumps(body).encode())


def direct_request(
    body: dict[str, Any], token: str, client: ClientApi = ClientApi.OPENAI_CHAT
) -> HttpRequest:
    """What the proxy would send upstream for `body` in `client`'s API (same conversion),
    addressed to the simulator."""
    model = str(body["model"])
    stream = bool(body.get("stream"))
    upstream = build_request(client, _UPSTREAM[model], body, model=model, stream=stream)
    deployment = _DEPLOYMENT.get(model) or deployment_id(model)
    path = f"/v2/inference/deployments/{deployment}{_slash(upstream.path)}"
    headers = {
        "Authorization": f"Bearer {token}",
        "AI-Resource-Group": "default",
        "Content-Type": "application/json",
        **upstream.headers,
    }
    return HttpRequest("POST", path, headers, json.dumps(upstream.body).encode())


def _slash(path: str) -> str:
    return path if path.startswith("/") else "/" + path
