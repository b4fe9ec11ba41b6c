"""A config with only a service key: the proxy discovers the subaccount's deployments from AI
Core's listing, serves them, and keeps them (reporting staleness on /ready) when AI Core fails."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
import openai
import pytest
from processes import proxy_config, running_proxy

from ftproxy.demo import DEMO_KEY
from ftproxy.simulator.testing import free_port, running_simulator


def _discovering_config(folder: Path, simulator: str, **discovery: object) -> Path:
    path = proxy_config(folder, simulator)
    data = json.loads(path.read_text())
    for sub in data["subAccounts"].values():
        del sub["deployment_models"]
    if discovery:
        data["discovery"] = discovery
    path.write_text(json.dumps(data))
    return path


def _ready(root: str) -> httpx.Response:
    return httpx.get(root + "/ready", timeout=10)


def test_models_are_discovered_and_served(simulator: str, tmp_path: Path) -> None:
    config = _discovering_config(tmp_path, simulator)
    with running_proxy(config, tmp_path) as (root, _):
        client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
        listed = {m.id for m in client.models.list()}
        assert {"gpt-4.1", "anthropic--claude-4.5-sonnet"} <= listed
        for model in ("gpt-4.1", "anthropic--claude-4.5-sonnet"):
            answer = client.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "Say hi"}], max_tokens=20
            )
            assert answer.choices[0].message.content
        ready = _ready(root)
        assert ready.status_code == 200
        discovery = ready.json()["discovery"]
        assert discovery["stale"] is False and discovery["error"] is None
        assert isinstance(discovery["last_success_age_s"], float)


def test_a_failing_ai_api_keeps_the_table_and_ready_says_stale(tmp_path: Path) -> None:
    with ExitStack() as stack:
        ai_core = ExitStack()
        stack.callback(ai_core.close)  # runs after the proxy stopped (last in, first out)
        simulator = ai_core.enter_context(running_simulator())
        config = _discovering_config(tmp_path, simulator, interval_seconds=0.2, timeout_seconds=2)
        root, _ = stack.enter_context(running_proxy(config, tmp_path))
        assert _ready(root).json()["discovery"]["stale"] is False
        ai_core.close()  # AI Core goes away: every refresh from now on fails
        deadline = time.monotonic() + 30
        body = _ready(root).json()
        while not body["discovery"]["stale"] and time.monotonic() < deadline:
            time.sleep(0.1)  # polling a condition, bounded by the deadline
            body = _ready(root).json()
        assert body["status"] == "ready" and body["discovery"]["stale"] is True
        assert "listing" in body["discovery"]["error"]
        listed = httpx.get(root + "/v1/models", headers={"Authorization": f"Bearer {DEMO_KEY}"}, timeout=10)
        assert {"gpt-4.1", "anthropic--claude-4.5-sonnet"} <= {m["id"] for m in listed.json()["data"]}


def test_no_listing_at_start_up_is_not_ready_not_a_crash(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    config = _discovering_config(tmp_path, dead, timeout_seconds=2)
    with running_proxy(config, tmp_path) as (root, _):
        ready = _ready(root)
        assert ready.status_code == 503
        body = ready.json()
        assert body["status"] == "not_ready" and body["discovery"]["stale"] is True
        assert body["discovery"]["error"]


def _refreshes(root: str) -> float:
    text = httpx.get(root + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ftproxy_discovery_refreshes_total{") and 'outcome="ok"' in line
    )


def test_a_deployment_answering_404_refreshes_the_table_soon(simulator: str, tmp_path: Path) -> None:
    config = _discovering_config(tmp_path, simulator)  # the default interval: no periodic refresh here
    with running_proxy(config, tmp_path) as (root, _):
        assert _refreshes(root) == 1  # the start-up refresh
        fault = {"deployment": "gpt-4.1", "status": 404, "count": 1}
        httpx.post(simulator + "/_sim/faults", json=fault, timeout=10).raise_for_status()
        client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
        # a retryable 503 (the SDKs retry it by default), not the deleted deployment's 404
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 503 and caught.value.response.headers["retry-after"] == "1"
        assert caught.value.code == "deployment_missing"
        deadline = time.monotonic() + 30
        while _refreshes(root) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)  # polling a condition, bounded by the deadline
        assert _refreshes(root) == 2
        # with the SDK's default retries, one 404 is no error the caller sees
        httpx.post(simulator + "/_sim/faults", json=fault, timeout=10).raise_for_status()
        retrying = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY)
        answer = retrying.chat.completions.create(
            model="gpt-4.1", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content
