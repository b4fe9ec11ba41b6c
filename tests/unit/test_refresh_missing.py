"""`Refresher.missing(url)`: a configured deployment's 404 is not turned into the retryable 503
(a refresh cannot replace what config.json names); any other URL's is."""

from __future__ import annotations

from ftproxy.models import LiveModels
from ftproxy.settings import Config, ServiceKey, Subaccount
from ftproxy.simulator.testing import free_port
from ftproxy.upstream.failover import Upstreams
from ftproxy.upstream.refresh import Refresher


def test_a_configured_url_is_not_a_missing_deployment() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    key = ServiceKey(client_id="c", client_secret="s", auth_url=nowhere, api_url=nowhere)
    sub = Subaccount(
        name="a",
        resource_group="default",
        service_key=key,
        deployments={"gpt-4.1": (nowhere + "/v2/inference/deployments/d1",)},
        orchestration_url=nowhere + "/v2/inference/deployments/orch",
    )
    config = Config(subaccounts=(sub,), clients=())
    upstreams = Upstreams(config, [])
    refresher = Refresher(LiveModels(config), upstreams)
    try:
        for url in (nowhere + "/v2/inference/deployments/d1", nowhere + "/v2/inference/deployments/orch"):
            assert refresher.missing(url) is None
    finally:
        refresher.stop()
        upstreams.close()
