"""Deployment listing (AI API) and the deterministic catalog the demo mode relies on."""

from __future__ import annotations

import re

import pytest

from ftproxy.simulator import catalog
from ftproxy.simulator.testing import SimClient

pytestmark = pytest.mark.e2e

LISTING = "/v2/lm/deployments?scenarioId=foundation-models&status=RUNNING"
DEPLOYED = [m for m in catalog.DEFAULT_MODELS if m.deployed]
ORCHESTRATION_ONLY = {m.name for m in catalog.DEFAULT_MODELS if not m.deployed}


def test_listing_shape(sim: SimClient) -> None:
    reply = sim.client.get(LISTING, headers=sim.headers())
    assert reply.status_code == 200
    body = reply.json()
    assert body["count"] == len(body["resources"]) == len(DEPLOYED)
    by_model = {r["details"]["resources"]["backend_details"]["model"]["name"]: r for r in body["resources"]}
    assert not ORCHESTRATION_ONLY & set(by_model)  # no deployment of their own
    for spec in DEPLOYED:
        res = by_model[spec.name]
        dep = catalog.deployment_id(spec.name)
        assert res["id"] == dep
        # The base URL comes from the Host header the client used.
        assert res["deploymentUrl"] == f"{sim.base}/v2/inference/deployments/{dep}"
        assert res["scenarioId"] == "foundation-models"
        assert res["executableId"] == spec.executable
        assert res["status"] == res["targetStatus"] == "RUNNING"
        assert res["configurationId"] and res["configurationName"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", res["createdAt"])
        assert res["modifiedAt"]
        assert res["details"]["resources"]["backend_details"]["model"]["version"] == spec.version


def test_listing_filters(sim: SimClient) -> None:
    headers = sim.headers()
    other = sim.client.get("/v2/lm/deployments?scenarioId=other", headers=headers).json()
    assert other == {"count": 0, "resources": []}
    stopped = sim.client.get("/v2/lm/deployments?status=STOPPED", headers=headers).json()
    assert stopped["count"] == 0
    everything = sim.client.get("/v2/lm/deployments", headers=headers).json()
    assert everything["count"] == len(DEPLOYED) + 1  # and the orchestration deployment
    mistral = sim.client.get(
        "/v2/lm/deployments?executableIds=aicore-mistralai,perplexity-ai", headers=headers
    )
    names = {
        r["details"]["resources"]["backend_details"]["model"]["name"] for r in mistral.json()["resources"]
    }
    assert names == {m.name for m in DEPLOYED if m.executable in ("aicore-mistralai", "perplexity-ai")}


def test_orchestration_deployment_is_listed(sim: SimClient) -> None:
    """As SAP's SDK discovers it: scenario and executable `orchestration`, no model in details."""
    query = "/v2/lm/deployments?scenarioId=orchestration&executableIds=orchestration&status=RUNNING"
    body = sim.client.get(query, headers=sim.headers()).json()
    assert body["count"] == 1
    (res,) = body["resources"]
    dep = catalog.deployment_id("orchestration")
    assert res["id"] == dep and res["executableId"] == "orchestration"
    assert res["deploymentUrl"] == f"{sim.base}/v2/inference/deployments/{dep}"
    assert res["details"]["resources"]["backend_details"] == {}
    single = sim.client.get(f"/v2/lm/deployments/{dep}", headers=sim.headers())
    assert single.status_code == 200 and single.json()["scenarioId"] == "orchestration"


def test_single_deployment(sim: SimClient) -> None:
    dep = catalog.deployment_id("gpt-4.1")
    reply = sim.client.get(f"/v2/lm/deployments/{dep}", headers=sim.headers())
    assert reply.status_code == 200 and reply.json()["id"] == dep
    assert sim.client.get("/v2/lm/deployments/d000000000000000", headers=sim.headers()).status_code == 404


def test_sim_deployment_table(sim: SimClient) -> None:
    table = sim.client.get("/_sim/deployments").json()["deployments"]
    assert {row["model"]: row["deployment_id"] for row in table} == {
        m.name: catalog.deployment_id(m.name) for m in DEPLOYED
    }


def test_unknown_deployment_is_404(sim: SimClient) -> None:
    reply = sim.client.post(
        "/v2/inference/deployments/d0123456789abcd/chat/completions?api-version=2024-12-01-preview",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers=sim.headers(),
    )
    assert reply.status_code == 404
    assert "d0123456789abcd" in reply.json()["error"]["message"]


def test_healthz(sim: SimClient) -> None:
    reply = sim.client.get("/healthz")
    assert reply.status_code == 200 and reply.json() == {"status": "ok"}
