"""Fixtures: one simulator and one proxy per session, as real processes on loopback."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside the tests (importlib mode)

from processes import running_proxy

from ftproxy.demo import DEMO_KEY, write_demo_config
from ftproxy.simulator.testing import running_simulator


@dataclass(frozen=True)
class Proxy:
    root: str  # http://127.0.0.1:PORT
    key: str
    simulator: str  # the simulator's base URL
    config: Path
    log: Path

    @property
    def url(self) -> str:
        return self.root + "/v1"


@pytest.fixture(scope="session")
def simulator() -> Iterator[str]:
    with running_simulator() as url:
        yield url


@pytest.fixture(scope="session")
def proxy(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    folder = tmp_path_factory.mktemp("proxy")
    config = write_demo_config(folder, simulator, host="127.0.0.1", port=3001)
    with running_proxy(config, folder) as (root, log):
        yield Proxy(root=root, key=DEMO_KEY, simulator=simulator, config=config, log=log)
