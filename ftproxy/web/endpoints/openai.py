"""OpenAI-compatible endpoints: chat completions, Responses, embeddings, models."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftproxy._json import dumps
from ftproxy.convert import ClientApi
from ftproxy.errors import ApiError
from ftproxy.proxy import forward, requested_model, resolve
from ftproxy.upstream import read_json
from ftproxy.web.wsgi import Request, Response

if TYPE_CHECKING:
    from ftproxy.web.app import Gateway

EMBEDDINGS_PATH = "/embeddings?api-version=2023-05-15"


def chat_completions(gateway: Gateway, request: Request) -> Response:
    return forward(gateway, request, ClientApi.OPENAI_CHAT, request.json_object())


def responses(gateway: Gateway, request: Request) -> Response:
    """The Responses API (Codex CLI), mapped onto chat for every family (`convert.responses_*`)."""
    return forward(gateway, request, ClientApi.OPENAI_RESPONSES, request.json_object())


def embeddings(gateway: Gateway, request: Request) -> Response:
    body = request.json_object()
    model = requested_model(body)
    text = body.get("input")
    if not (isinstance(text, str) or (isinstance(text, list) and text)):
        raise ApiError(400, "'input' must be a string or a non-empty list", param="input")
    deployments = resolve(gateway, model)
    exchange = request.exchange
    exchange.model, exchange.family = model, deployments.items[0].family.value
    if not deployments.items[0].embeddings:
        raise ApiError(400, f"'{model}' is not an embeddings model", param="model")
    response = gateway.upstreams.open(exchange, deployments, EMBEDDINGS_PATH, dumps(body))
    answer: dict[str, Any] = read_json(response, exchange)
    usage = answer.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        exchange.input_tokens, exchange.output_tokens = usage["prompt_tokens"], 0
    answer["model"] = model  # the name the client asked for, not the deployment's versioned one
    return Response.json(answer)


def list_models(gateway: Gateway, request: Request) -> Response:
    """The configured models, then their aliases, marked as such (`alias_for`; Anthropic's shape has
    no field for it, so its display name says "alias of …")."""
    aliases = gateway.models.aliases
    if request.header("anthropic-version"):
        data = [
            {"type": "model", "id": name, "display_name": name, "created_at": "2024-01-01T00:00:00Z"}
            for name in gateway.models.names
        ] + [
            {
                "type": "model",
                "id": a.name,
                "display_name": f"{a.name} (alias of {a.target})",
                "created_at": "2024-01-01T00:00:00Z",
                "alias_for": a.target,
            }
            for a in aliases
        ]
        return Response.json(
            {
                "data": data,
                "has_more": False,
                "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None,
            }
        )
    return Response.json(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": 0, "owned_by": "sap-ai-core"}
                for name in gateway.models.names
            ]
            + [
                {
                    "id": a.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "ftproxy-alias",
                    "alias_for": a.target,
                }
                for a in aliases
            ],
        }
    )
