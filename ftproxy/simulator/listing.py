"""`GET /v2/lm/deployments`: the AI API deployment listing SAP's SDK and the proxy discover from."""

from __future__ import annotations

from typing import Any

from ftproxy.simulator.catalog import ModelSpec, configuration_id, deployment_id
from ftproxy.simulator.errors import aicore_error
from ftproxy.simulator.http import Reply, Request, json_reply

SCENARIO = "foundation-models"
# Fixed, so listings are reproducible; one second apart so the SDK's newest-first sort is stable.
_CREATED = "2025-06-01T08:00:{:02d}Z"


def resource(spec: ModelSpec, index: int, base_url: str) -> dict[str, Any]:
    dep = deployment_id(spec.name)
    stamp = _CREATED.format(index % 60)
    return {
        "id": dep,
        "deploymentUrl": f"{base_url}/v2/inference/deployments/{dep}",
        "configurationId": configuration_id(spec.name),
        "configurationName": f"{spec.name}-config",
        "executableId": _EXECUTABLES[spec.family],
        "scenarioId": SCENARIO,
        "status": "RUNNING",
        "statusMessage": None,
        "targetStatus": "RUNNING",
        "lastOperation": "CREATE",
        "latestRunningConfigurationId": configuration_id(spec.name),
        "ttl": None,
        "createdAt": stamp,
        "modifiedAt": stamp,
        "submissionTime": stamp,
        "startTime": stamp,
        "details": {
            "resources": {"backend_details": {"model": {"name": spec.name, "version": spec.version}}},
            "scaling": {"backend_details": {}, "backendDetails": {}},
        },
    }


_EXECUTABLES = {"gpt": "azure-openai", "claude": "aws-bedrock", "gemini": "gcp-vertexai"}


def listing(req: Request, models: tuple[ModelSpec, ...]) -> Reply:
    scenario = req.query.get("scenarioId")
    status = req.query.get("status")
    base = req.base_url()
    selected = []
    if scenario in (None, SCENARIO) and status in (None, "RUNNING"):
        selected = [resource(spec, i, base) for i, spec in enumerate(models)]
    return json_reply(200, {"count": len(selected), "resources": selected})


def one(req: Request, models: tuple[ModelSpec, ...], dep: str) -> Reply:
    for i, spec in enumerate(models):
        if deployment_id(spec.name) == dep:
            return json_reply(200, resource(spec, i, req.base_url()))
    return aicore_error(404, f"Deployment {dep} not found", req.path, code="01010001")


__all__ = ["SCENARIO", "listing", "one", "resource"]
