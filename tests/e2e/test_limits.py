"""Limits through real processes: per-key rate limits, body size, concurrency, output caps."""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import openai
import pytest
from conftest import Proxy, ProxySettings
from processes import open_raw_stream, proxy_config, running_proxy

pytestmark = pytest.mark.e2e

LIMITED, FREE = "sk-limited-0123456789", "sk-free-0123456789"
CLAUDE = "anthropic--claude-4.5-sonnet"
HI = [{"role": "user", "content": "Hi"}]


@pytest.fixture(scope="module")
def proxy_settings() -> ProxySettings:
    return ProxySettings(
        config={
            "secret_authentication_tokens": [
                {"key": LIMITED, "name": "limited", "requests_per_minute": 0.5, "burst": 2},
                FREE,
                "sk-ftproxy-demo",
            ],
            "limits": {"max_body_bytes": 4096, "max_output_tokens": {CLAUDE: 3}},
        }
    )


def test_a_key_over_its_rate_gets_429_in_its_api_shape(own_proxy: Proxy) -> None:
    root, log = own_proxy.root, own_proxy.log
    limited = openai.OpenAI(base_url=root + "/v1", api_key=LIMITED, max_retries=0)
    for _ in range(2):  # the burst
        limited.chat.completions.create(model="gpt-4.1", messages=HI)
    with pytest.raises(openai.RateLimitError) as caught:
        limited.chat.completions.create(model="gpt-4.1", messages=HI)
    assert caught.value.body["code"] == "rate_limit_exceeded"
    assert int(caught.value.response.headers["retry-after"]) > 0
    with pytest.raises(anthropic.RateLimitError) as refused:
        anthropic.Anthropic(base_url=root, api_key=LIMITED, max_retries=0).messages.create(
            model=CLAUDE, max_tokens=10, messages=HI
        )
    assert refused.value.body["error"]["type"] == "rate_limit_error"
    free = openai.OpenAI(base_url=root + "/v1", api_key=FREE, max_retries=0)
    for _ in range(5):  # other keys are not affected
        free.chat.completions.create(model="gpt-4.1", messages=HI)
    text = log.read_text()
    assert '"client":"limited"' in text and LIMITED not in text and FREE not in text


def test_bodies_over_the_limit_get_413_in_their_api_shape(own_proxy: Proxy) -> None:
    root = own_proxy.root
    big = [{"role": "user", "content": "x" * 5000}]
    headers = {"Authorization": f"Bearer {FREE}"}
    chat = httpx.post(
        root + "/v1/chat/completions", json={"model": "gpt-4.1", "messages": big}, headers=headers
    )
    assert chat.status_code == 413 and chat.json()["error"]["type"] == "invalid_request_error"
    messages = httpx.post(
        root + "/v1/messages", json={"model": CLAUDE, "max_tokens": 5, "messages": big}, headers=headers
    )
    assert messages.status_code == 413 and messages.json()["error"]["type"] == "request_too_large"


def test_output_tokens_are_capped_per_model(own_proxy: Proxy) -> None:
    root = own_proxy.root
    client = anthropic.Anthropic(base_url=root, api_key=FREE, max_retries=0)
    answer = client.messages.create(model=CLAUDE, max_tokens=1000, messages=HI)
    assert answer.stop_reason == "max_tokens" and answer.usage.output_tokens == 3
    chat = openai.OpenAI(base_url=root + "/v1", api_key=FREE, max_retries=0)
    capped = chat.chat.completions.create(model=CLAUDE, messages=HI)  # no max_tokens: the cap applies
    assert capped.choices[0].finish_reason == "length" and capped.usage.completion_tokens == 3


def test_requests_beyond_the_concurrency_limit_get_503(own_simulator: str, tmp_path: Path) -> None:
    config = proxy_config(tmp_path, own_simulator, limits={"max_concurrent_requests": 1})
    with running_proxy(config, tmp_path) as (root, _):
        held = open_raw_stream(root, "Hi [[sim:tokens=200,tps=20]]")
        try:
            refused = httpx.post(
                root + "/v1/chat/completions",
                json={"model": "gpt-4.1", "messages": HI},
                headers={"Authorization": "Bearer sk-ftproxy-demo"},
            )
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "too_many_requests"
            assert refused.headers["retry-after"] == "1"
            assert httpx.get(root + "/health").status_code == 200  # public routes are not counted
        finally:
            held.close()
