"""The request path's bound updates under forced preemption: label sets first used by many threads
at once. The caches (`request_series`, `request_started`, `upstream_response`) and a series' slots
are written without a lock by whichever thread binds first; that is safe only while every binding
of one label set reaches the one child `labels()` keeps, so no update lands in a value nobody
exposes. (The values' own locks are prometheus_client's.)"""

from __future__ import annotations

import pytest
from contention import run_together
from preempt import preempting

from ftproxy.observe import metrics

pytestmark = pytest.mark.stress

THREADS = 8
ROUNDS = 12
ENDPOINTS = [f"/race-series-{k}" for k in range(3)]  # fresh label sets: bound during the race
FAMILY = "race-series"


def value(name: str, labels: dict[str, str]) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def test_series_bound_by_many_threads_at_once_lose_no_update() -> None:
    def work(i: int) -> None:
        for n in range(ROUNDS):
            endpoint = ENDPOINTS[(i + n) % len(ENDPOINTS)]
            metrics.request_started(endpoint)
            metrics.upstream_response(FAMILY, 200)
            series = metrics.request_series(endpoint, 200, FAMILY, "direct", None)
            series.in_flight(-1)
            series.requests(1)
            series.latency(0.01)  # exactly on a bound: the le="0.01" bucket
            series.tokens_out(2)

    with preempting(metrics):
        run_together(work, THREADS)

    per_endpoint = {
        e: sum((i + n) % 3 == k for i in range(THREADS) for n in range(ROUNDS))
        for k, e in enumerate(ENDPOINTS)
    }
    for endpoint, expected in per_endpoint.items():
        labels = {"endpoint": endpoint, "family": FAMILY}
        assert value("ftproxy_requests_total", {"endpoint": endpoint, "status": "200"}) == expected
        assert value("ftproxy_requests_in_flight", {"endpoint": endpoint}) == 0
        assert value("ftproxy_request_duration_seconds_count", labels) == expected
        assert value("ftproxy_request_duration_seconds_bucket", {**labels, "le": "0.01"}) == expected
        assert value("ftproxy_request_duration_seconds_bucket", {**labels, "le": "0.005"}) == 0
    total = THREADS * ROUNDS
    assert value("ftproxy_upstream_responses_total", {"family": FAMILY, "status": "200"}) == total
    assert value("ftproxy_tokens_total", {"model": "other", "direction": "out"}) >= 2 * total
    # One series object per label set, whichever thread's binding the cache kept.
    assert len({id(metrics.request_series(e, 200, FAMILY, "direct", None)) for e in ENDPOINTS}) == 3
