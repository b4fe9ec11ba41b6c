"""Reading an instance's /metrics: request counts by status, the latency histogram, the GIL.

`Snapshot` holds the counters the canary analysis needs; `delta(later, earlier)` turns two
snapshots into a window (a counter that went down means the process restarted: its new value is
the window's count, as Prometheus' `increase()` does); `quantile` is `histogram_quantile`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

REQUESTS = "ftproxy_requests"
DURATION = "ftproxy_request_duration_seconds"


@dataclass
class Snapshot:
    requests: Counter[tuple[str, str]] = field(default_factory=Counter)  # (endpoint, status) -> count
    buckets: Counter[tuple[str, float]] = field(default_factory=Counter)  # (endpoint, le) -> cumulative
    gauges: dict[str, float] = field(default_factory=dict)  # python_gil_enabled, ...


def parse(text: str) -> Snapshot:
    snap = Snapshot()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.name == REQUESTS and sample.name == REQUESTS + "_total":
                snap.requests[(sample.labels["endpoint"], sample.labels["status"])] += sample.value
            elif family.name == DURATION and sample.name == DURATION + "_bucket":
                le = float(sample.labels["le"])
                snap.buckets[(sample.labels["endpoint"], le)] += sample.value
            elif not sample.labels and sample.name in ("python_gil_enabled", "python_free_threaded_build"):
                snap.gauges[sample.name] = sample.value
    return snap


def scrape(url: str, timeout_s: float = 5.0) -> Snapshot:
    reply = httpx.get(url, timeout=timeout_s)
    reply.raise_for_status()
    return parse(reply.text)


def _delta(later: Counter, earlier: Counter) -> Counter:
    if any(later[k] < v for k, v in earlier.items()):
        return Counter(later)  # reset: the process restarted within the window
    return Counter({k: later[k] - earlier.get(k, 0.0) for k in later})


def delta(later: Snapshot, earlier: Snapshot) -> Snapshot:
    return Snapshot(
        _delta(later.requests, earlier.requests), _delta(later.buckets, earlier.buckets), later.gauges
    )


def add(snaps: list[Snapshot]) -> Snapshot:
    total = Snapshot()
    for s in snaps:
        total.requests.update(s.requests)
        total.buckets.update(s.buckets)
    return total


@dataclass(frozen=True)
class WindowStats:
    requests: float
    errors: float  # 5xx answers
    p99: float | None  # seconds; None without requests

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def stats(window: Snapshot, endpoints: tuple[str, ...], q: float = 0.99) -> WindowStats:
    wanted = set(endpoints)
    requests = sum(v for (e, _), v in window.requests.items() if e in wanted)
    errors = sum(v for (e, s), v in window.requests.items() if e in wanted and s.startswith("5"))
    buckets: Counter[float] = Counter()
    for (e, le), v in window.buckets.items():
        if e in wanted:
            buckets[le] += v
    return WindowStats(requests, errors, quantile(q, buckets))


def quantile(q: float, buckets: Counter[float]) -> float | None:
    """Prometheus' histogram_quantile over cumulative buckets {le: count}."""
    ordered = sorted(buckets.items())
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    previous_le, previous_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):  # beyond the last finite bucket: its bound is all we know
                return previous_le
            if count == previous_count:
                return le
            return previous_le + (le - previous_le) * (rank - previous_count) / (count - previous_count)
        previous_le, previous_count = le, count
    return previous_le
