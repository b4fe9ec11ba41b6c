"""OAuth token endpoint, bearer checks, resource groups and token faults."""

from __future__ import annotations

import time

import httpx
import pytest

from ftproxy.simulator.testing import SimClient, running_simulator

pytestmark = pytest.mark.e2e

FORM = {"grant_type": "client_credentials", "client_id": "sim-client", "client_secret": "sim-secret"}
LISTING = "/v2/lm/deployments?scenarioId=foundation-models&status=RUNNING"


def test_token_with_basic_auth_and_empty_body(sim: SimClient) -> None:
    reply = sim.client.post(
        "/oauth/token", params={"grant_type": "client_credentials"}, auth=("sim-client", "sim-secret")
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "bearer"
    # SAP's SDK refreshes when less than an hour is left, so the default must exceed it.
    assert body["expires_in"] == 43199 and body["expires_in"] >= 3600
    assert isinstance(body["access_token"], str) and len(body["access_token"]) > 20
    assert body["scope"] and body["jti"]


def test_token_with_form_body(sim: SimClient) -> None:
    reply = sim.client.post("/oauth/token", data=FORM)
    assert reply.status_code == 200
    first = reply.json()["access_token"]
    assert sim.client.post("/oauth/token", data=FORM).json()["access_token"] != first


@pytest.mark.parametrize(
    "kwargs",
    [
        {"data": {**FORM, "client_secret": "wrong"}},
        {"params": {"grant_type": "client_credentials"}, "auth": ("sim-client", "nope")},
        {"params": {"grant_type": "client_credentials"}},
    ],
)
def test_bad_credentials_are_401(sim: SimClient, kwargs: dict[str, object]) -> None:
    reply = sim.client.post("/oauth/token", **kwargs)  # type: ignore[arg-type]
    assert reply.status_code == 401
    assert reply.json() == {"error": "unauthorized", "error_description": "Bad credentials"}


def test_unsupported_grant_type_is_400(sim: SimClient) -> None:
    reply = sim.client.post("/oauth/token", data={**FORM, "grant_type": "password"})
    assert reply.status_code == 400 and reply.json()["error"] == "unsupported_grant_type"


def test_tokens_issued_are_counted(sim: SimClient) -> None:
    before = sim.stats()["tokens_issued"]
    sim.token()
    sim.token()
    assert sim.stats()["tokens_issued"] == before + 2


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic c2ltLWNsaWVudDpzaW0tc2VjcmV0"])
def test_inference_and_listing_need_a_valid_bearer_token(sim: SimClient, authorization: str | None) -> None:
    headers = {"AI-Resource-Group": "default"}
    if authorization:
        headers["Authorization"] = authorization
    for reply in (
        sim.client.get(LISTING, headers=headers),
        sim.client.post(
            SimClient.path("gpt-4.1", "chat/completions?api-version=2024-12-01-preview"),
            json={"messages": [{"role": "user", "content": "hi"}]},
            headers=headers,
        ),
    ):
        assert reply.status_code == 401
        error = reply.json()["error"]
        assert error["code"] == "401" and "message" in error and "requestId" in error


def test_resource_group_is_required_and_checked(sim: SimClient) -> None:
    token = sim.token()
    body = {"messages": [{"role": "user", "content": "hi"}]}
    url = SimClient.path("gpt-4.1", "chat/completions?api-version=2024-12-01-preview")
    missing = sim.client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 400 and "AI-Resource-Group" in missing.json()["error"]["message"]
    unknown = sim.client.post(
        url, json=body, headers={"Authorization": f"Bearer {token}", "AI-Resource-Group": "other"}
    )
    assert unknown.status_code == 404 and "'other'" in unknown.json()["error"]["message"]
    listing = sim.client.get(
        LISTING, headers={"Authorization": f"Bearer {token}", "AI-Resource-Group": "other"}
    )
    assert listing.status_code == 404
    tenant = sim.client.post(url, json=body, headers=sim.headers(**{"AI-Tenant-Id": "tenant-1"}))
    assert tenant.status_code == 200


def test_revoked_tokens_are_rejected(sim: SimClient) -> None:
    headers = sim.headers()
    assert sim.client.get(LISTING, headers=headers).status_code == 200
    assert sim.client.delete("/_sim/tokens").status_code == 200
    assert sim.client.get(LISTING, headers=headers).status_code == 401
    assert sim.client.get(LISTING, headers=sim.headers()).status_code == 200


def test_token_faults_fail_the_token_endpoint_then_recover(sim: SimClient) -> None:
    assert (
        sim.client.post("/_sim/token-faults", json={"status": 503, "count": 2, "retry_after": 3}).status_code
        == 201
    )
    for _ in range(2):
        reply = sim.client.post("/oauth/token", data=FORM)
        assert reply.status_code == 503 and reply.headers["retry-after"] == "3"
    assert sim.client.post("/oauth/token", data=FORM).status_code == 200


def test_expired_tokens_are_rejected() -> None:
    with running_simulator(token_ttl=1) as base, httpx.Client(base_url=base, timeout=10.0) as client:
        reply = client.post("/oauth/token", data=FORM)
        assert reply.json()["expires_in"] == 1
        headers = {"Authorization": f"Bearer {reply.json()['access_token']}", "AI-Resource-Group": "default"}
        assert client.get(LISTING, headers=headers).status_code == 200
        # Bounded poll until the token's second is over (no fixed sleep, no timing assertion).
        deadline = time.monotonic() + 10.0
        while client.get(LISTING, headers=headers).status_code == 200:
            assert time.monotonic() < deadline, "token never expired"
            time.sleep(0.05)
        assert client.get(LISTING, headers=headers).json()["error"]["code"] == "401"


def test_custom_credentials_and_resource_groups() -> None:
    with (
        running_simulator(
            client_id="sb-x!b1|aicore!b540", client_secret="s3cr$t=", resource_groups=("rg1", "rg2")
        ) as base,
        httpx.Client(base_url=base, timeout=10.0) as client,
    ):
        reply = client.post(
            "/oauth/token",
            params={"grant_type": "client_credentials"},
            auth=("sb-x!b1|aicore!b540", "s3cr$t="),
        )
        assert reply.status_code == 200
        headers = {"Authorization": f"Bearer {reply.json()['access_token']}"}
        assert client.get(LISTING, headers={**headers, "AI-Resource-Group": "rg2"}).status_code == 200
        assert client.get(LISTING, headers={**headers, "AI-Resource-Group": "default"}).status_code == 404
