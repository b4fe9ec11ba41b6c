"""The URL paths ftproxy answers, written once.

The router (`web/routes.py`) binds handlers to them, the metrics use them as bounded endpoint
labels, and the canary tooling (`deploy/`) watches the model-serving ones. Plain data, so that
every layer may read it.
"""

from __future__ import annotations

CHAT_COMPLETIONS = "/v1/chat/completions"
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"
COUNT_TOKENS = "/v1/messages/count_tokens"
EMBEDDINGS = "/v1/embeddings"
MODELS = "/v1/models"
HEALTH = "/health"
READY = "/ready"
METRICS = "/metrics"

# The paths that reach a model: what the canary analysis compares between instances.
MODEL_PATHS = (CHAT_COMPLETIONS, MESSAGES, RESPONSES, EMBEDDINGS)
ALL = (CHAT_COMPLETIONS, RESPONSES, MESSAGES, COUNT_TOKENS, EMBEDDINGS, MODELS, HEALTH, READY, METRICS)

# Clients configured with a base URL without /v1 (some Anthropic and OpenAI tools) reach the same
# handlers; they are served and counted under the /v1 name.
CANONICAL = {p: p for p in ALL} | {p.removeprefix("/v1"): p for p in ALL if p.startswith("/v1/")}


def canonical(path: str) -> str | None:
    """The /v1 name of a path ftproxy answers, or None for any other path."""
    return CANONICAL.get(path)
