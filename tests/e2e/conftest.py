"""Fixtures, as real processes on loopback. One meaning per name:

- `simulator` (str, its base URL) and `proxy` (`Proxy`): one each per session, the demo's config;
  `orchestrated` (`Proxy`): the demo's discovering config with an orchestration masking profile.
- `own_simulator` (str) and `own_proxy` (`Proxy`): one each per test module, for tests that
  inject faults, change token or deployment state, or need a config of their own. A module
  states what differs by overriding `simulator_options` (keywords of `running_simulator`) and
  `proxy_settings` (`ProxySettings`: extra config.json keys, serve arguments, environment).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside the tests (importlib mode)

from processes import proxy_config, running_proxy

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


@dataclass(frozen=True)
class ProxySettings:
    """How a module's `own_proxy` differs from the demo's config."""

    config: dict[str, Any] = field(default_factory=dict)  # extra top-level config.json keys
    args: tuple[str, ...] = ()  # extra `ftproxy serve` arguments
    env: dict[str, str] = field(default_factory=dict)  # extra environment of the proxy process
    prepare: Callable[[Path], None] | None = None  # edits the folder once the config is written


@pytest.fixture(scope="module")
def simulator_options() -> dict[str, Any]:
    return {}


@pytest.fixture(scope="module")
def proxy_settings() -> ProxySettings:
    return ProxySettings()


@pytest.fixture(scope="module")
def own_simulator(simulator_options: dict[str, Any]) -> Iterator[str]:
    """A simulator of this module's own: the faults and state its tests set reach no other module."""
    with running_simulator(**simulator_options) as url:
        yield url


@pytest.fixture(scope="module")
def own_proxy(
    own_simulator: str, proxy_settings: ProxySettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxy]:
    """A proxy of this module's own, in front of `own_simulator`."""
    folder = tmp_path_factory.mktemp("own-proxy")
    config = proxy_config(folder, own_simulator, **proxy_settings.config)
    if proxy_settings.prepare is not None:
        proxy_settings.prepare(folder)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in proxy_settings.env.items():
            patch.setenv(name, value)
        with running_proxy(config, folder, *proxy_settings.args) as (root, log):
            yield Proxy(root=root, key=DEMO_KEY, simulator=own_simulator, config=config, log=log)
