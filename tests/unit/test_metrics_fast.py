"""The request path's bound updates (metrics.request_series, request_started, upstream_response).

They call prometheus_client's value objects directly (private attributes), so these tests compare
what they expose with what the public `inc()` / `dec()` / `observe()` expose for the same
updates, in single-process and in multiprocess mode: a prometheus_client that renames, reorders
or changes those internals fails here, not in production.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from ftproxy import environment
from ftproxy.observe import metrics

REPO = Path(__file__).resolve().parents[2]
BUCKETS = (0.005, 0.01, 0.25, 1, 2.5)
# Every bound exactly, just either side of each, below the first, past the last, and the odd ones.
AMOUNTS = [
    *BUCKETS,
    *(math.nextafter(b, -math.inf) for b in BUCKETS),
    *(math.nextafter(b, math.inf) for b in BUCKETS),
    0.0,
    -1.5,
    0,
    1,
    3,
    1e9,
    math.inf,
    math.nan,
]


def exposition(registry: CollectorRegistry) -> list[str]:
    # `_created` is the creation time of each object: two registries never agree on it.
    return [line for line in generate_latest(registry).decode().splitlines() if "_created" not in line]


def three_metrics() -> tuple[CollectorRegistry, Counter, Gauge, Histogram]:
    registry = CollectorRegistry()
    counter = Counter("fast_c", "c", ["k"], registry=registry)
    gauge = Gauge("fast_g", "g", ["k"], registry=registry, multiprocess_mode="livesum")
    histogram = Histogram("fast_h", "h", ["k"], registry=registry, buckets=BUCKETS)
    return registry, counter, gauge, histogram


def test_bound_updates_expose_what_the_public_api_does() -> None:
    public, counter, gauge, histogram = three_metrics()
    fast, fast_counter, fast_gauge, fast_histogram = three_metrics()
    observe = metrics._observe(fast_histogram.labels("x"))
    add_count = metrics._add_count(fast_counter.labels("x"))
    add_gauge = metrics._add(fast_gauge.labels("x"))
    for amount in AMOUNTS:
        histogram.labels("x").observe(amount)
        observe(amount)
        if not amount < 0 and not math.isnan(amount):
            counter.labels("x").inc(amount)
            add_count(amount)
        gauge.labels("x").inc(amount)
        add_gauge(amount)
    gauge.labels("x").dec(2)
    add_gauge(-2)
    assert exposition(fast) == exposition(public)
    # Each bound's observation fell in its own bucket, not the next one: a bucket count per bound.
    assert fast.get_sample_value("fast_h_bucket", {"k": "x", "le": "0.005"}) == 5  # 0, 0.0, -1.5, 0.005-
    assert math.isnan(fast.get_sample_value("fast_h_sum", {"k": "x"}))  # NaN in the sum, in no bucket
    assert fast.get_sample_value("fast_h_count", {"k": "x"}) == len(AMOUNTS) - 1


def test_a_negative_token_count_raises_as_counter_inc_does() -> None:
    _, counter, _, _ = three_metrics()
    add_count = metrics._add_count(counter.labels("x"))
    with pytest.raises(ValueError, match="non-negative") as fast:
        add_count(-1)
    with pytest.raises(ValueError) as public:
        counter.labels("x").inc(-1)
    assert str(fast.value) == str(public.value)
    assert counter.labels("x")._value.get() == 0


def test_a_histogram_whose_internals_changed_is_refused() -> None:
    _, _, _, histogram = three_metrics()
    child = histogram.labels("x")
    child._buckets = child._buckets[:-1]
    with pytest.raises(TypeError, match="Histogram changed"):
        metrics._observe(child)


# ---- the module's own metrics, through exchange.record, against the public API ----
# Run in subprocesses: the test process's metrics are shared with every other test, and the
# multiprocess choice is made once, at import.

SCRIPT = r"""
import json, sys
from types import SimpleNamespace

from ftproxy.observe import exchange, metrics as m
from ftproxy.observe.logs import ACCESS_LOG

ACCESS_LOG.enabled = False
m.set_known_models(["gpt-4.1", "claude"])
mode = sys.argv[1]


def public_record(x, now):
    # exchange.record's metrics as they were, through prometheus_client's public API.
    child = m.child
    elapsed = now - x.started
    overhead = exchange.overhead_s(x.started, x.upstream_s, x.auth_s, now)
    child(m.REQUESTS_IN_FLIGHT, x.endpoint).dec()
    child(m.REQUESTS, x.endpoint, m.status_label(x.status)).inc()
    kind = exchange.error_kind(x)
    if kind is not None:
        child(m.ERRORS, kind).inc()
        if kind == "client_disconnected":
            m.CLIENT_DISCONNECTS.inc()
    if x.model is not None:
        child(m.REQUEST_LATENCY, x.endpoint, x.family).observe(elapsed)
        child(m.PROXY_OVERHEAD, x.endpoint, x.family).observe(overhead)
        child(m.MODEL_REQUESTS, x.family, x.route).inc()
        model = m.model_label(x.model)
        if x.input_tokens:
            child(m.TOKENS, model, "in").inc(x.input_tokens)
        if x.output_tokens:
            child(m.TOKENS, model, "out").inc(x.output_tokens)
    if x.first_chunk_at is not None:
        child(m.TIME_TO_FIRST_TOKEN, x.family).observe(x.first_chunk_at - x.started)


def call(**fields):
    base = dict(
        request_id="r", method="POST", path="/v1/chat/completions", endpoint="/v1/chat/completions",
        started=0.0, family="gpt", model="gpt-4.1", alias=None, route="direct", stream=False,
        upstream_s=0.0, auth_s=0.0, upstream_status=200, status=200, first_chunk_at=None,
        ended="complete", input_tokens=12, output_tokens=3, client=None, error_code=None,
    )
    return SimpleNamespace(**{**base, **fields})


bounds = [5e-05, 0.00025, 0.005, 0.01, 0.25, 1.0, 300.0, 301.0, 0.0]
calls = [call(), call(status=418), call(status=777, model=None, family="none"), call(model="unlisted")]
calls += [call(endpoint="other", path="/x", status=404, model=None, family="none", input_tokens=None)]
calls += [call(endpoint="/v1/messages", family="claude", model="claude", route="orchestration")]
calls += [call(stream=True, first_chunk_at=b, ended="client_disconnected", output_tokens=0) for b in bounds]
calls += [call(upstream_s=0.5, auth_s=0.1), call(status=502, upstream_status=503, input_tokens=0)]
ended = [(c, b) for b in bounds for c in calls]
for c, now in ended:
    if mode == "public":
        m.child(m.REQUESTS_IN_FLIGHT, c.endpoint).inc()
        m.child(m.UPSTREAM_RESPONSES, c.family, m.status_label(c.upstream_status)).inc()
        public_record(c, now)
    else:
        m.request_started(c.endpoint)
        m.upstream_response(c.family, c.upstream_status)
        exchange.record(c, now)
still = call(endpoint="/v1/embeddings")  # one request still in flight
if mode == "public":
    m.child(m.REQUESTS_IN_FLIGHT, still.endpoint).inc()
else:
    m.request_started(still.endpoint)
try:  # a negative token count from an upstream answer raises, after what came before it
    (public_record if mode == "public" else exchange.record)(call(input_tokens=-4), 0.5)
except ValueError as exc:
    print("raised", exc, file=sys.stderr)
else:
    raise SystemExit("a negative token count was counted")
text = m.render(None)[0].decode()
per_request = [l for l in text.splitlines() if l.startswith("ftproxy_") and "_created" not in l]
print(json.dumps([l for l in per_request if not l.startswith(("ftproxy_threads", "ftproxy_info"))]))
"""


def exposed(mode: str, directory: Path | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != environment.PROMETHEUS_MULTIPROC_DIR}
    if directory is not None:
        directory.mkdir()
        env[environment.PROMETHEUS_MULTIPROC_DIR] = str(directory)
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=120, cwd=REPO, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "raised Counters can only be incremented by non-negative amounts." in done.stderr
    lines: list[str] = json.loads(done.stdout)
    return lines


@pytest.mark.parametrize("multiprocess", [False, True], ids=["single-process", "multiprocess"])
def test_record_exposes_what_the_public_api_does(tmp_path: Path, multiprocess: bool) -> None:
    directory: Callable[[str], Path | None] = lambda name: (tmp_path / name) if multiprocess else None  # noqa: E731
    public, fast = exposed("public", directory("public")), exposed("fast", directory("fast"))
    if multiprocess:
        # The families come in the order the directory lists the mmap files, which differs from
        # one directory to the next: the same lines, in any order, are the same exposition.
        public, fast = sorted(public), sorted(fast)
    assert fast == public
    names = {line.split("{")[0].split(" ")[0] for line in fast}
    assert {
        "ftproxy_requests_total",
        "ftproxy_requests_in_flight",
        "ftproxy_request_duration_seconds_bucket",
        "ftproxy_proxy_overhead_seconds_bucket",
        "ftproxy_time_to_first_token_seconds_bucket",
        "ftproxy_upstream_responses_total",
        "ftproxy_model_requests_total",
        "ftproxy_tokens_total",
        "ftproxy_errors_total",
        "ftproxy_client_disconnects_total",
    } <= names
    # Series are created by their first update, as before: no request without a model had latency.
    assert not any('endpoint="other"' in line for line in fast if "duration" in line)
    assert any('ftproxy_requests_in_flight{endpoint="/v1/embeddings"} 1.0' in line for line in fast)


def test_series_are_one_object_per_label_set() -> None:
    one = metrics.request_series("/v1/chat/completions", 200, "gpt", "direct", "not-configured")
    assert metrics.request_series("/v1/chat/completions", 200, "gpt", "direct", None) is one  # both "other"
    assert metrics.request_series("/v1/chat/completions", 299, "gpt", "direct", None) is not one  # "2xx"
    saved = metrics._known_models
    metrics.set_known_models(["fast-model"])
    try:
        known = metrics.request_series("/v1/chat/completions", 200, "gpt", "direct", "fast-model")
    finally:
        metrics.set_known_models(saved)
    assert known is not one
    assert metrics.request_series("/v1/chat/completions", 200, "gpt", "direct", "fast-model") is one
