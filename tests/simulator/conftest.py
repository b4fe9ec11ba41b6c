"""A real simulator process per test session (see sim_helpers for the client helpers)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ftproxy.simulator.testing import SimClient, running_simulator


@pytest.fixture(scope="session")
def sim_base() -> Iterator[str]:
    with running_simulator() as base:
        yield base


@pytest.fixture
def sim(sim_base: str) -> Iterator[SimClient]:
    with httpx.Client(base_url=sim_base, timeout=10.0) as client:
        yield SimClient(sim_base, client)
        # Faults are global to the process: never leak one into the next test.
        client.delete("/_sim/faults")
