"""The models the simulator deploys, and their deterministic deployment ids.

Deployment ids derive from the model name alone, so the proxy's demo mode can write a config
pointing at the simulator without asking it (`deployment_id("gpt-4.1")`), and every resource
group holds the same ids.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Literal

Family = Literal["gpt", "claude", "gemini"]
# "chat" and "embeddings" are Azure OpenAI routes; "converse" and "invoke" name the Bedrock API a
# Claude model is normally called with (AI Core serves both on every Claude deployment);
# "generate" is Vertex generateContent.
Api = Literal["chat", "embeddings", "converse", "invoke", "generate"]


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    family: Family
    api: Api
    version: str = "1"
    # The name the upstream reports in responses (Azure and Anthropic answer with a snapshot).
    snapshot: str = ""
    # Reasoning models (o-series, gpt-5) reject a non-default temperature and max_tokens.
    reasoning: bool = False
    embedding_dims: int = 0

    @property
    def response_model(self) -> str:
        return self.snapshot or self.name


DEFAULT_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("gpt-4.1", "gpt", "chat", "2025-04-14", "gpt-4.1-2025-04-14"),
    ModelSpec("gpt-4.1-mini", "gpt", "chat", "2025-04-14", "gpt-4.1-mini-2025-04-14"),
    ModelSpec("gpt-4o", "gpt", "chat", "2024-08-06", "gpt-4o-2024-08-06"),
    ModelSpec("gpt-4o-mini", "gpt", "chat", "2024-07-18", "gpt-4o-mini-2024-07-18"),
    ModelSpec("gpt-5", "gpt", "chat", "2025-08-07", "gpt-5-2025-08-07", reasoning=True),
    ModelSpec("gpt-5-mini", "gpt", "chat", "2025-08-07", "gpt-5-mini-2025-08-07", reasoning=True),
    ModelSpec("o3", "gpt", "chat", "2025-04-16", "o3-2025-04-16", reasoning=True),
    ModelSpec("text-embedding-3-small", "gpt", "embeddings", "1", embedding_dims=1536),
    ModelSpec("text-embedding-3-large", "gpt", "embeddings", "1", embedding_dims=3072),
    ModelSpec("anthropic--claude-4.5-sonnet", "claude", "converse", "1", "claude-sonnet-4-5-20250929"),
    ModelSpec("anthropic--claude-4-sonnet", "claude", "converse", "1", "claude-sonnet-4-20250514"),
    ModelSpec("anthropic--claude-4.5-haiku", "claude", "converse", "1", "claude-haiku-4-5-20251001"),
    ModelSpec("anthropic--claude-3.7-sonnet", "claude", "converse", "1", "claude-3-7-sonnet-20250219"),
    ModelSpec("anthropic--claude-3.5-sonnet", "claude", "invoke", "2", "claude-3-5-sonnet-20241022"),
    ModelSpec("gemini-2.5-pro", "gemini", "generate", "001", "gemini-2.5-pro"),
    ModelSpec("gemini-2.5-flash", "gemini", "generate", "001", "gemini-2.5-flash"),
)


def deployment_id(model_name: str) -> str:
    """`d` + 15 lowercase hex digits, a pure function of the model name."""
    return "d" + hashlib.sha256(model_name.encode()).hexdigest()[:15]


def configuration_id(model_name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "ftproxy-simulator/" + model_name))


def by_deployment_id(models: tuple[ModelSpec, ...] = DEFAULT_MODELS) -> dict[str, ModelSpec]:
    table = {deployment_id(m.name): m for m in models}
    if len(table) != len(models):
        raise ValueError("two simulated models hash to the same deployment id; rename one")
    return table


def find(model_name: str, models: tuple[ModelSpec, ...] = DEFAULT_MODELS) -> ModelSpec | None:
    return next((m for m in models if m.name == model_name), None)


__all__ = [
    "DEFAULT_MODELS",
    "Api",
    "Family",
    "ModelSpec",
    "by_deployment_id",
    "configuration_id",
    "deployment_id",
    "find",
]
