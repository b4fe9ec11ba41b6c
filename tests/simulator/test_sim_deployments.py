"""Deployments created and deleted at run time (`/_sim/deployments`): the live table.

A simulator of this module's own: the tests change its table, which the session's simulator
(shared by every other test) must keep as the catalog has it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ftproxy.simulator import catalog
from ftproxy.simulator.testing import SimClient, running_simulator

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sim_base() -> Iterator[str]:
    """Overrides the session's simulator for this module (conftest's `sim` then uses it)."""
    with running_simulator() as base:
        yield base


HI = [{"role": "user", "content": "Say hi"}]
LISTING = "/v2/lm/deployments?scenarioId=foundation-models"


def _listed(sim: SimClient) -> dict[str, str]:
    body = sim.client.get(LISTING, headers=sim.headers()).json()
    return {r["id"]: r["details"]["resources"]["backend_details"]["model"]["name"] for r in body["resources"]}


def test_create_answer_list_delete_404(sim: SimClient) -> None:
    created = sim.client.post("/_sim/deployments", json={"model": "sonar"})
    assert created.status_code == 201
    new = created.json()
    dep = new["id"]
    assert new == {
        "id": catalog.deployment_id("sonar", 1),
        "deploymentUrl": f"{sim.base}/v2/inference/deployments/{dep}",
        "model": "sonar",
    }
    try:
        assert _listed(sim)[dep] == "sonar"
        table = {
            row["deployment_id"]: row for row in sim.client.get("/_sim/deployments").json()["deployments"]
        }
        assert table[dep]["generation"] == 1 and table[dep]["model"] == "sonar"
        url = f"/v2/inference/deployments/{dep}/chat/completions"
        answer = sim.client.post(url, json={"model": "sonar", "messages": HI}, headers=sim.headers())
        assert answer.status_code == 200 and "sonar" in answer.json()["choices"][0]["message"]["content"]
        # The first generation still answers beside it.
        assert sim.post("sonar", "chat/completions", {"messages": HI}).status_code == 200
    finally:
        deleted = sim.client.delete(f"/_sim/deployments/{dep}")
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    gone = sim.client.post(url, json={"model": "sonar", "messages": HI}, headers=sim.headers())
    assert gone.status_code == 404
    # The shape AI Core answers an unknown deployment with.
    error = gone.json()["error"]
    assert error["code"] == "01010001" and dep in error["message"] and error["requestId"]
    assert dep not in _listed(sim)
    assert dep not in {
        row["deployment_id"] for row in sim.client.get("/_sim/deployments").json()["deployments"]
    }
    assert sim.client.delete(f"/_sim/deployments/{dep}").status_code == 404


def test_generations_count_up_per_model(sim: SimClient) -> None:
    ids = [sim.client.post("/_sim/deployments", json={"model": "gpt-4o"}).json()["id"] for _ in range(2)]
    try:
        assert len(set(ids)) == 2 and catalog.deployment_id("gpt-4o") not in ids
        assert all(i in _listed(sim) for i in ids)
    finally:
        for dep in ids:
            sim.client.delete(f"/_sim/deployments/{dep}")


def test_deleting_the_catalog_deployment_and_recreating(sim: SimClient) -> None:
    first = catalog.deployment_id("gemini-2.5-flash")
    assert sim.client.delete(f"/_sim/deployments/{first}").status_code == 200
    try:
        path = "models/gemini-2.5-flash:generateContent"
        body = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        assert sim.post("gemini-2.5-flash", path, body).status_code == 404
        assert first not in _listed(sim)
    finally:
        again = sim.client.post("/_sim/deployments", json={"model": "gemini-2.5-flash"}).json()["id"]
    # A new id: the model's next generation, never the deleted one reused.
    assert again != first and again in _listed(sim)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"model": "gpt-9"}, "catalog model"),
        ({}, "catalog model"),
        ({"model": "mistralai--mistral-small-instruct"}, "Orchestration Service"),
    ],
)
def test_create_refuses(sim: SimClient, body: dict[str, str], fragment: str) -> None:
    reply = sim.client.post("/_sim/deployments", json=body)
    assert reply.status_code == 400 and fragment in reply.json()["error"]
