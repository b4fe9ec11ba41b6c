"""Secrets never leak: client keys, the service key's client secret and the OAuth access tokens
appear in no log line, no response body or header, and not in /metrics.

A simulator runs with a KNOWN client id and secret, a proxy with a KNOWN client key (and its
log level at DEBUG). The access tokens the simulator issues are HMAC-signed strings of one
format (`<issued hex>.<expiry hex>.<24 hex nonce>.<40 hex signature>`); the test fetches one with
the same credentials to learn it, and then searches everything it collected both for that
exact token and for anything of the token's shape, so the proxy's own tokens (which the test
never sees) are caught too. The traffic is the suite's representative mix: every client API
streamed and not, every family, embeddings, count_tokens, models, and the error paths (wrong
key, unknown model, upstream 401/429/500, token endpoint failures and garbage, revoked tokens).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from pathlib import Path

import httpx
import pytest
from conftest import Proxy, ProxySettings
from processes import request_log_lines

from ftproxy.environment import FTPROXY_LOG_LEVEL
from ftproxy.simulator.testing import SimClient

pytestmark = pytest.mark.e2e

CLIENT_ID = "sb-ftproxy-leakcheck!b1234|aicore!b540"
CLIENT_SECRET = "svcSECRET-" + secrets.token_urlsafe(24)
CLIENT_KEY = "sk-CLIENTKEY-" + secrets.token_urlsafe(24)
TOKEN_SHAPE = re.compile(r"[0-9a-f]{8,16}\.[0-9a-f]{8,16}\.[0-9a-f]{24}\.[0-9a-f]{40}")


def chat(model: str, text: str = "Hi", stream: bool = False) -> dict:
    return {
        "model": model,
        "stream": stream,
        "max_tokens": 20,
        "messages": [{"role": "user", "content": text}],
    }


@pytest.fixture(scope="module")
def simulator_options() -> dict[str, str]:
    return {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}


def _known_service_key(folder: Path) -> None:
    key_file = folder / "demo-service-key.json"
    key = json.loads(key_file.read_text())
    key.update(clientid=CLIENT_ID, clientsecret=CLIENT_SECRET)
    key_file.write_text(json.dumps(key))


@pytest.fixture(scope="module")
def proxy_settings() -> ProxySettings:
    return ProxySettings(
        config={
            "secret_authentication_tokens": [CLIENT_KEY],
            "retries": {"backoff_base_seconds": 0.01, "breaker_failures": 1000},
        },
        env={FTPROXY_LOG_LEVEL: "DEBUG"},
        prepare=_known_service_key,
    )


def test_no_secret_in_logs_responses_or_metrics(own_proxy: Proxy, own_simulator: str) -> None:
    root, log = own_proxy.root, own_proxy.log
    simulator = httpx.Client(base_url=own_simulator)
    known_token = SimClient(own_simulator, simulator, client_id=CLIENT_ID, secret=CLIENT_SECRET).token()
    assert TOKEN_SHAPE.fullmatch(known_token), known_token  # the shape searched for below
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    needles = {
        "client key": CLIENT_KEY,
        "client key body": CLIENT_KEY.removeprefix("sk-CLIENTKEY-"),
        "client secret": CLIENT_SECRET,
        "client secret body": CLIENT_SECRET.removeprefix("svcSECRET-"),
        "basic credentials": basic,
        "access token": known_token,
        "token signature": known_token.rsplit(".", 1)[1],
    }
    good = {"Authorization": f"Bearer {CLIENT_KEY}"}
    seen: list[tuple[str, str]] = []  # (what, text) of everything a client or scraper received

    def send(
        method: str, path: str, headers: dict[str, str] | None = None, **kwargs: object
    ) -> httpx.Response:
        with (
            httpx.Client(base_url=root, timeout=30) as client,
            client.stream(method, path, headers=headers if headers is not None else good, **kwargs) as answer,
        ):
            body = answer.read().decode("utf-8", "replace")
        seen.append((f"{method} {path} {answer.status_code}", body))
        seen.append((f"{method} {path} headers", "\n".join(f"{k}: {v}" for k, v in answer.headers.items())))
        return answer

    def fault(**spec: object) -> None:
        simulator.post("/_sim/faults", json=spec).raise_for_status()

    def token_fault(**spec: object) -> None:
        simulator.post("/_sim/token-faults", json=spec).raise_for_status()

    statuses = []
    try:
        # the happy paths: every client API, streamed and not, every family
        for model in (
            "gpt-4.1",
            "anthropic--claude-4.5-sonnet",
            "anthropic--claude-3.5-sonnet",
            "gemini-2.5-pro",
        ):
            for stream in (False, True):
                statuses.append(
                    send("POST", "/v1/chat/completions", json=chat(model, stream=stream)).status_code
                )
                statuses.append(send("POST", "/v1/messages", json=chat(model, stream=stream)).status_code)
                body = {"model": model, "input": "Hi", "stream": stream, "max_output_tokens": 20}
                statuses.append(send("POST", "/v1/responses", json=body).status_code)
        statuses.append(
            send("POST", "/v1/embeddings", json={"model": "text-embedding-3-small", "input": "x"}).status_code
        )
        statuses.append(send("POST", "/v1/messages/count_tokens", json=chat("gpt-4.1")).status_code)
        statuses.append(send("GET", "/v1/models").status_code)
        assert set(statuses) == {200}, statuses

        # client errors: wrong keys (some containing the real key), unknown model, bad JSON
        for headers in (
            {"Authorization": f"Bearer {CLIENT_KEY}x"},
            {"x-api-key": CLIENT_KEY[:-1]},
            {"Authorization": f"Basic {CLIENT_KEY}"},
            {"Authorization": f"Bearer {known_token}"},
            {"x-api-key": CLIENT_SECRET},
            {},
        ):
            assert send("POST", "/v1/chat/completions", headers, json=chat("gpt-4.1")).status_code == 401
            assert send("POST", "/v1/messages", headers, json=chat("gpt-4.1")).status_code == 401
        assert send("POST", "/v1/chat/completions", json=chat("no-such-model")).status_code == 404
        assert send("POST", "/v1/chat/completions", content=b"{" + CLIENT_SECRET.encode()).status_code == 400

        # upstream errors: 401 twice (re-authentication fails too), 429 storm, 500s, malformed
        fault(deployment="gpt-4.1", status=401, count=2)
        assert send("POST", "/v1/chat/completions", json=chat("gpt-4.1")).status_code == 502
        fault(deployment="anthropic--claude-4.5-sonnet", status=429, retry_after="30", count=1)
        assert send("POST", "/v1/messages", json=chat("anthropic--claude-4.5-sonnet")).status_code == 429
        fault(deployment="gemini-2.5-pro", status=500, count=3)
        assert (
            send("POST", "/v1/chat/completions", json=chat("gemini-2.5-pro", stream=True)).status_code == 500
        )
        assert (
            send("POST", "/v1/chat/completions", json=chat("gpt-4.1", "Hi [[sim:malformed=1]]")).status_code
            == 502
        )
        send("POST", "/v1/chat/completions", json=chat("gpt-4.1", "Hi [[sim:cut_after=2]]", stream=True))

        # token endpoint trouble: revoked tokens, then the endpoint fails, answers garbage, echoes
        # (count 10: more than the proxy's attempts, so the client sees the failure)
        for spec in (
            {"status": 503},
            {"status": 401},
            {"status": 200, "body": {"token_type": "bearer"}},
            {"status": 200, "body": "not json " + CLIENT_SECRET},
            {"status": 400, "body": {"error": "invalid_client", "error_description": CLIENT_SECRET}},
        ):
            simulator.delete("/_sim/tokens").raise_for_status()
            token_fault(**spec, count=10)
            answer = send("POST", "/v1/chat/completions", json=chat("gpt-4.1"))
            assert answer.status_code == 502, (spec, answer.status_code)
            send("POST", "/v1/messages", json=chat("anthropic--claude-4.5-sonnet", stream=True))
            send("GET", "/ready", headers={})
            simulator.delete("/_sim/token-faults").raise_for_status()
        assert (
            send("POST", "/v1/messages", json=chat("anthropic--claude-4.5-sonnet", stream=True)).status_code
            == 200
        )
        assert send("GET", "/ready", headers={}).status_code == 200
        send("GET", "/health", headers={})
        send("GET", "/metrics", headers={})
        last = send("GET", "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    finally:
        simulator.delete("/_sim/faults")

    request_log_lines(log, [last.headers["x-request-id"]])  # written in order: all of them are there
    log_text = log.read_text(errors="replace")
    assert '"event":"request"' in log_text  # the access log was written
    places = [("proxy log", log_text), *seen]
    for what, text in places:
        for name, needle in needles.items():
            assert needle not in text, f"{name} found in {what}"
        found = TOKEN_SHAPE.search(text)
        assert found is None, f"an OAuth access token ({found.group()[:12]}…) found in {what}"
    size = sum(len(t) for _, t in places)
    print(f"searched {len(places)} texts ({size} characters) for {len(needles)} secrets")
