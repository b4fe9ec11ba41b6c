"""Fixtures: one simulator and one proxy per session, as real processes on loopback."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside the tests (importlib mode)

from processes import running_proxy

from ftproxy.demo import DEMO_KEY, write_demo_config
from ftproxy.simulator.testing import running_simulator

# A client key of the `orchestrated` proxy whose orchestrated requests are pseudonymised.
MASKED_KEY = "sk-e2e-pseudonymised"


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


@pytest.fixture(scope="session")
def orchestrated(simulator: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxy]:
    """The demo's config as `serve --demo` writes it: no deployment named, discovery finds the
    direct ones and the orchestration deployment, which serves the models without one. Plus
    MASKED_KEY, whose orchestrated requests mask e-mail addresses and persons (pseudonyms)."""
    folder = tmp_path_factory.mktemp("orchestrated")
    path = write_demo_config(folder, simulator, host="127.0.0.1", port=3001, discover=True)
    config = json.loads(path.read_text())
    masking = {"method": "pseudonymization", "entities": ["profile-email", "profile-person"]}
    config["orchestration"] = {"profiles": {"pseudonyms": {"masking": masking}}}
    config["secret_authentication_tokens"] = [
        DEMO_KEY,
        {"key": MASKED_KEY, "name": "pseudonymised", "orchestration_profile": "pseudonyms"},
    ]
    path.write_text(json.dumps(config))
    with running_proxy(path, folder) as (root, log):
        yield Proxy(root=root, key=DEMO_KEY, simulator=simulator, config=path, log=log)
