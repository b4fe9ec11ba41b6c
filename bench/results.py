"""results.json: its versioned schema, a checker for it, and writing it.

The schema is a template (below) of required keys and value kinds; `problems()` lists every
missing key, wrong kind and non-finite number, so the CI smoke test can assert that a run
produced every number without asserting what the numbers are. Extra keys are allowed. Version 2
added issue 11's figures (additions only, yet bumped so readers can tell the files apart);
renaming or removing a key bumps SCHEMA_VERSION too.
docs/benchmarks.md documents the same structure for people.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench import SCHEMA, SCHEMA_VERSION

NUM, INT, STR, BOOL = "number", "integer", "string", "boolean"
OPT_NUM = "number or null"  # only in criteria that may be "n/a"
STAT = {"median": NUM, "min": NUM, "max": NUM, "n": INT}
CPU = {"cpu_per_core_pct": [NUM], "server_cpu_pct": STAT, "cpu_ms_per_request": STAT, "rss_peak_mib": NUM}

OVERHEAD = {"rps": STAT, "p50_ms": STAT, "p90_ms": STAT, "p99_ms": STAT, "errors_pct": STAT, **CPU}
THROUGHPUT = {
    "levels": [{"connections": INT, "rps": STAT, "p50_ms": STAT, "p99_ms": STAT, "errors_pct": STAT, **CPU}],
    "sustained": {"connections": INT, "within_limits": BOOL, "rps": NUM, "p99_ms": NUM},
    "rss_peak_mib": NUM,
}
STREAMING = {
    "streams": INT,
    "upstream_pace_ms": NUM,
    "ttft_p50_ms": STAT,
    "ttft_p99_ms": STAT,
    "gap_p50_ms": STAT,
    "gap_p99_ms": STAT,
    "gap_max_ms": STAT,
    "stream_max_gap_p99_ms": STAT,
    "stalls": STAT,
    "errors": STAT,
}
MAX_STREAMS = {
    "levels": [
        {
            "streams": INT,
            "completed": INT,
            "stalls": INT,
            "errors": INT,
            "ttft_p50_ms": NUM,
            "gap_p99_ms": NUM,
            "max_gap_ms": NUM,
            "rss_peak_mib": NUM,
        }
    ],
    "max_without_stall": INT,
    "memory_per_stream_kib": NUM,
    "upstream_pace_ms": NUM,
}
CPU_HEAVY = {
    "points": [
        {
            "threads": INT,
            "connections": INT,
            "rps": STAT,
            "p50_ms": STAT,
            "p99_ms": STAT,
            "errors_pct": STAT,
            **CPU,
        }
    ]
}
SCENARIOS = {
    "overhead": OVERHEAD,
    "throughput": THROUGHPUT,
    "streaming": STREAMING,
    "max_streams": MAX_STREAMS,
    "cpu_heavy": CPU_HEAVY,
}
LEVEL = {"connections": INT, "rps": STAT, "p50_ms": STAT, "p99_ms": STAT, "errors_pct": STAT, **CPU}
FUNCTION = {"function": STR, "samples": INT, "pct": NUM}
# A profile that could not be taken (no py-spy) has the same keys and empty lists.
PROFILE = {
    "status": STR,
    "note": STR,
    "connections": INT,
    "samples": INT,
    "top_self": [FUNCTION],
    "top_total": [FUNCTION],
}
BOTH_CORES = {"interpreter": STR, "variant": STR, "connections": INT, "status": STR, "note": STR}
BOTH_CORES_MEASURED = {
    "one_core": {"workers": INT, "server_cores": [INT], **LEVEL},
    "both_cores": {"workers": INT, "server_cores": [INT], **LEVEL},
    "rps_ratio": NUM,
}
DATA_PLANE = {
    "id": STR,
    "description": STR,
    "run": STR,
    "unit": STR,
    "value": OPT_NUM,
    "measured": NUM,
    "direct": OPT_NUM,
    "ratio_to_direct": OPT_NUM,
    "op": STR,
    "threshold": NUM,
    "status": STR,
    "note": STR,
}
CRITERION = {
    "id": STR,
    "description": STR,
    "value": OPT_NUM,
    "op": STR,
    "threshold": OPT_NUM,
    "status": STR,
    "note": STR,
}

TEMPLATE: dict[str, Any] = {
    "schema": STR,
    "schema_version": INT,
    "preset": STR,
    "started_at": STR,
    "finished_at": STR,
    "duration_s": NUM,
    "settings": {
        "repeats": INT,
        "reference_connections": INT,
        "upstream_latency_ms": INT,
        "threads": INT,
        "workers": INT,
    },
    "machine": {
        "cpu_count": INT,
        "cpu_model": STR,
        "memory_bytes": INT,
        "kernel": STR,
        "pinning": {"server_cores": [INT], "load_cores": [INT], "taskset": BOOL},
    },
    "tools": {"harness_python": STR},
    "interpreters": [
        {
            "key": STR,
            "version": STR,
            "real_path": STR,
            "free_threaded_build": BOOL,
            "compiler": STR,
            "config_args": STR,
            "venv": STR,
            "packages": {"ftproxy": STR, "granian": STR},
        }
    ],
    "free_threaded_available": BOOL,
    "notes": [STR],
    "limit": {
        "load_generator": {
            "connections": INT,
            "wrk_healthz_rps": STAT,
            "direct_zero_latency_rps": STAT,
            "direct_zero_latency_p99_ms": STAT,
        },
        "scenarios": SCENARIOS,
    },
    "runs": [
        {
            "id": STR,
            "interpreter": STR,
            "variant": STR,
            "mode": STR,
            "status": STR,
            "server": {
                "workers": INT,
                "threads": INT,
                "gil_flag": STR,
                "processes": INT,
                "gil_enabled": NUM,
                "free_threaded_build": NUM,
                "launcher": {"serving_with": STR},
            },
            "rss_mib": {"idle": NUM, "under_load": NUM, "streams_peak": NUM, "after": NUM, "after_pss": NUM},
            "profile": PROFILE,
            "scenarios": SCENARIOS,
        }
    ],
    "both_cores": [BOTH_CORES],
    "data_plane": [DATA_PLANE],
    "comparisons": {},  # keyed by run id; checked per run below
    "criteria": [CRITERION],
    "targets": [CRITERION],
}
COMPARISON_KEYS = (
    "added_p50_ms",
    "added_p99_ms",
    "rps_at_reference",
    "rps_ratio_at_reference",
    "p99_ms_at_reference",
    "errors_pct_at_2x",
    "sustained_rps",
    "sustained_ratio",
    "cpu_ms_per_request",
    "cpu_ms_per_request_c1",
    "cpu_growth_ratio",
    "direct_cpu_ms_per_request",
    "direct_cpu_ms_per_request_c1",
    "errors_pct_at_reference",
    "p99_ratio_at_reference",
    "p50_ratio_c1",
    "p99_ratio_c1",
    "server_cores_busy_pct",
    "server_cpu_share_pct",
    "added_ttft_ms",
    "added_gap_p50_ms",
    "added_gap_p99_ms",
    "added_ttft_p99_ms",
    "ttft_ratio",
    "added_max_gap_p99_ms",
    "max_gap_ratio",
    "max_streams",
    "memory_per_stream_kib",
    "cpu_heavy_best_rps",
    "cpu_heavy_ratio",
    "rss_idle_mib",
    "rss_after_mib",
)


def problems(results: dict[str, Any]) -> list[str]:
    """Everything wrong with `results` against the template; empty when it is complete."""
    found: list[str] = []
    if results.get("schema") != SCHEMA or results.get("schema_version") != SCHEMA_VERSION:
        found.append(
            f"schema is {results.get('schema')!r} v{results.get('schema_version')!r}, "
            f"expected {SCHEMA!r} v{SCHEMA_VERSION}"
        )
    _check(results, TEMPLATE, "$", found)
    for run in results.get("runs", []):
        if run.get("status") != "ok":
            found.append(f"run {run.get('id')}: status {run.get('status')!r}: {run.get('error', '')[:300]}")
        comp = results.get("comparisons", {}).get(run.get("id"), None)
        if comp is None:
            found.append(f"$.comparisons: no entry for run {run.get('id')!r}")
            continue
        for key in COMPARISON_KEYS:
            _check(comp.get(key), NUM, f"$.comparisons[{run.get('id')}].{key}", found)
    if not results.get("runs"):
        found.append("$.runs: no server mode was measured")
    for i, bc in enumerate(results.get("both_cores", [])):
        if bc.get("status") == "failed":
            found.append(f"$.both_cores[{i}]: failed: {str(bc.get('error', ''))[:300]}")
        elif bc.get("status") == "ok":
            _check(bc, BOTH_CORES_MEASURED, f"$.both_cores[{i}]", found)
    return found


def _check(value: Any, kind: Any, where: str, found: list[str]) -> None:
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            found.append(f"{where}: expected an object, got {type(value).__name__}")
            return
        for key, sub in kind.items():
            if key not in value:
                found.append(f"{where}.{key}: missing")
            else:
                _check(value[key], sub, f"{where}.{key}", found)
    elif isinstance(kind, list):
        if not isinstance(value, list):
            found.append(f"{where}: expected a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            _check(item, kind[0], f"{where}[{i}]", found)
    elif kind == OPT_NUM:
        if value is not None:
            _check(value, NUM, where, found)
    elif kind in (NUM, INT):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if kind == INT:
            ok = isinstance(value, int) and not isinstance(value, bool)
        if not ok or not math.isfinite(value):
            found.append(f"{where}: expected a finite {kind}, got {value!r}")
    elif kind == STR and not isinstance(value, str):
        found.append(f"{where}: expected a string, got {value!r}")
    elif kind == BOOL and not isinstance(value, bool):
        found.append(f"{where}: expected a boolean, got {value!r}")


def write(results: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(results, indent=2, sort_keys=False) + "\n")


def read(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))
