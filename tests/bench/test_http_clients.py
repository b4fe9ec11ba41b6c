"""Smoke test of the upstream HTTP client benchmark (`python -m bench.http_clients --quick`).

Runs only the stdlib candidates (http.client and ftproxy's own transport), so it needs nothing
installed, and checks that every cell has a number, in stdout, the markdown file and the JSON.
It never checks what the numbers are: they belong to docs/architecture.md, not to a test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench
REPO = Path(__file__).resolve().parents[2]
CANDIDATES = ("http.client", "ftproxy")
FIGURES = ("calls_per_s", "cpu_ms_per_call", "p50_ms", "p99_ms")


def test_quick_run_has_a_number_per_cell(tmp_path: Path) -> None:
    argv = ["-m", "bench.http_clients", "--quick", "--candidates", ",".join(CANDIDATES)]
    done = subprocess.run(
        [sys.executable, *argv, "--output", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]

    results = json.loads((tmp_path / "http_clients.json").read_text())
    assert results["schema"] == "ftproxy-http-clients"
    [interpreter] = results["interpreters"]
    assert list(interpreter["candidates"]) == list(CANDIDATES)
    for name, candidate in interpreter["candidates"].items():
        assert candidate["ok"], (name, candidate.get("error"))
        assert set(candidate["cells"]) == {"single", "c64"}
        for cell, figures in candidate["cells"].items():
            median = figures["median"]
            assert median["ok"] and median["errors"] == 0, (name, cell, median)
            for figure in FIGURES:
                assert isinstance(median[figure], float) and median[figure] > 0, (name, cell, figure)

    report = (tmp_path / "http_clients.md").read_text()
    assert report in done.stdout
    rows = [line for line in report.splitlines() if line.startswith("| 3.")]
    assert [row.split(" | ")[1] for row in rows] == list(CANDIDATES)
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        # Python, client, version, then five figures and the error count: all numbers.
        for figure in cells[3:9]:
            float(figure.replace(",", ""))
