"""In a config that discovers, only a discovered deployment's 404 becomes the retryable 503
`deployment_missing` (a refresh may find its successor); a deployment config.json names keeps
its 404, as in a config that does not discover."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest
from processes import proxy_config, running_proxy

from ftproxy.demo import DEMO_KEY
from ftproxy.simulator.catalog import deployment_id

pytestmark = pytest.mark.e2e

HI = [{"role": "user", "content": "hi"}]


def test_a_configured_deployments_404_stays_a_404(simulator: str, tmp_path: Path) -> None:
    path = proxy_config(tmp_path, simulator)
    data = json.loads(path.read_text())
    pinned = f"{simulator}/v2/inference/deployments/{deployment_id('gpt-4.1')}"
    for sub in data["subAccounts"].values():
        sub["deployment_models"] = {"gpt-4.1": [pinned]}  # the rest is discovered
    data["discovery"] = {"enabled": True}
    path.write_text(json.dumps(data))
    with running_proxy(path, tmp_path) as (root, _):
        client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
        try:
            for model in ("gpt-4.1", "gpt-4o"):
                fault = {"deployment": model, "status": 404, "count": 1}
                httpx.post(simulator + "/_sim/faults", json=fault, timeout=10).raise_for_status()
            with pytest.raises(openai.NotFoundError) as pinned_404:
                client.chat.completions.create(model="gpt-4.1", messages=HI)
            assert pinned_404.value.status_code == 404 and pinned_404.value.code != "deployment_missing"
            with pytest.raises(openai.InternalServerError) as discovered_404:  # gpt-4o was discovered
                client.chat.completions.create(model="gpt-4o", messages=HI)
            assert discovered_404.value.status_code == 503
            assert discovered_404.value.code == "deployment_missing"
        finally:  # the session's simulator: leave no fault behind for the next test
            httpx.delete(simulator + "/_sim/faults", timeout=10).raise_for_status()
