"""Failover, retries and circuit breakers against real processes (simulator faults, a dead port).

Faults are count-limited (`/_sim/faults` with `count`), so each test knows exactly how many
upstream calls fail; the retry counter in /metrics says how many times ftproxy tried again.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from conftest import Proxy, ProxySettings
from processes import free_port, proxy_config, running_proxy
from prometheus_client.parser import text_string_to_metric_families

from ftproxy.demo import DEMO_KEY
from ftproxy.simulator.catalog import deployment_id

pytestmark = pytest.mark.e2e

FAST_RETRIES = {"backoff_base_seconds": 0.01, "backoff_max_seconds": 0.05, "breaker_failures": 3}


@pytest.fixture(scope="module")
def proxy_settings() -> ProxySettings:
    return ProxySettings(config={"retries": FAST_RETRIES})


def retries(root: str) -> float:
    text = httpx.get(root + "/metrics").text
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "ftproxy_upstream_retries_total"
    )


@pytest.fixture
def faults(own_simulator: str) -> Iterator[httpx.Client]:
    client = httpx.Client(base_url=own_simulator)
    yield client
    client.delete("/_sim/faults")


@pytest.fixture
def client(own_proxy: Proxy) -> openai.OpenAI:
    return openai.OpenAI(base_url=own_proxy.url, api_key=DEMO_KEY, max_retries=0)


@pytest.mark.parametrize("status", [500, 502, 503, 429])
@pytest.mark.parametrize("stream", [False, True])
def test_transient_upstream_errors_are_retried_before_the_first_byte(
    own_proxy: Proxy, faults: httpx.Client, client: openai.OpenAI, status: int, stream: bool
) -> None:
    faults.post(
        "/_sim/faults", json={"deployment": "gpt-4.1", "status": status, "count": 2, "retry_after": "0"}
    )
    before = retries(own_proxy.root)
    messages = [{"role": "user", "content": "Hi"}]
    if stream:
        text = "".join(
            c.choices[0].delta.content or ""
            for c in client.chat.completions.create(model="gpt-4.1", messages=messages, stream=True)
            if c.choices
        )
    else:
        text = client.chat.completions.create(model="gpt-4.1", messages=messages).choices[0].message.content
    assert text.startswith("Hello from the simulated")
    assert retries(own_proxy.root) - before == 2


def test_client_errors_are_not_retried(own_proxy: Proxy, faults: httpx.Client, client: openai.OpenAI) -> None:
    faults.post("/_sim/faults", json={"deployment": "gpt-4.1", "status": 400, "count": 1})
    before = retries(own_proxy.root)
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}])
    assert retries(own_proxy.root) == before
    assert client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}])


def test_a_long_retry_after_goes_to_the_client_at_once(
    own_proxy: Proxy, faults: httpx.Client, client: openai.OpenAI
) -> None:
    faults.post(
        "/_sim/faults", json={"deployment": "gpt-4.1", "status": 429, "count": 1, "retry_after": "30"}
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.response.headers["retry-after"] == "30"


def test_a_dead_deployment_fails_over_and_its_breaker_opens(own_simulator: str, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v2/inference/deployments/{deployment_id('gpt-4.1')}"
    config = proxy_config(tmp_path, own_simulator, retries=FAST_RETRIES)
    data = json.loads(config.read_text())
    models = data["subAccounts"]["demo"]["deployment_models"]
    models["gpt-4.1"] = [dead, *models["gpt-4.1"]]  # round robin: every other request starts at the dead one
    config.write_text(json.dumps(data))
    with running_proxy(config, tmp_path) as (root, _):
        client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
        for _ in range(12):
            answer = client.chat.completions.create(
                model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
            )
            assert answer.choices[0].message.content
        # 3 failures open the dead deployment's breaker; afterwards it is skipped, not retried.
        assert retries(root) == 3


def test_token_endpoint_failures_do_not_open_the_inference_breaker(
    own_simulator: str, tmp_path: Path
) -> None:
    """A token-endpoint 500 says nothing about the deployments: more token failures than
    `breaker_failures` must give `upstream_auth_failed`, never `circuit_open`, and the first
    request after the token endpoint recovers is answered."""
    with running_proxy(proxy_config(tmp_path, own_simulator, retries=FAST_RETRIES), tmp_path) as (root, _):
        client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
        failures = 2 * FAST_RETRIES["breaker_failures"]
        with httpx.Client(base_url=own_simulator) as control:
            control.post("/_sim/token-faults", json={"status": 500, "count": failures * 3})
            try:
                codes = []
                for _ in range(failures):
                    with pytest.raises(openai.APIStatusError) as caught:
                        client.chat.completions.create(
                            model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
                        )
                    codes.append(caught.value.body.get("code"))  # type: ignore[union-attr]
            finally:
                control.delete("/_sim/token-faults")
        assert set(codes) == {"upstream_auth_failed"}
        ready = httpx.get(root + "/ready").json()
        assert "open_breakers" not in ready
        answer = client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}])
        assert answer.choices[0].message.content


def test_ready_lists_open_breakers_and_stays_200(own_simulator: str, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v2/inference/deployments/{deployment_id('gpt-4.1')}"
    config = proxy_config(tmp_path, own_simulator, retries=FAST_RETRIES)
    data = json.loads(config.read_text())
    models = data["subAccounts"]["demo"]["deployment_models"]
    models["gpt-4.1"] = [dead, *models["gpt-4.1"]]
    config.write_text(json.dumps(data))
    with running_proxy(config, tmp_path) as (root, _):
        client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
        for _ in range(6):
            client.chat.completions.create(model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}])
        ready = httpx.get(root + "/ready")
        assert ready.status_code == 200
        assert ready.json()["open_breakers"] == [dead]


def test_after_recovery_the_half_open_probe_closes_the_breaker(own_simulator: str, tmp_path: Path) -> None:
    """Every deployment fails until its breaker opens (503 circuit_open); once the upstream is
    healthy again, the first request after the cooldown is the probe, succeeds, and closes it."""
    retries_cfg = {**FAST_RETRIES, "breaker_cooldown_seconds": 0.5, "max_attempts": 1}
    with running_proxy(proxy_config(tmp_path, own_simulator, retries=retries_cfg), tmp_path) as (root, _):
        client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
        ask = functools.partial(
            client.chat.completions.create, model="gpt-4.1", messages=[{"role": "user", "content": "Hi"}]
        )
        with httpx.Client(base_url=own_simulator) as control:
            control.post("/_sim/faults", json={"deployment": "gpt-4.1", "status": 500, "count": 100})
            try:
                codes = []
                for _ in range(6):
                    with pytest.raises(openai.APIStatusError) as caught:
                        ask()
                    codes.append(caught.value.body.get("code"))  # type: ignore[union-attr]
            finally:
                control.delete("/_sim/faults")
        assert codes[-1] == "circuit_open"
        assert httpx.get(root + "/ready").json()["open_breakers"]
        deadline = time.monotonic() + 10
        while True:  # circuit_open until the cooldown ends; then the probe goes through
            try:
                assert ask().choices[0].message.content
                break
            except openai.APIStatusError as exc:
                assert exc.body.get("code") == "circuit_open"  # type: ignore[union-attr]
                assert time.monotonic() < deadline
        assert ask().choices[0].message.content  # closed: no further pause
        assert "open_breakers" not in httpx.get(root + "/ready").json()
