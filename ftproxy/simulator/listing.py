"""`GET /v2/lm/deployments`: the AI API deployment listing SAP's SDK and the proxy discover from.

It shows the live deployment table (`state.Deployments`: the catalog's deployed models plus
those created at run time, less those deleted) in scenario `foundation-models`, and the
Orchestration Service deployment in scenario `orchestration` (executable `orchestration`; its
details name no model, since it serves every one). Models offered only through orchestration
(`ModelSpec.deployed` False) have no deployment of their own. Filters as AI API takes them:
`scenarioId`, `status`, `executableIds` (comma-separated, as SAP's SDK sends a list).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ftproxy.simulator import orchestration
from ftproxy.simulator.catalog import ModelSpec, configuration_id, deployment_id
from ftproxy.simulator.errors import aicore_error
from ftproxy.simulator.http import Reply, Request, json_reply
from ftproxy.simulator.state import Deployed

SCENARIO = "foundation-models"
ORCHESTRATION = "orchestration"
# Fixed, so listings are reproducible; one second apart so the SDK's newest-first sort is stable.
_CREATED = "2025-06-01T{:02d}:{:02d}:{:02d}Z"


def _stamp(serial: int) -> str:
    return _CREATED.format(8 + serial // 3600 % 16, serial // 60 % 60, serial % 60)


def _resource(
    dep: str, config: str, executable: str, scenario: str, serial: int, base_url: str, model: dict[str, Any]
) -> dict[str, Any]:
    stamp = _stamp(serial)
    return {
        "id": dep,
        "deploymentUrl": f"{base_url}/v2/inference/deployments/{dep}",
        "configurationId": configuration_id(config),
        "configurationName": f"{config}-config",
        "executableId": executable,
        "scenarioId": scenario,
        "status": "RUNNING",
        "statusMessage": None,
        "targetStatus": "RUNNING",
        "lastOperation": "CREATE",
        "latestRunningConfigurationId": configuration_id(config),
        "ttl": None,
        "createdAt": stamp,
        "modifiedAt": stamp,
        "submissionTime": stamp,
        "startTime": stamp,
        "details": {
            "resources": {"backend_details": model},
            "scaling": {"backend_details": {}, "backendDetails": {}},
        },
    }


def resource(spec: ModelSpec, serial: int, base_url: str, dep: str | None = None) -> dict[str, Any]:
    """A foundation-models deployment of `spec` (id: its first generation's unless given)."""
    model = {"model": {"name": spec.name, "version": spec.version}}
    dep = dep or deployment_id(spec.name)
    return _resource(dep, spec.name, spec.executable, SCENARIO, serial, base_url, model)


def _of(entry: Deployed, base_url: str) -> dict[str, Any]:
    return resource(entry.spec, entry.serial, base_url, entry.id)


def orchestration_resource(base_url: str) -> dict[str, Any]:
    # Serial 0: the oldest deployment of the group, as orchestration is set up first.
    dep, name = orchestration.DEPLOYMENT_ID, ORCHESTRATION
    return _resource(dep, name, name, name, 0, base_url, {})


def _all(table: Mapping[str, Deployed], base_url: str) -> Iterable[dict[str, Any]]:
    yield from (_of(entry, base_url) for entry in sorted(table.values(), key=lambda e: e.serial))
    yield orchestration_resource(base_url)


def listing(req: Request, table: Mapping[str, Deployed]) -> Reply:
    query = req.query
    scenario, status = query.get("scenarioId"), query.get("status")
    executables = {e for e in (query.get("executableIds") or "").split(",") if e}
    selected = [
        r
        for r in _all(table, req.base_url())
        if scenario in (None, r["scenarioId"])
        and status in (None, r["status"])
        and (not executables or r["executableId"] in executables)
    ]
    return json_reply(200, {"count": len(selected), "resources": selected})


def one(req: Request, table: Mapping[str, Deployed], dep: str) -> Reply:
    entry = table.get(dep)
    if entry is not None:
        return json_reply(200, _of(entry, req.base_url()))
    if dep == orchestration.DEPLOYMENT_ID:
        return json_reply(200, orchestration_resource(req.base_url()))
    return aicore_error(404, f"Deployment {dep} not found", req.path, code="01010001")


__all__ = ["ORCHESTRATION", "SCENARIO", "listing", "one", "orchestration_resource", "resource"]
