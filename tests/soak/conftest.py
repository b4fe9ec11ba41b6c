"""The soak test's marker and helpers' path (tests run with --import-mode=importlib)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "e2e"))  # processes.py: proxies as real processes


def pytest_configure(config: pytest.Config) -> None:
    # Also registered in pyproject.toml; registering twice is harmless.
    config.addinivalue_line("markers", "soak: bounded mixed-load run that watches for resource growth")
