"""The AI API model catalog (`GET /v2/lm/scenarios/foundation-models/models`), in the shape of
SAP's SDKs (`AiModelList` of `AiModelBaseData` with `AiModelVersion`s)."""

from __future__ import annotations

import pytest

from ftproxy.simulator import catalog
from ftproxy.simulator.testing import SimClient

pytestmark = pytest.mark.e2e

CATALOG = "/v2/lm/scenarios/foundation-models/models"


def _by_model(sim: SimClient) -> dict[str, dict]:
    reply = sim.client.get(CATALOG, headers=sim.headers())
    assert reply.status_code == 200
    body = reply.json()
    assert body["count"] == len(body["resources"]) == len(catalog.DEFAULT_MODELS)
    return {r["model"]: r for r in body["resources"]}


def test_every_model_is_listed_with_its_scenarios(sim: SimClient) -> None:
    by_model = _by_model(sim)
    for spec in catalog.DEFAULT_MODELS:
        entry = by_model[spec.name]
        assert entry["executableId"] == spec.executable
        assert entry["description"] and entry["displayName"] and entry["provider"]
        assert entry["accessType"] in ("Remote", "Local")
        scenarios = {(s["scenarioId"], s["executableId"]) for s in entry["allowedScenarios"]}
        # the Orchestration Service serves every model of the catalog, chat and embeddings
        assert ("orchestration", "orchestration") in scenarios
        assert (("foundation-models", spec.executable) in scenarios) is spec.deployed
        latest = [v for v in entry["versions"] if v["isLatest"]]
        assert [v["name"] for v in latest] == [spec.version]
        assert latest[0]["deprecated"] is False and latest[0]["retirementDate"] == ""
        for version in entry["versions"]:
            assert {"name", "isLatest", "deprecated", "contextLength", "inputTypes", "capabilities"} <= set(
                version
            )
            assert isinstance(version["contextLength"], int) and version["contextLength"] > 0


def test_orchestration_only_models_and_superseded_versions(sim: SimClient) -> None:
    by_model = _by_model(sim)
    for name in ("mistralai--mistral-small-instruct", "meta--llama3.1-70b-instruct", "ibm--granite-13b-chat"):
        assert [s["scenarioId"] for s in by_model[name]["allowedScenarios"]] == ["orchestration"]
    earlier = [v for v in by_model["gpt-4o"]["versions"] if not v["isLatest"]]
    assert [(v["name"], v["deprecated"]) for v in earlier] == [("2024-05-13", True)]
    embedding = by_model["text-embedding-3-small"]["versions"][0]
    assert embedding["capabilities"] == ["embeddings"] and embedding["streamingSupported"] is False


def test_catalog_checks_token_and_resource_group(sim: SimClient) -> None:
    assert sim.client.get(CATALOG).status_code == 401
    no_group = {k: v for k, v in sim.headers().items() if k.lower() != "ai-resource-group"}
    assert sim.client.get(CATALOG, headers=no_group).status_code == 400
    other = {**no_group, "AI-Resource-Group": "no-such-group"}
    assert sim.client.get(CATALOG, headers=other).status_code == 404


def test_a_catalog_fault_leaves_the_listing_alone(sim: SimClient) -> None:
    sim.client.post("/_sim/faults", json={"deployment": "models-catalog", "status": 503, "count": 1})
    sim.client.post("/_sim/faults", json={"deployment": "*", "status": 500, "count": 1})
    assert sim.client.get(CATALOG, headers=sim.headers()).status_code == 503
    assert sim.client.get(CATALOG, headers=sim.headers()).status_code == 200  # a "*" fault is not its
    assert sim.client.get("/v2/lm/deployments", headers=sim.headers()).status_code == 200
