"""A service key is all you need: `ftproxy serve` with no config file, only a service key in the
environment (AICORE_SERVICE_KEY, or Cloud Foundry's VCAP_SERVICES) and the client keys in
FTPROXY_API_KEYS; its models are discovered, and start-up says where each setting came from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import openai
import pytest
from processes import running_proxy

from ftproxy.demo import DEMO_CLIENT_ID, DEMO_CLIENT_SECRET

CLIENT_KEYS = ("sk-env-one", "sk-env-two")


def _service_key(simulator: str) -> dict[str, object]:
    return {
        "clientid": DEMO_CLIENT_ID,
        "clientsecret": DEMO_CLIENT_SECRET,
        "url": simulator,
        "identityzoneid": "env-tenant",
        "serviceurls": {"AI_API_URL": simulator},
    }


def _environment(folder: Path, **variables: str) -> dict[str, str]:
    """This process's environment without any ftproxy or AI Core setting, a bare home, and
    `variables`: what the proxy reads comes from the test alone."""
    home = folder / "home"
    home.mkdir(exist_ok=True)
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AICORE_", "FTPROXY_")) and k != "VCAP_SERVICES"
    }
    return {**kept, "HOME": str(home), "FTPROXY_API_KEYS": ",".join(CLIENT_KEYS), **variables}


def _answers(root: str, key: str) -> None:
    client = openai.OpenAI(base_url=root + "/v1", api_key=key, max_retries=0)
    assert "gpt-4.1" in {m.id for m in client.models.list()}
    answer = client.chat.completions.create(
        model="gpt-4.1", messages=[{"role": "user", "content": "Say hi"}], max_tokens=20
    )
    assert answer.choices[0].message.content
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=root + "/v1", api_key="sk-not-listed", max_retries=0).models.list()


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_serve_with_only_aicore_service_key(simulator: str, tmp_path: Path, server: str) -> None:
    env = _environment(tmp_path, AICORE_SERVICE_KEY=json.dumps(_service_key(simulator)))
    # Two worker processes: each reads the environment it inherits, not a file.
    with running_proxy(None, tmp_path, "--server", server, "--workers", "2", env=env) as (root, log):
        for key in CLIENT_KEYS:
            _answers(root, key)
        text = log.read_text()
    assert "ftproxy: configuration from the environment (no ftproxy config file):" in text
    assert "  service key:    AICORE_SERVICE_KEY\n" in text
    assert f"  AI API URL:     {simulator}\n" in text
    assert '  resource group: "default" (AICORE_RESOURCE_GROUP not set: the default)\n' in text
    assert "  client keys:    FTPROXY_API_KEYS (2 keys)\n" in text
    assert "config:              (environment)" in text
    assert text.count("configuration from the environment") == 1  # once, by `serve`, not per worker
    assert DEMO_CLIENT_SECRET not in text and not any(key in text for key in CLIENT_KEYS)


def test_serve_with_only_a_cloud_foundry_binding(simulator: str, tmp_path: Path) -> None:
    vcap = {
        "aicore": [{"label": "aicore", "name": "ai-core-instance", "credentials": _service_key(simulator)}]
    }
    # The SDK's form of the API URL (…/v2) is read as the service key's.
    vcap["aicore"][0]["credentials"]["serviceurls"] = {"AI_API_URL": simulator + "/v2"}
    env = _environment(tmp_path, VCAP_SERVICES=json.dumps(vcap), AICORE_RESOURCE_GROUP="default")
    with running_proxy(None, tmp_path, env=env) as (root, log):
        _answers(root, CLIENT_KEYS[0])
        text = log.read_text()
    assert "  service key:    VCAP_SERVICES (service aicore, instance ai-core-instance)\n" in text
    assert '  resource group: "default" (AICORE_RESOURCE_GROUP)\n' in text
