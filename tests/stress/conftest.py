"""Every stress test runs with a one-microsecond switch interval.

On a GIL build the tiny interval forces the interleavings a free-threaded build produces
naturally; the invariants checked afterwards are the same on both. `contention.run_together`
starts many threads at once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # contention.py beside the tests (importlib mode)


@pytest.fixture(autouse=True)
def tiny_switch_interval() -> Iterator[None]:
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(old)
