"""OpenAI-compatible endpoints: chat completions, Responses, embeddings, models."""

from __future__ import annotations

from ftproxy.convert import ClientApi
from ftproxy.convert.orchestration import INTERMEDIATE_HEADER
from ftproxy.proxy import Call, Services, embed, forward
from ftproxy.web.wsgi import Request, Response


def _forwarded_headers(request: Request) -> dict[str, str] | None:
    """The client headers the converters read (an allow-list): the Orchestration Service's
    module results are shown only to a client that asks (`convert/orchestration.py`)."""
    value = request.header(INTERMEDIATE_HEADER)
    return {INTERMEDIATE_HEADER: value} if value else None


def chat_completions(services: Services, call: Call, request: Request) -> Response:
    body = request.json_object()
    headers = _forwarded_headers(request)
    return Response.answer(forward(services, call, ClientApi.OPENAI_CHAT, body, headers))


def responses(services: Services, call: Call, request: Request) -> Response:
    """The Responses API (Codex CLI), mapped onto chat for every family (`convert.responses_*`)."""
    body = request.json_object()
    headers = _forwarded_headers(request)
    return Response.answer(forward(services, call, ClientApi.OPENAI_RESPONSES, body, headers))


def embeddings(services: Services, call: Call, request: Request) -> Response:
    return Response.json(embed(services, call, request.json_object()))


def list_models(services: Services, call: Call, request: Request) -> Response:
    """The configured and discovered models, then their aliases, marked as such (`alias_for`;
    Anthropic's shape has no field for it, so its display name says "alias of …"). Each entry
    says its family and route ("direct" to the model's deployment, or "orchestration" through the
    Orchestration Service): extra fields, which both SDKs keep and ignore."""
    entries = services.models.entries()
    routes = {e.name: {"family": e.family.value, "route": e.route} for e in entries}
    aliases = services.models.aliases
    if request.header("anthropic-version"):
        data = [
            {
                "type": "model",
                "id": e.name,
                "display_name": e.name,
                "created_at": "2024-01-01T00:00:00Z",
                **routes[e.name],
            }
            for e in entries
        ] + [
            {
                "type": "model",
                "id": a.name,
                "display_name": f"{a.name} (alias of {a.target})",
                "created_at": "2024-01-01T00:00:00Z",
                "alias_for": a.target,
                **routes.get(a.target, {}),
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
                {"id": e.name, "object": "model", "created": 0, "owned_by": "sap-ai-core", **routes[e.name]}
                for e in entries
            ]
            + [
                {
                    "id": a.name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "ftproxy-alias",
                    "alias_for": a.target,
                    **routes.get(a.target, {}),
                }
                for a in aliases
            ],
        }
    )
