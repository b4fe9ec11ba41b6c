"""ftproxy.observe.metrics under 32 threads with a one-microsecond switch interval: no update is lost.

The module's real metric objects are used, so totals are compared as differences from the values
before the run (other tests in the same process may have counted too).
"""

from __future__ import annotations

import threading

import pytest
from contention import run_together
from preempt import preempting
from prometheus_client.parser import text_string_to_metric_families

from ftproxy.observe import metrics

pytestmark = pytest.mark.stress

THREADS = 32
N = 1000
ENDPOINTS = ["/v1/chat/completions", "/messages", "/v1/embeddings", "/nowhere"]  # raw paths
FAMILIES = ["gpt", "claude", "gemini"]
KINDS = [f"stress_{k}" for k in range(8)]  # label children created by many threads at once


def value(name: str, labels: dict[str, str] | None = None) -> float:
    return metrics.REGISTRY.get_sample_value(name, labels or {}) or 0.0


def snapshot() -> dict[str, float]:
    snap = {"disconnects": value("ftproxy_client_disconnects_total")}
    for path in ENDPOINTS:
        endpoint = metrics.endpoint_label(path)
        snap[f"req {endpoint}"] = value("ftproxy_requests_total", {"endpoint": endpoint, "status": "200"})
        snap[f"flight {endpoint}"] = value("ftproxy_requests_in_flight", {"endpoint": endpoint})
        for family in FAMILIES:
            labels = {"endpoint": endpoint, "family": family}
            snap[f"lat {endpoint} {family}"] = value("ftproxy_request_duration_seconds_count", labels)
            snap[f"ovh {endpoint} {family}"] = value("ftproxy_proxy_overhead_seconds_count", labels)
            snap[f"ovh_sum {endpoint} {family}"] = value("ftproxy_proxy_overhead_seconds_sum", labels)
    for family in FAMILIES:
        snap[f"streams {family}"] = value("ftproxy_streams_in_flight", {"family": family})
        snap[f"ttft {family}"] = value("ftproxy_time_to_first_token_seconds_count", {"family": family})
    for kind in KINDS:
        snap[f"err {kind}"] = value("ftproxy_errors_total", {"kind": kind})
    snap["tokens"] = value("ftproxy_tokens_total", {"model": "other", "direction": "out"})
    return snap


def one_request(i: int, j: int) -> None:
    """What the request path does for one streamed request, in its order."""
    endpoint = metrics.endpoint_label(ENDPOINTS[(i + j) % len(ENDPOINTS)])
    family = FAMILIES[(i * 7 + j) % len(FAMILIES)]
    metrics.REQUESTS_IN_FLIGHT.labels(endpoint).inc()
    metrics.STREAMS_IN_FLIGHT.labels(family).inc()
    metrics.TIME_TO_FIRST_TOKEN.labels(family).observe(0.05)
    metrics.TOKENS.labels(metrics.model_label("unconfigured-model"), "out").inc(2)
    metrics.ERRORS.labels(KINDS[j % len(KINDS)]).inc()
    metrics.STREAMS_IN_FLIGHT.labels(family).dec()
    metrics.PROXY_OVERHEAD.labels(endpoint, family).observe(0.00025)
    metrics.REQUEST_LATENCY.labels(endpoint, family).observe(0.5)
    metrics.REQUESTS.labels(endpoint, metrics.status_label(200)).inc()
    metrics.REQUESTS_IN_FLIGHT.labels(endpoint).dec()
    metrics.CLIENT_DISCONNECTS.inc()


def test_no_update_is_lost_under_32_threads() -> None:
    before = snapshot()
    run_together(lambda i: [one_request(i, j) for j in range(N)], THREADS)
    after = snapshot()
    delta = {key: after[key] - before[key] for key in before}

    total = THREADS * N
    assert delta["disconnects"] == total
    assert delta["tokens"] == 2 * total
    assert sum(v for k, v in delta.items() if k.startswith("req ")) == total
    assert sum(v for k, v in delta.items() if k.startswith("lat ")) == total
    assert sum(v for k, v in delta.items() if k.startswith("ovh ")) == total
    assert sum(v for k, v in delta.items() if k.startswith("ttft ")) == total
    assert sum(v for k, v in delta.items() if k.startswith("err ")) == total
    assert sum(v for k, v in delta.items() if k.startswith("ovh_sum ")) == pytest.approx(total * 0.00025)
    # Every in-flight gauge is back where it was.
    assert all(after[k] == before[k] for k in before if k.startswith(("flight ", "streams ")))
    # The spread over label children is exact too, not only the sum.
    for j in range(len(KINDS)):
        assert delta[f"err {KINDS[j]}"] == THREADS * len(range(j, N, len(KINDS)))


def test_scrapes_during_updates_are_consistent() -> None:
    """Scraping threads never see a counter go backwards or an in-flight gauge outside its range."""
    scrapers, updaters = 4, THREADS - 4
    endpoint = metrics.endpoint_label("/v1/chat/completions")

    base_in_flight = value("ftproxy_requests_in_flight", {"endpoint": endpoint})

    def scrape_forever(stop: threading.Event) -> None:
        last_requests = last_count = -1.0
        while not stop.is_set():
            body, _ = metrics.render(None)
            seen = {
                (s.name, s.labels.get("endpoint"), s.labels.get("status"), s.labels.get("family")): s.value
                for f in text_string_to_metric_families(body.decode())
                for s in f.samples
            }
            requests = seen.get(("ftproxy_requests_total", endpoint, "200", None), 0.0)
            count = seen.get(("ftproxy_proxy_overhead_seconds_count", endpoint, None, "gpt"), 0.0)
            in_flight = seen.get(("ftproxy_requests_in_flight", endpoint, None, None), 0.0)
            assert requests >= last_requests and count >= last_count
            assert 0 <= in_flight - base_in_flight <= updaters
            last_requests, last_count = requests, count
            assert seen[("python_gil_enabled", None, None, None)] in (0.0, 1.0)

    stop = threading.Event()
    done = threading.Barrier(updaters)  # the last updater to finish stops the scrapers

    def work(i: int) -> None:
        if i < scrapers:
            scrape_forever(stop)
            return
        try:
            for _ in range(N // 4):
                metrics.REQUESTS_IN_FLIGHT.labels(endpoint).inc()
                metrics.PROXY_OVERHEAD.labels(endpoint, "gpt").observe(0.0001)
                metrics.REQUESTS.labels(endpoint, "200").inc()
                metrics.REQUESTS_IN_FLIGHT.labels(endpoint).dec()
        finally:
            if done.wait() == 0:
                stop.set()

    before = value("ftproxy_requests_total", {"endpoint": endpoint, "status": "200"})
    run_together(work, THREADS)
    after = value("ftproxy_requests_total", {"endpoint": endpoint, "status": "200"})
    assert after - before == updaters * (N // 4)
    assert value("ftproxy_requests_in_flight", {"endpoint": endpoint}) == base_in_flight


def test_known_models_swapped_while_read() -> None:
    """set_known_models replaces the set whole, so a reader on another thread sees the old set or
    the new one, never a half-built one: a model configured in both is always passed through, a
    model in neither never is. (Under forced preemption: a set cleared and refilled in place
    would be seen empty, and "common" would come back as "other".)"""
    saved = metrics._known_models
    old, new = ["common", "model-a"], ["common", "model-b"]
    metrics.set_known_models(old)
    try:

        def work(i: int) -> list[str]:
            wrong = []
            for j in range(40):
                if i == 0:
                    metrics.set_known_models(new if j % 2 else old)
                else:
                    if metrics.model_label("common") != "common":
                        wrong.append("common")
                    if metrics.model_label("model-c") != "other":
                        wrong.append("model-c")
                    if metrics.model_label("model-a") not in ("model-a", "other"):
                        wrong.append("model-a")
            return wrong

        with preempting(metrics):
            wrong = run_together(work, 6)
        assert [w for per_thread in wrong for w in per_thread] == []  # type: ignore[attr-defined]
    finally:
        metrics.set_known_models(saved)
