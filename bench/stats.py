"""Repeated measurements reduced the same way everywhere: median, with min and max beside it."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def stat(values: Sequence[float]) -> dict[str, float]:
    """{"median", "min", "max", "n"} of repeated runs; zeros when nothing was measured."""
    if not values:
        return {"median": 0.0, "min": 0.0, "max": 0.0, "n": 0}
    return {
        "median": round(float(statistics.median(values)), 4),
        "min": round(float(min(values)), 4),
        "max": round(float(max(values)), 4),
        "n": len(values),
    }


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of one run's samples (0 when empty)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(pct / 100.0 * len(ordered))))
    return round(float(ordered[rank - 1]), 4)


def median_of(entry: dict[str, float] | None) -> float:
    return float(entry["median"]) if entry else 0.0


def mib(n_bytes: float) -> float:
    return round(n_bytes / 2**20, 2)
