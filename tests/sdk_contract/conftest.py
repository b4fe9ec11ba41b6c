"""Fixtures of the SAP SDK contract tests: one simulator for the session, the SDK pointed at it.

One simulator, not one per module: the SDK keeps process-wide caches (tokens, URLs) that a
second simulator on another port would leave pointing at a dead one. A fresh proxy client is
built per module and passed explicitly to every SDK client.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # helpers beside the tests (importlib mode)

from sdk_support import need, sdk_simulator


@pytest.fixture(scope="session")
def sim_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with sdk_simulator(tmp_path_factory.mktemp("aicore-home")) as base:
        yield base


@pytest.fixture(scope="module")
def proxy_client(sim_base: str) -> Any:
    module = need("gen_ai_hub.proxy.gen_ai_hub_proxy")
    return module.GenAIHubProxyClient()
