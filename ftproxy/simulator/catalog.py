"""The models the simulator offers, the rules each enforces, and their deterministic deployment ids.

Deployment ids derive from the model name alone, so the proxy's demo mode can write a config
pointing at the simulator without asking it (`deployment_id("gpt-4.1")`), and every resource
group holds the same ids. A deployment created at run time (`POST /_sim/deployments`) gets
`deployment_id(name, generation)` with the model's next generation, so ids stay reproducible.

`ModelSpec` is a plain value type on purpose: the proxy's model table can read the same rules
(`rejects`, `max_output_tokens`, `deployed`) to refuse or trim a request before it reaches SAP.
The sources of every rule are in `README.md` ("Model rules").
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from typing import Literal

Family = Literal["gpt", "claude", "gemini", "mistral", "llama", "nova", "ibm", "deepseek", "perplexity"]
# "chat" and "embeddings" are Azure OpenAI routes; "converse" and "invoke" name the Bedrock API a
# Claude model is normally called with (AI Core serves both on every Claude deployment; Nova
# takes Converse only); "generate" is Vertex generateContent; "openai-compat" is the
# OpenAI-compatible `POST {deploymentUrl}/chat/completions` (model named in the body, no
# api-version) of the models SAP hosts itself (Mistral, open source, IBM) and Perplexity.
Api = Literal["chat", "embeddings", "converse", "invoke", "generate", "openai-compat"]

# The AI API executable that serves each family (the listing's `executableId`).
EXECUTABLES: dict[Family, str] = {
    "gpt": "azure-openai",
    "claude": "aws-bedrock",
    "gemini": "gcp-vertexai",
    "mistral": "aicore-mistralai",
    "llama": "aicore-opensource",
    "nova": "aws-bedrock",
    "ibm": "aicore-ibm",
    "deepseek": "aicore-opensource",
    "perplexity": "perplexity-ai",
}


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
    # False: the model is offered only through the Orchestration Service (no foundation-models
    # deployment of its own is listed, and none can be created).
    deployed: bool = True
    # Top-level request parameters the model's upstream refuses with a 400 (e.g. "tools").
    rejects: frozenset[str] = frozenset()
    # The upstream's ceiling on requested output tokens (0: none enforced).
    max_output_tokens: int = 0

    @property
    def response_model(self) -> str:
        return self.snapshot or self.name

    @property
    def executable(self) -> str:
        return EXECUTABLES[self.family]


# Amazon Nova's Converse `inferenceConfig.maxTokens` is 1..5000 (AWS Nova user guide).
_NOVA = 5000
# Perplexity's chat completions, DeepSeek-R1 and Granite 13B chat as SAP hosts them take no
# function tools.
_NO_TOOLS = frozenset({"tools"})

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
    ModelSpec("mistralai--mistral-large-instruct", "mistral", "openai-compat", "2407"),
    ModelSpec("mistralai--mistral-medium-instruct", "mistral", "openai-compat", "2505"),
    ModelSpec("mistralai--mistral-small-instruct", "mistral", "openai-compat", "2503", deployed=False),
    ModelSpec("meta--llama3.1-70b-instruct", "llama", "openai-compat", "1", deployed=False),
    *(
        ModelSpec(
            f"amazon--nova-{size}",
            "nova",
            "converse",
            "1",
            f"amazon.nova-{size}-v1:0",
            max_output_tokens=_NOVA,
        )
        for size in ("pro", "lite", "micro", "premier")
    ),
    ModelSpec("ibm--granite-13b-chat", "ibm", "openai-compat", "2", deployed=False, rejects=_NO_TOOLS),
    ModelSpec("deepseek-ai--deepseek-r1", "deepseek", "openai-compat", "1", rejects=_NO_TOOLS),
    ModelSpec("sonar", "perplexity", "openai-compat", "1", rejects=_NO_TOOLS),
    ModelSpec("sonar-pro", "perplexity", "openai-compat", "1", rejects=_NO_TOOLS),
)


def deployment_id(model_name: str, generation: int = 0) -> str:
    """`d` + 15 lowercase hex digits, a pure function of the model name (and generation: the
    first deployment of a model is generation 0, each one created at run time the next)."""
    key = model_name if generation == 0 else f"{model_name}#{generation}"
    return "d" + hashlib.sha256(key.encode()).hexdigest()[:15]


def configuration_id(model_name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "ftproxy-simulator/" + model_name))


def by_deployment_id(models: tuple[ModelSpec, ...] = DEFAULT_MODELS) -> dict[str, ModelSpec]:
    """The first deployment of every model that has one of its own (`deployed`)."""
    deployed = [m for m in models if m.deployed]
    table = {deployment_id(m.name): m for m in deployed}
    if len(table) != len(deployed):
        raise ValueError("two simulated models hash to the same deployment id; rename one")
    return table


def find(model_name: str, models: tuple[ModelSpec, ...] = DEFAULT_MODELS) -> ModelSpec | None:
    return next((m for m in models if m.name == model_name), None)


__all__ = [
    "DEFAULT_MODELS",
    "EXECUTABLES",
    "Api",
    "Family",
    "ModelSpec",
    "by_deployment_id",
    "configuration_id",
    "deployment_id",
    "find",
]
