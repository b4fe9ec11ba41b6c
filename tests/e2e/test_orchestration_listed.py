"""Models served only through the Orchestration Service are listed (from the AI API's model
catalog) with route orchestration, so clients that pick a model from /v1/models find them; the
real OpenAI and Anthropic SDKs list and call them. A failing catalog keeps the last one read and
/ready names it, while the deployments listing keeps the table current."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import anthropic
import httpx
import openai
import pytest
from processes import running_proxy

from ftproxy.demo import DEMO_KEY, write_demo_config
from ftproxy.simulator.testing import running_simulator

if TYPE_CHECKING:  # the session fixture's type (conftest is not importable from every rootdir)
    from conftest import Proxy

pytestmark = pytest.mark.e2e

ONLY_ORCHESTRATED = (
    "mistralai--mistral-small-instruct",
    "meta--llama3.1-70b-instruct",
    "ibm--granite-13b-chat",
)
HI = [{"role": "user", "content": "Say hi"}]


def test_openai_sdk_lists_and_calls_an_orchestration_only_model(orchestrated: Proxy) -> None:
    client = openai.OpenAI(base_url=orchestrated.root + "/v1", api_key=orchestrated.key, max_retries=0)
    listed = {m.id: m.model_extra or {} for m in client.models.list()}
    for name in ONLY_ORCHESTRATED:
        assert listed[name]["route"] == "orchestration", name
    assert listed["mistralai--mistral-small-instruct"]["family"] == "mistral"
    assert listed["gpt-4.1"]["route"] == "direct"
    answer = client.chat.completions.create(
        model="mistralai--mistral-small-instruct", messages=HI, max_tokens=20
    )
    assert answer.choices[0].message.content


def test_anthropic_sdk_lists_and_calls_an_orchestration_only_model(orchestrated: Proxy) -> None:
    client = anthropic.Anthropic(base_url=orchestrated.root, api_key=orchestrated.key, max_retries=0)
    listed = {m.id: m.model_extra or {} for m in client.models.list().data}
    assert listed["meta--llama3.1-70b-instruct"]["route"] == "orchestration"
    assert listed["meta--llama3.1-70b-instruct"]["family"] == "llama"
    message = client.messages.create(model="meta--llama3.1-70b-instruct", max_tokens=20, messages=HI)
    assert any(b.type == "text" and b.text for b in message.content)


@pytest.fixture
def own_simulator() -> Iterator[str]:
    """A simulator of this test's own: its catalog is made to fail."""
    with running_simulator() as base:
        yield base


def _discovery(root: str) -> dict:
    ready = httpx.get(root + "/ready", timeout=10)
    assert ready.status_code == 200
    return ready.json()["discovery"]


def test_a_failing_catalog_keeps_the_last_one_and_ready_names_it(own_simulator: str, tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, own_simulator, host="127.0.0.1", port=3001, discover=True)
    data = json.loads(config.read_text())
    data["discovery"] = {"interval_seconds": 0.2, "timeout_seconds": 2}
    config.write_text(json.dumps(data))
    with running_proxy(config, tmp_path) as (root, _):
        assert _discovery(root)["error"] is None
        fault = {"deployment": "models-catalog", "status": 503}  # until cleared
        httpx.post(own_simulator + "/_sim/faults", json=fault, timeout=10).raise_for_status()
        deadline = time.monotonic() + 30
        discovery = _discovery(root)
        while discovery["error"] is None and time.monotonic() < deadline:
            time.sleep(0.1)  # polling a condition, bounded by the deadline
            discovery = _discovery(root)
        assert "model catalog answered HTTP 503" in (discovery["error"] or "")
        assert discovery["stale"] is False  # the deployments listing is still read
        listed = httpx.get(root + "/v1/models", headers={"Authorization": f"Bearer {DEMO_KEY}"}, timeout=10)
        routes = {m["id"]: m["route"] for m in listed.json()["data"]}
        assert routes["ibm--granite-13b-chat"] == "orchestration"  # the last catalog read
        metrics = httpx.get(root + "/metrics", timeout=10).text
        assert 'ftproxy_discovery_catalog_reads_total{outcome="error",subaccount="demo"}' in metrics
        httpx.delete(own_simulator + "/_sim/faults", timeout=10).raise_for_status()
        deadline = time.monotonic() + 30
        while _discovery(root)["error"] is not None and time.monotonic() < deadline:
            time.sleep(0.1)  # polling a condition, bounded by the deadline
        assert _discovery(root)["error"] is None
