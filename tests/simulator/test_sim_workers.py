"""Several workers: a token fetched from one worker is accepted by every other."""

from __future__ import annotations

import httpx
import pytest

from ftproxy.simulator.testing import SimClient, running_simulator

pytestmark = pytest.mark.e2e

MAX_CONNECTIONS = 60  # bounded: the kernel spreads new connections over the workers


def test_tokens_are_valid_across_workers() -> None:
    """Each worker keeps its own counters (/_sim/stats), so a connection's second request tells
    which worker answered its first: the one that issued the token (tokens_issued 1) or another
    (0). The test needs the token accepted by a worker that did not issue it, and by the issuer."""
    with running_simulator(workers=2) as base, httpx.Client(base_url=base, timeout=10.0) as client:
        headers = {
            "Authorization": f"Bearer {SimClient(base, client).token()}",
            "AI-Resource-Group": "default",
        }
        accepted_by: dict[str, int] = {"issuer": 0, "other worker": 0}
        for _ in range(MAX_CONNECTIONS):
            with httpx.Client(base_url=base, timeout=10.0) as fresh:  # one new connection
                assert fresh.get("/v2/lm/deployments", headers=headers).status_code == 200
                issued_here = fresh.get("/_sim/stats").json()["tokens_issued"]
            assert issued_here in (0, 1)
            accepted_by["issuer" if issued_here else "other worker"] += 1
            if all(accepted_by.values()):
                break
        assert all(accepted_by.values()), f"both workers must answer: {accepted_by}"
