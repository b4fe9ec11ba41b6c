"""Anthropic-compatible endpoints (Claude Code and the Anthropic SDKs): Messages, count_tokens.

Errors on these routes come in Anthropic's shape (`Route(anthropic=True)` in `routes.py`).
"""

from __future__ import annotations

from ftproxy import convert
from ftproxy.convert import ClientApi
from ftproxy.convert.orchestration import INTERMEDIATE_HEADER
from ftproxy.proxy import Call, Services, forward, requested_model, resolve
from ftproxy.web.wsgi import Request, Response

# Client headers that reach the converters (an allow-list: nothing else of the client's is sent on).
_FORWARDED_HEADERS = ("anthropic-beta", INTERMEDIATE_HEADER)


def messages(services: Services, call: Call, request: Request) -> Response:
    headers = {name: value for name in _FORWARDED_HEADERS if (value := request.header(name))}
    body = request.json_object()
    return Response.answer(forward(services, call, ClientApi.ANTHROPIC_MESSAGES, body, headers))


def count_tokens(services: Services, call: Call, request: Request) -> Response:
    """An estimate computed locally: SAP AI Core has no token counting endpoint.

    The answer says so in the `x-ftproxy-token-count: estimate` header; the method is documented
    in `convert/count_tokens.py`.
    """
    body = request.json_object()
    resolve(services, requested_model(body))  # an unknown model is a 404, as on Anthropic's API
    tokens = convert.count_tokens(body)  # a ClientRequestError is the web layer's 400
    response = Response.json({"input_tokens": tokens})
    response.headers.append(("x-ftproxy-token-count", "estimate"))
    return response
