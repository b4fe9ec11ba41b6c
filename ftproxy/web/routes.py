"""Which handler answers which method on which path, and in which API's error shape.

The paths themselves are named once, in `ftproxy/paths.py`: the metrics label requests with
them and the canary tooling watches them too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ftproxy import paths
from ftproxy.proxy import Call, Services
from ftproxy.web.endpoints import anthropic, health, openai
from ftproxy.web.wsgi import Request, Response

Handler = Callable[[Services, Call, Request], Response]


@dataclass(frozen=True, slots=True)
class Route:
    handler: Handler
    anthropic: bool = False  # errors in Anthropic's shape instead of OpenAI's
    public: bool = False  # no client key needed


_BY_NAME: dict[str, dict[str, Route]] = {
    paths.CHAT_COMPLETIONS: {"POST": Route(openai.chat_completions)},
    paths.RESPONSES: {"POST": Route(openai.responses)},
    paths.MESSAGES: {"POST": Route(anthropic.messages, anthropic=True)},
    paths.COUNT_TOKENS: {"POST": Route(anthropic.count_tokens, anthropic=True)},
    paths.EMBEDDINGS: {"POST": Route(openai.embeddings)},
    paths.MODELS: {"GET": Route(openai.list_models)},
    paths.HEALTH: {"GET": Route(health.health, public=True)},
    paths.READY: {"GET": Route(health.ready, public=True)},
    paths.METRICS: {"GET": Route(health.metrics_endpoint, public=True)},
}
# Every path ftproxy answers, the ones without /v1 included, → its methods.
ROUTES: dict[str, dict[str, Route]] = {path: _BY_NAME[name] for path, name in paths.CANONICAL.items()}


_ANTHROPIC_PREFIXES = (paths.MESSAGES, paths.MESSAGES.removeprefix("/v1"))


def speaks_anthropic(request: Request) -> bool:
    """For a path or method with no route: whether the client reads Anthropic's error shape.

    The path decides where it can: an OpenAI path (a GET on /v1/chat/completions, say) is
    answered in OpenAI's shape even when the client sends `anthropic-version`; only a path both
    APIs share (/v1/models) or an unknown one goes by the header."""
    if request.path.startswith(_ANTHROPIC_PREFIXES):
        return True
    if request.path in _OPENAI_ONLY:
        return False
    return bool(request.header("anthropic-version"))


# Paths with a route that only OpenAI clients call (every method there answers in OpenAI's shape).
_OPENAI_ONLY = frozenset(
    path
    for path, methods in ROUTES.items()
    if not path.startswith(_ANTHROPIC_PREFIXES)
    and path not in (paths.MODELS, paths.MODELS.removeprefix("/v1"))
    and not any(route.anthropic or route.public for route in methods.values())
)
