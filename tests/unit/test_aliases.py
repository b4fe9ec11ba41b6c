"""Model aliases: config.json's `model_aliases`, the built-in Claude ids, /v1/models."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ftproxy.aliases import Aliases
from ftproxy.config import parse_config
from ftproxy.demo import DEMO_ALIASES, DEMO_KEY
from ftproxy.errors import ConfigError
from ftproxy.models import ModelRegistry
from ftproxy.simulator import catalog
from ftproxy.simulator.testing import running_simulator

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))  # the process helpers of the e2e tests

from processes import proxy_config, running_proxy

DEMO_MODELS = [m.name for m in catalog.DEFAULT_MODELS]


@pytest.mark.parametrize(
    ("name", "target"),
    [
        ("claude-sonnet-4-5-20250929", "anthropic--claude-4.5-sonnet"),
        ("claude-sonnet-4-5", "anthropic--claude-4.5-sonnet"),
        ("claude-haiku-4-5-20251001", "anthropic--claude-4.5-haiku"),
        ("claude-sonnet-4-20250514", "anthropic--claude-4-sonnet"),
        ("claude-3-7-sonnet-latest", "anthropic--claude-3.7-sonnet"),
        ("claude-3-5-sonnet-20241022", "anthropic--claude-3.5-sonnet"),
        ("claude-sonnet-4-6", "anthropic--claude-4.5-sonnet"),  # not configured: the newest Sonnet
        ("claude-3-5-haiku-20241022", "anthropic--claude-4.5-haiku"),
        ("claude-opus-5-5", "anthropic--claude-4.5-sonnet"),  # no Opus: the nearest family
        ("sonnet", "anthropic--claude-4.5-sonnet"),
        ("haiku", "anthropic--claude-4.5-haiku"),
        ("opus[1m]", "anthropic--claude-4.5-sonnet"),
        ("gpt-4.1", None),  # a configured model is never an alias
        ("claude-instant", None),
        ("gpt-9", None),
    ],
)
def test_builtin_claude_ids(name: str, target: str | None) -> None:
    assert Aliases(DEMO_MODELS, {}).resolve(name) == target


def test_config_aliases_win_and_an_opus_is_preferred_for_opus() -> None:
    aliases = Aliases(
        ["anthropic--claude-4-opus", "anthropic--claude-4.5-sonnet"], {"sonnet": "anthropic--claude-4-opus"}
    )
    assert aliases.resolve("sonnet") == "anthropic--claude-4-opus"
    assert aliases.resolve("claude-opus-4-1-20250805") == "anthropic--claude-4-opus"
    assert aliases.resolve("claude-sonnet-4-5") == "anthropic--claude-4.5-sonnet"
    assert Aliases(["gpt-4.1"], {}).resolve("claude-sonnet-4-5") is None  # no Claude configured


def config(tmp_path: Path, aliases: Any) -> dict[str, Any]:
    key = {"clientid": "c", "clientsecret": "s", "url": "http://a", "serviceurls": {"AI_API_URL": "http://a"}}
    return {
        "subAccounts": {
            "s": {"service_key": key, "deployment_models": {"gpt-4.1": ["d123"], "gemini-2.5-pro": ["d456"]}}
        },
        "secret_authentication_tokens": ["k"],
        "model_aliases": aliases,
    }


def test_config_aliases_reach_the_registry(tmp_path: Path) -> None:
    parsed = parse_config(config(tmp_path, {"fast": "gemini-2.5-pro"}))
    registry = ModelRegistry(parsed)
    found = registry.get("fast")
    assert found is not None and found.items[0].model == "gemini-2.5-pro"
    assert registry.target("fast") == "gemini-2.5-pro" and registry.get("slow") is None
    assert [(a.name, a.target, a.builtin) for a in registry.aliases] == [("fast", "gemini-2.5-pro", False)]


@pytest.mark.parametrize(
    ("aliases", "message"),
    [
        ({"fast": "gemini-9"}, "model_aliases.fast: points at 'gemini-9', which is not a configured model"),
        ({"gpt-4.1": "gemini-2.5-pro"}, "model_aliases.gpt-4.1: is a configured model name"),
        (["fast"], "model_aliases: must be an object"),
    ],
)
def test_config_mistakes_name_the_key(tmp_path: Path, aliases: Any, message: str) -> None:
    with pytest.raises(ConfigError, match="Fix: ") as info:
        parse_config(config(tmp_path, aliases))
    assert message in str(info.value)


@pytest.fixture(scope="module")
def proxy_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("aliases-proxy")
    with (
        running_simulator() as simulator,
        running_proxy(proxy_config(folder, simulator), folder) as (root, _),
    ):
        yield root


@pytest.mark.e2e
def test_models_lists_aliases_distinctly(proxy_root: str) -> None:
    headers = {"Authorization": f"Bearer {DEMO_KEY}"}
    listed = httpx.get(proxy_root + "/v1/models", headers=headers).json()["data"]
    aliases = {m["id"]: m["alias_for"] for m in listed if m["owned_by"] == "ftproxy-alias"}
    assert aliases == DEMO_ALIASES
    assert all("alias_for" not in m for m in listed if m["owned_by"] == "sap-ai-core")
    anthropic = httpx.get(
        proxy_root + "/v1/models", headers={**headers, "anthropic-version": "2023-06-01"}
    ).json()
    sonnet = next(m for m in anthropic["data"] if m["id"] == "sonnet")
    assert sonnet["display_name"] == "sonnet (alias of anthropic--claude-4.5-sonnet)"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "model", ["claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-5-5"]
)
def test_claude_ids_answer_and_count_tokens(proxy_root: str, model: str) -> None:
    headers = {"x-api-key": DEMO_KEY, "anthropic-version": "2023-06-01"}
    body = {"model": model, "max_tokens": 64000, "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(proxy_root + "/v1/messages?beta=true", headers=headers, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == model and "anthropic--claude-4.5" in answer.json()["content"][0]["text"]
    counted = httpx.post(proxy_root + "/v1/messages/count_tokens?beta=true", headers=headers, json=body)
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0
