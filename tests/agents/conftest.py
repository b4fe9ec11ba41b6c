"""Fixtures for the real coding agents: the pinned installs (install.py), one demo proxy in front
of the simulator (its fixed deployment table, plus the orchestration deployment that serves the
models without one of their own), and a temporary HOME and working folder per test."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside the tests (importlib mode)
sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))  # the process helpers of the e2e tests

from agent_env import NOTES, Demo, Workspace
from install import AgentsUnavailable, install
from processes import proxy_config, running_proxy

from ftproxy.demo import DEMO_KEY
from ftproxy.simulator import catalog
from ftproxy.simulator.testing import running_simulator

__all__ = ["NOTES"]


@pytest.fixture(scope="session")
def agents() -> dict[str, Path]:
    try:
        return install()
    except AgentsUnavailable as exc:
        if os.environ.get("FTPROXY_REQUIRE_AGENTS") == "1":
            pytest.fail(f"the agents tests must run here (FTPROXY_REQUIRE_AGENTS=1): {exc}")
        pytest.skip(f"coding agents not available: {exc}")


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    folder = tmp_path_factory.mktemp("agents-proxy")
    with running_simulator() as simulator:
        config = proxy_config(folder, simulator)
        data = json.loads(config.read_text())
        data["subAccounts"]["demo"]["orchestration_deployment"] = catalog.deployment_id("orchestration")
        config.write_text(json.dumps(data))
        with running_proxy(config, folder) as (root, log):
            yield Demo(root=root, key=DEMO_KEY, simulator=simulator, log=log)


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    home, cwd = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    cwd.mkdir()
    notes = cwd / "notes.txt"
    notes.write_text(NOTES)
    return Workspace(home=home, cwd=cwd, notes=notes)
