"""CI smoke test of the benchmark harness: `python -m bench --quick` produces a complete
results.json (every number present, the schema version we document, issue 11's targets and
CPU profiles), a report and the plots.
It checks that numbers exist, never what they are: the values belong to the report."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench import SCHEMA, SCHEMA_VERSION, cpu_profile
from bench.results import problems

pytestmark = pytest.mark.bench
REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_quick_run_writes_a_complete_versioned_result(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(tmp_path), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["schema"] == SCHEMA and results["schema_version"] == SCHEMA_VERSION
    assert problems(results) == [] and results["problems"] == []
    modes = {run["mode"] for run in results["runs"]}
    assert {"granian-threads", "gunicorn"} <= modes
    for run in results["runs"]:
        assert run["server"]["gil_enabled"] in (0.0, 1.0)  # read from the server's own /metrics
        profile = run["profile"]  # issue 11: a CPU profile per mode, when py-spy is there
        if cpu_profile.find() is None:
            assert profile["status"] == "unavailable"
        elif run["variant"] == "gil":
            assert profile["status"] == "ok" and profile["top_self"], profile["note"]
    # Issue 11's targets: every one, for every run, with the direct call's figure beside it.
    targets = results["data_plane"]
    for run in results["runs"]:
        ids = {t["id"] for t in targets if t["run"] == run["id"]}
        assert ids >= {"added_p50_c1", "rps_ratio_64", "cpu_growth", "added_max_gap_32", "rss_after_streams"}
    assert all(t["status"] in ("pass", "miss", "n/a") for t in targets)
    assert results["both_cores"] and results["both_cores"][0]["status"] in ("ok", "n/a")
    assert any(t["id"] == "both_cores" for t in targets)
    report = (tmp_path / "report.md").read_text()
    assert "## Seed plan success criteria" in report and "## SPEC §9 targets" in report
    assert "## Data-plane targets (issue 11)" in report and "## CPU profiles" in report
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    for name in ("throughput_vs_threads.png", "latency_percentiles.png", "streams_vs_memory.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
