"""tests/bench: the benchmark harness's smoke test and the pytest-benchmark microbenchmarks.

Everything marked `bench` is skipped unless the run selects it with `-m bench`, so the normal
test run (`scripts/test`) stays fast and never benchmarks; the unmarked unit tests of the
harness's pure parts run with the rest of the suite.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # `bench` is a top-level package of the checkout, not installed
    sys.path.insert(0, str(REPO))


def pytest_configure(config: pytest.Config) -> None:
    # Also declared in pyproject.toml; registered here too so --strict-markers never trips on it.
    config.addinivalue_line(
        "markers", "bench: benchmarks (harness smoke test, microbenchmarks); run with -m bench"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "bench" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="benchmark: select it with -m bench")
    for item in items:
        if item.get_closest_marker("bench"):
            item.add_marker(skip)
