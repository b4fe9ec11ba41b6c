"""A deployment deleted and recreated under a new id while clients keep calling: the SDKs, with
their default retries, see no error (the proxy answers the one 404 with a retryable 503 and
refreshes its table from AI Core's listing meanwhile)."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from processes import running_proxy

from ftproxy.demo import DEMO_KEY, write_demo_config
from ftproxy.simulator import catalog

pytestmark = pytest.mark.e2e

HI = [{"role": "user", "content": "Say hi"}]


def _redeploy(simulator: str, model: str, deployment: str) -> str:
    """Deletes `deployment` and creates the model anew; returns the new deployment's id."""
    httpx.delete(f"{simulator}/_sim/deployments/{deployment}", timeout=10).raise_for_status()
    created = httpx.post(f"{simulator}/_sim/deployments", json={"model": model}, timeout=10)
    created.raise_for_status()
    return created.json()["id"]


def _deployment_of(simulator: str, model: str) -> str:
    table = httpx.get(f"{simulator}/_sim/deployments", timeout=10).json()["deployments"]
    return next(row["deployment_id"] for row in table if row["model"] == model)


def test_a_recreated_deployment_costs_the_sdks_no_error(own_simulator: str, tmp_path: Path) -> None:
    config = write_demo_config(tmp_path, own_simulator, host="127.0.0.1", port=3001, discover=True)
    with running_proxy(config, tmp_path) as (root, _):
        chat = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY)  # default retries
        messages = anthropic.Anthropic(base_url=root, api_key=DEMO_KEY)
        for round_ in range(2):  # the second deletion follows the first at once
            gpt = "gpt-4.1"
            claude = "anthropic--claude-4.5-sonnet"
            assert chat.chat.completions.create(model=gpt, messages=HI).choices[0].message.content
            assert messages.messages.create(model=claude, max_tokens=20, messages=HI).content
            new_gpt = _redeploy(own_simulator, gpt, _deployment_of(own_simulator, gpt))
            new_claude = _redeploy(own_simulator, claude, _deployment_of(own_simulator, claude))
            assert new_gpt != catalog.deployment_id(gpt) and new_claude != catalog.deployment_id(claude)
            # the next calls meet the deleted deployments' 404s: no error reaches the caller
            answer = chat.chat.completions.create(model=gpt, messages=HI)
            assert answer.choices[0].message.content, round_
            message = messages.messages.create(model=claude, max_tokens=20, messages=HI)
            assert message.content, round_
            stream = chat.chat.completions.create(model=gpt, messages=HI, stream=True)
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
