"""Deployment discovery: AI Core's `GET /v2/lm/deployments` listing turned into model → URLs.

The pure half of discovery (issue 22 item 1): the caller fetches the listing per subaccount and
resource group (`?status=RUNNING`, header `AI-Resource-Group`) and hands the JSON here. Every
running foundation-models deployment maps to its model name; several deployments of one model
keep every URL (the model table round-robins over them); orchestration deployments (scenarioId
`orchestration`) are kept apart, since they serve any model the subaccount has no direct
deployment for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FOUNDATION_MODELS = "foundation-models"
ORCHESTRATION = "orchestration"


@dataclass(frozen=True, slots=True)
class Discovered:
    """One subaccount's running deployments: model name → URLs, and the orchestration URLs."""

    models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    orchestration: tuple[str, ...] = ()


def _model_name(resource: Mapping[str, Any]) -> str | None:
    # SAP's listing spells it `backend_details`; some API versions and the SDK's models use
    # `backendDetails`: accept both.
    details = resource.get("details")
    resources = details.get("resources") if isinstance(details, Mapping) else None
    if not isinstance(resources, Mapping):
        return None
    for key in ("backend_details", "backendDetails"):
        backend = resources.get(key)
        model = backend.get("model") if isinstance(backend, Mapping) else None
        name = model.get("name") if isinstance(model, Mapping) else None
        if isinstance(name, str) and name:
            return name
    return None


def from_listing(listing: Mapping[str, Any]) -> Discovered:
    """Map one listing response to the deployments it offers; malformed entries are skipped."""
    models: dict[str, list[str]] = {}
    orchestration: list[str] = []
    resources = listing.get("resources")
    for resource in resources if isinstance(resources, list) else ():
        if not isinstance(resource, Mapping):
            continue
        url = resource.get("deploymentUrl")
        if not isinstance(url, str) or not url or resource.get("status", "RUNNING") != "RUNNING":
            continue
        scenario = resource.get("scenarioId")
        if scenario == ORCHESTRATION:
            orchestration.append(url.rstrip("/"))
        elif scenario in (FOUNDATION_MODELS, None):
            name = _model_name(resource)
            if name is not None:
                models.setdefault(name, []).append(url.rstrip("/"))
    return Discovered({name: tuple(urls) for name, urls in models.items()}, tuple(orchestration))


__all__ = ["FOUNDATION_MODELS", "ORCHESTRATION", "Discovered", "from_listing"]
