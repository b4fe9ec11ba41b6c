"""What every SAP SDK contract test needs: the SDK or a clear skip, and a simulator it is pointed at.

The SDK is configured the way its users do it, through AICORE_* environment variables. Skipped
when the SDK (or an extra) is not installed, unless FTPROXY_REQUIRE_SDK=1 (CI), where a missing
SDK fails.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

from ftproxy.simulator.testing import running_simulator

REQUIRE = os.environ.get("FTPROXY_REQUIRE_SDK") == "1"


def need(module: str, extra: str = "") -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = f"pip install 'sap-ai-sdk-gen{extra}'"
        if REQUIRE:
            pytest.fail(
                f"FTPROXY_REQUIRE_SDK=1 but {module} cannot be imported ({exc}); {hint}", pytrace=False
            )
        pytest.skip(f"{module} not importable ({exc}); {hint}")


@contextmanager
def sdk_simulator(home: Path) -> Iterator[str]:
    """A simulator, and the AICORE_* environment that points the SDK at it, for the block."""
    need("gen_ai_hub.proxy.gen_ai_hub_proxy")
    with running_simulator() as base, pytest.MonkeyPatch.context() as mp:
        for name in (
            "AICORE_SERVICE_KEY",
            "AICORE_PROFILE",
            "AICORE_CONFIG",
            "VCAP_SERVICES",
            "AICORE_DEPLOYMENT_ID",
        ):
            mp.delenv(name, raising=False)
        mp.setenv("AICORE_HOME", str(home))
        mp.setenv("AICORE_CLIENT_ID", "sim-client")
        mp.setenv("AICORE_CLIENT_SECRET", "sim-secret")
        mp.setenv("AICORE_AUTH_URL", base)  # the SDK appends /oauth/token
        mp.setenv("AICORE_BASE_URL", f"{base}/v2")
        mp.setenv("AICORE_RESOURCE_GROUP", "default")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")
        yield base
