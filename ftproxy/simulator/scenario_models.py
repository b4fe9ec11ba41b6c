"""`GET /v2/lm/scenarios/foundation-models/models`: the AI API's model catalog.

What SAP's SDKs read with `ScenarioApi.scenarioQueryModels` (`AiModelList`: `count`,
`resources: [AiModelBaseData]`): every model of the simulator's catalog, deployed or not, with
its executable, provider, `allowedScenarios` (`foundation-models` with its executable for a model
that can be deployed, `orchestration` for every model, since the Orchestration Service
deployment serves each one: chat through `v2/completion`, embeddings through `v2/embeddings`) and
`versions` (`AiModelVersion`: `name`, `isLatest`, `deprecated`, `retirementDate` — SAP's listing
writes "" when none is set — `contextLength`, `inputTypes`, `capabilities`,
`streamingSupported`). A model whose version was changed keeps its predecessor listed as
deprecated, not latest, as SAP lists superseded versions until they retire.

A fault posted for the deployment `models-catalog` (`/_sim/faults`, exact name; `*` faults are
left to inference) is answered here instead, so a test can make the catalog fail while the
deployments listing still answers.
"""

from __future__ import annotations

from typing import Any

from ftproxy.simulator.catalog import Family, ModelSpec
from ftproxy.simulator.errors import injected
from ftproxy.simulator.http import Reply, json_reply
from ftproxy.simulator.state import State

PATH = "/v2/lm/scenarios/foundation-models/models"
FAULT_TARGET = "models-catalog"
FOUNDATION_MODELS = "foundation-models"
ORCHESTRATION = "orchestration"

_PROVIDERS: dict[Family, str] = {
    "gpt": "Azure OpenAI",
    "claude": "Anthropic",
    "gemini": "Google",
    "mistral": "Mistral AI",
    "llama": "Meta",
    "nova": "Amazon",
    "ibm": "IBM",
    "deepseek": "DeepSeek",
    "perplexity": "Perplexity",
}
# SAP hosts the open models itself ("Local"); the others are a provider's service ("Remote").
_LOCAL = frozenset({"mistral", "llama", "ibm", "deepseek"})
_VISION = frozenset({"gpt", "claude", "gemini", "nova"})
_CONTEXT: dict[Family, int] = {
    "gpt": 128000,
    "claude": 200000,
    "gemini": 1048576,
    "mistral": 128000,
    "llama": 128000,
    "nova": 300000,
    "ibm": 8192,
    "deepseek": 128000,
    "perplexity": 127072,
}
# Models that had an earlier version, listed deprecated (with a past retirement date for one).
_EARLIER: dict[str, tuple[str, str]] = {
    "gpt-4o": ("2024-05-13", "2025-10-01"),
    "mistralai--mistral-large-instruct": ("2402", ""),
}


def _version(spec: ModelSpec, name: str, *, latest: bool, retirement: str = "") -> dict[str, Any]:
    embeddings = spec.api == "embeddings"
    if embeddings:
        capabilities = ["embeddings"]
    else:
        capabilities = ["text-generation", *(["reasoning"] if spec.reasoning else [])]
    return {
        "name": name,
        "isLatest": latest,
        "deprecated": not latest,
        "retirementDate": retirement,
        "contextLength": 8191 if embeddings else _CONTEXT[spec.family],
        "inputTypes": ["text", "image"] if spec.family in _VISION and not embeddings else ["text"],
        "capabilities": capabilities,
        "streamingSupported": not embeddings,
    }


def model(spec: ModelSpec) -> dict[str, Any]:
    """One `AiModelBaseData` entry."""
    scenarios = [{"scenarioId": ORCHESTRATION, "executableId": ORCHESTRATION}]
    if spec.deployed:
        scenarios.insert(0, {"scenarioId": FOUNDATION_MODELS, "executableId": spec.executable})
    versions = [_version(spec, spec.version, latest=True)]
    earlier = _EARLIER.get(spec.name)
    if earlier is not None:
        versions.append(_version(spec, earlier[0], latest=False, retirement=earlier[1]))
    return {
        "model": spec.name,
        "executableId": spec.executable,
        "description": f"{_PROVIDERS[spec.family]} {spec.name} (simulated)",
        "displayName": spec.name,
        "provider": _PROVIDERS[spec.family],
        "accessType": "Local" if spec.family in _LOCAL else "Remote",
        "allowedScenarios": scenarios,
        "versions": versions,
    }


def catalog(state: State, models: tuple[ModelSpec, ...]) -> Reply:
    fault = state.take_fault(FAULT_TARGET, wildcard=False)
    if fault is not None and fault.status is not None:
        return injected(None, fault.status, fault.knobs.get("retry_after"), fault.knobs.get("body"))
    resources = [model(spec) for spec in models]
    return json_reply(200, {"count": len(resources), "resources": resources})


__all__ = ["FAULT_TARGET", "PATH", "catalog", "model"]
