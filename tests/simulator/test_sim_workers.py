"""Several workers: a token fetched from one worker is accepted by every other."""

from __future__ import annotations

import httpx
import pytest

from ftproxy.simulator.testing import SimClient, running_simulator

pytestmark = pytest.mark.e2e


def test_tokens_are_valid_across_workers() -> None:
    with running_simulator(workers=2) as base, httpx.Client(base_url=base, timeout=10.0) as client:
        headers = {
            "Authorization": f"Bearer {SimClient(base, client).token()}",
            "AI-Resource-Group": "default",
        }
        # Each new connection lands on either worker (the kernel spreads accepts); all must agree.
        for _ in range(12):
            with httpx.Client(base_url=base, timeout=10.0) as fresh:
                assert fresh.get("/v2/lm/deployments", headers=headers).status_code == 200
