"""Prometheus metrics: module-level objects (the prometheus_client idiom) and GET /metrics rendering.

Updated on the request path (all label values go through the bounded-label helpers below):
  ftproxy_requests_total{endpoint,status}                 counter
  ftproxy_requests_in_flight{endpoint}                    gauge (multiprocess: livesum)
  ftproxy_streams_in_flight{family}                       gauge (multiprocess: livesum)
  ftproxy_stream_slots                                    gauge, every live worker's stream slots (livesum)
  ftproxy_request_duration_seconds{endpoint,family}       histogram, whole request (streams: last byte)
  ftproxy_proxy_overhead_seconds{endpoint,family}         histogram, total minus time waiting upstream
  ftproxy_time_to_first_token_seconds{family}             histogram
  ftproxy_upstream_responses_total{family,status}         counter
  ftproxy_model_requests_total{family,route}              counter, route "direct" | "orchestration"
  ftproxy_tokens_total{model,direction}                   counter, direction "in" | "out"
  ftproxy_oauth_token_fetches_total{subaccount,outcome}   counter, outcome "ok" | "error"
  ftproxy_errors_total{kind}                              counter, kind: a constant from code
  ftproxy_stream_rejections_total{reason}                 counter, reason: a constant from code
  ftproxy_client_disconnects_total                        counter
Read at scrape time by `RuntimeCollector` (no background thread):
  python_gil_enabled (live), python_free_threaded_build, ftproxy_info{version,python,implementation},
  ftproxy_threads, process_os_threads, process_cpu_seconds_total{mode}, process_resident_memory_bytes,
  process_open_fds, process_start_time_seconds, node_cpu_core_utilization_ratio{core}
  (busy share of each core, whole machine, since the previous scrape) and python_gc_* (single-process).

All of it lives on the dedicated `REGISTRY`, not prometheus_client's global one, so the names never
clash with its default process/platform collectors.

Multiprocess rule: on a GIL build Granian runs N worker processes and a scrape reaches one of
them, so values must live in mmap files of a shared directory and be summed at scrape time.
prometheus_client makes that choice once, when it is imported, from PROMETHEUS_MULTIPROC_DIR; this
module reads the same variable at import and never changes the choice afterwards. So whoever
starts the workers exports the variable (an existing directory it emptied) before anything
imports prometheus_client: the launcher does (`ftproxy.serve.launch.share_metrics_between_workers`),
before it imports `ftproxy.web.app`. Without it each process counts for itself: right for one
process and for a free-threaded build's thread workers.
In multiprocess mode this worker's own process series carry a `pid` label (no counter of one
worker is read as a reset of another's), and a worker that dies keeps its in-flight gauges until
someone calls `mark_process_dead(pid)`.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any

import psutil
from prometheus_client import CollectorRegistry, Counter, Gauge, GCCollector, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric

from ftproxy import __version__, paths, runtime
from ftproxy.environment import PROMETHEUS_MULTIPROC_DIR

# Read once, as prometheus_client (imported above) did: the two agree for the life of the process.
_multiproc_dir = os.environ.get(PROMETHEUS_MULTIPROC_DIR) or None
if _multiproc_dir is not None and not os.path.isdir(_multiproc_dir):
    raise ValueError(
        f"{PROMETHEUS_MULTIPROC_DIR}={_multiproc_dir!r}: not a directory; create and empty it first"
    )

REGISTRY = CollectorRegistry()
_counter = partial(Counter, registry=REGISTRY)
_histogram = partial(Histogram, registry=REGISTRY)
# In-flight gauges of every live worker add up; a dead worker's are dropped by mark_process_dead.
_live_gauge = partial(Gauge, registry=REGISTRY, multiprocess_mode="livesum")

REQUESTS = _counter("ftproxy_requests", "Requests answered", ["endpoint", "status"])
REQUESTS_IN_FLIGHT = _live_gauge("ftproxy_requests_in_flight", "Requests being served", ["endpoint"])
STREAMS_IN_FLIGHT = _live_gauge("ftproxy_streams_in_flight", "Open streaming responses", ["family"])
# The limit beside the count, so that "streams near the slot limit" is one division in PromQL.
STREAM_SLOTS = _live_gauge("ftproxy_stream_slots", "Stream slots (streaming.max_concurrent of every worker)")
REQUEST_LATENCY = _histogram(
    "ftproxy_request_duration_seconds",
    "Whole request, for streams until the last byte",
    ["endpoint", "family"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
PROXY_OVERHEAD = _histogram(
    "ftproxy_proxy_overhead_seconds",
    "Request time minus time spent waiting on the upstream",
    ["endpoint", "family"],
    # The target is a fraction of a millisecond, so the buckets resolve 50 µs … 1 s.
    buckets=(5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
)
TIME_TO_FIRST_TOKEN = _histogram(
    "ftproxy_time_to_first_token_seconds",
    "From request start to the first streamed content byte",
    ["family"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60),
)
UPSTREAM_RESPONSES = _counter("ftproxy_upstream_responses", "Upstream statuses", ["family", "status"])
MODEL_REQUESTS = _counter(
    "ftproxy_model_requests",
    "Requests for a model, by family and route (direct deployment or the Orchestration Service)",
    ["family", "route"],
)
UPSTREAM_RETRIES = _counter(
    "ftproxy_upstream_retries",
    "Upstream calls repeated after a failure (failover or retry)",
    ["family", "reason"],
)
TOKENS = _counter("ftproxy_tokens", "LLM tokens by model and direction (in|out)", ["model", "direction"])
TOKEN_REFRESHES = _counter("ftproxy_oauth_token_fetches", "SAP OAuth tokens", ["subaccount", "outcome"])
ERRORS = _counter("ftproxy_errors", "Errors by kind", ["kind"])
STREAM_REJECTIONS = _counter("ftproxy_stream_rejections", "Streams refused, by reason", ["reason"])
CLIENT_DISCONNECTS = _counter("ftproxy_client_disconnects", "Clients that went away mid-response")
DISCOVERY_REFRESHES = _counter(
    "ftproxy_discovery_refreshes", "Deployment listing refreshes", ["subaccount", "outcome"]
)
DISCOVERY_CATALOG_READS = _counter(
    "ftproxy_discovery_catalog_reads",
    "AI API model catalog reads (the models orchestration offers)",
    ["subaccount", "outcome"],
)
DISCOVERY_LAST_SUCCESS = Gauge(
    "ftproxy_discovery_last_success_timestamp_seconds",
    "Unix time of the last deployment listing read",
    ["subaccount"],
    registry=REGISTRY,
    multiprocess_mode="max",
)

# ---- labelled children, looked up without a lock ----
# prometheus_client's `labels()` validates the values and takes the metric's lock on every call;
# with ~8 updates per request that lock is shared by every request thread. The children of our
# bounded label sets are created once and then found here with a plain dict read. Two threads
# creating the same child at once both get the one object `labels()` keeps, so the race on the
# cache is harmless.
_children: dict[tuple[Any, tuple[str, ...]], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, cached: for the request path. Keyed by the metric object itself
    (not its id, which a new object could reuse)."""
    key = (metric, labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


# ---- bounded label values: one dict lookup per call, tables built once at import ----

_COMMON_STATUSES = {200, 201, 204, 304, 400, 401, 403, 404, 405, 408, 409, 413, 415, 422, 429, 499}
_COMMON_STATUSES |= {500, 501, 502, 503, 504, 529}
_STATUSES = {c: str(c) if c in _COMMON_STATUSES else f"{c // 100}xx" for c in range(100, 600)}
# Replaced whole, never mutated: readers on other threads see either the old or the new frozenset.
_known_models: frozenset[str] = frozenset()

OTHER = "other"


def endpoint_label(path: str) -> str:
    """The /v1 name of a path ftproxy answers (the un-prefixed aliases count under it), else "other"."""
    return paths.CANONICAL.get(path, OTHER)


def status_label(code: int) -> str:
    return _STATUSES.get(code, OTHER)


def set_known_models(names: Iterable[str]) -> None:
    """The configured model names: the only values `model_label` passes through. Call at start-up."""
    global _known_models
    _known_models = frozenset(names)


def model_label(model: str | None) -> str:
    return model if model in _known_models else OTHER


# ---- the request path's updates, bound once per label set ----
# A request makes ~10 updates. The public `inc()` / `dec()` / `observe()` re-check on every call
# that the child has label values (and, for a gauge, its mode), and `observe()` scans the buckets
# in Python; all of that is settled once the child exists. So each label set's child is bound once
# to the value objects prometheus_client itself updates last (`_value`, a histogram's `_sum` and
# `_buckets`: they hold the lock, and in multiprocess mode write the mmap file and notice a fork),
# and those are called directly. Private attributes: tests/unit/test_metrics_fast.py compares this
# path's exposition with the public API's, single- and multiprocess, and fails if they change.
# Every cache below is written with equal values by whichever thread gets there first (`child`
# returns the one child `labels()` keeps), and a child is only bound when first updated: binding
# creates its series, so a series appears in /metrics when, and only when, it did before.

Add = Callable[[float], None]


def _add(metric_child: Any) -> Add:
    """What Counter.inc(n), Gauge.inc(n) and Gauge.dec(-n) do once their checks have passed."""
    add: Add = metric_child._value.inc
    return add


def _add_count(metric_child: Any) -> Add:
    """A counter's `_add` for amounts read from an answer (token counts): Counter.inc's check kept."""
    inc = metric_child._value.inc

    def add(amount: float) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        inc(amount)

    return add


def _observe(histogram_child: Any) -> Add:
    """Histogram.observe: the sum, then the first bucket with `amount <= bound` (bisect_left), the
    last bound being +Inf; a NaN is in no bucket, as there."""
    add_sum = histogram_child._sum.inc
    bounds = tuple(histogram_child._upper_bounds)
    add_bucket = tuple(bucket.inc for bucket in histogram_child._buckets)
    if len(bounds) != len(add_bucket) or bounds[-1] != float("inf"):
        raise TypeError(f"prometheus_client's Histogram changed: {bounds} for {len(add_bucket)} buckets")

    def observe(amount: float) -> None:
        add_sum(amount)
        if amount == amount:
            add_bucket[bisect_left(bounds, amount)](1)

    return observe


class _Bind:
    """Holds a series' slot until the first update: binds the child, puts it in the slot, applies."""

    __slots__ = ("_bind", "_labels", "_metric", "_series", "_slot")

    def __init__(
        self, series: RequestSeries, slot: str, bind: Callable[[Any], Add], metric: Any, *labels: str
    ):
        self._series, self._slot, self._bind, self._metric, self._labels = series, slot, bind, metric, labels

    def __call__(self, amount: float) -> None:
        update = self._bind(child(self._metric, *self._labels))
        setattr(self._series, self._slot, update)
        update(amount)


class RequestSeries:
    """Every update an ended request makes, for one (endpoint, status, family, route, model) label
    set: `exchange.record` calls the slots (an amount each) in the order it always made them."""

    __slots__ = (
        "first_token",
        "in_flight",
        "latency",
        "model_requests",
        "overhead",
        "requests",
        "tokens_in",
        "tokens_out",
    )

    def __init__(self, endpoint: str, status: str, family: str, route: str, model: str) -> None:
        self.in_flight: Add = _Bind(self, "in_flight", _add, REQUESTS_IN_FLIGHT, endpoint)
        self.requests: Add = _Bind(self, "requests", _add, REQUESTS, endpoint, status)
        self.latency: Add = _Bind(self, "latency", _observe, REQUEST_LATENCY, endpoint, family)
        self.overhead: Add = _Bind(self, "overhead", _observe, PROXY_OVERHEAD, endpoint, family)
        self.model_requests: Add = _Bind(self, "model_requests", _add, MODEL_REQUESTS, family, route)
        self.tokens_in: Add = _Bind(self, "tokens_in", _add_count, TOKENS, model, "in")
        self.tokens_out: Add = _Bind(self, "tokens_out", _add_count, TOKENS, model, "out")
        self.first_token: Add = _Bind(self, "first_token", _observe, TIME_TO_FIRST_TOKEN, family)


_series: dict[tuple[str, str, str, str, str], RequestSeries] = {}
_in_flight: dict[str, Add] = {}
_upstream: dict[tuple[str, str], Add] = {}


def request_series(endpoint: str, status: int, family: str, route: str, model: str | None) -> RequestSeries:
    """The ended request's series; its labels as `status_label` and `model_label` give them."""
    key = (endpoint, _STATUSES.get(status, OTHER), family, route, model if model in _known_models else OTHER)
    found = _series.get(key)
    if found is None:
        found = _series[key] = RequestSeries(*key)
    return found


def request_started(endpoint: str) -> None:
    """ftproxy_requests_in_flight{endpoint} + 1; the request's `RequestSeries.in_flight(-1)` ends it."""
    add = _in_flight.get(endpoint)
    if add is None:
        add = _in_flight[endpoint] = _add(child(REQUESTS_IN_FLIGHT, endpoint))
    add(1)


def upstream_response(family: str, status: int) -> None:
    key = (family, _STATUSES.get(status, OTHER))
    add = _upstream.get(key)
    if add is None:
        add = _upstream[key] = _add(child(UPSTREAM_RESPONSES, *key))
    add(1)


# ---- scrape-time interpreter and process metrics ----


def _busy_and_total(t: Any) -> tuple[float, float]:
    # Linux counts guest time inside user/nice, and idle plus iowait is time the core did nothing.
    total = sum(t) - getattr(t, "guest", 0.0) - getattr(t, "guest_nice", 0.0)
    return total - t.idle - getattr(t, "iowait", 0.0), total


_PERCPU_TIMES = partial(psutil.cpu_times, percpu=True)


class RuntimeCollector:
    """Reads the interpreter and process state when Prometheus scrapes.

    All sources are injectable, so a test can be a free-threaded build: `facts` (called per scrape:
    the GIL state is live), `process` (default: this process, re-read after a fork), `percpu_times`.
    Per-core utilisation is the delta since our own previous reading, not
    psutil.cpu_percent(interval=None), whose baseline is per calling thread: scrapes arrive on any
    of Granian's threads.
    """

    def __init__(
        self,
        facts: Callable[[], runtime.RuntimeFacts] = runtime.current,
        process: psutil.Process | None = None,
        percpu_times: Callable[[], Sequence[Any]] = _PERCPU_TIMES,
        thread_count: Callable[[], int] = threading.active_count,
        pid_label: bool = False,
    ) -> None:
        self._facts = facts
        self._process = process
        self._percpu_times = percpu_times
        self._thread_count = thread_count
        self._pid_label = pid_label
        self._lock = threading.Lock()  # guards the baseline below and the cached psutil.Process
        self._cores = [_busy_and_total(t) for t in percpu_times()]
        self._own: tuple[int, psutil.Process] | None = None

    def _proc(self) -> psutil.Process:
        if self._process is not None:
            return self._process
        pid = os.getpid()
        if self._own is None or self._own[0] != pid:
            self._own = (pid, psutil.Process(pid))
        return self._own[1]

    def _core_utilisation(self) -> list[float]:
        now = [_busy_and_total(t) for t in self._percpu_times()]
        ratios = []
        for (busy0, total0), (busy1, total1) in zip(self._cores, now, strict=False):
            elapsed = total1 - total0
            ratios.append(min(1.0, max(0.0, (busy1 - busy0) / elapsed)) if elapsed > 0 else 0.0)
        self._cores = now
        return ratios

    def collect(self) -> Iterator[Metric]:
        facts = self._facts()
        with self._lock:
            proc = self._proc()
            with proc.oneshot():
                cpu = proc.cpu_times()
                per_process = [
                    ("ftproxy_threads", "Python threads (threading.active_count())", self._thread_count()),
                    ("process_os_threads", "OS threads of the process", proc.num_threads()),
                    ("process_resident_memory_bytes", "Resident set size", proc.memory_info().rss),
                    ("process_start_time_seconds", "Start time since the epoch", proc.create_time()),
                ]
                if hasattr(proc, "num_fds"):  # not on Windows
                    per_process.append(("process_open_fds", "Open file descriptors", proc.num_fds()))
            cores = self._core_utilisation()
        own = ["pid"] if self._pid_label else []
        pid = [str(proc.pid)] if self._pid_label else []

        yield GaugeMetricFamily("python_gil_enabled", "1 if the GIL is on right now", int(facts.gil_enabled))
        yield GaugeMetricFamily(
            "python_free_threaded_build", "1: free-threaded", int(facts.free_threaded_build)
        )
        yield InfoMetricFamily(
            "ftproxy",
            "ftproxy and interpreter version",
            value={"version": __version__, "python": facts.version, "implementation": facts.implementation},
        )
        for name, doc, value in per_process:
            gauge = GaugeMetricFamily(name, doc, labels=own)
            gauge.add_metric(pid, value)
            yield gauge
        cpu_seconds = CounterMetricFamily("process_cpu_seconds", "Process CPU time", labels=[*own, "mode"])
        cpu_seconds.add_metric([*pid, "user"], cpu.user)
        cpu_seconds.add_metric([*pid, "system"], cpu.system)
        yield cpu_seconds
        per_core = GaugeMetricFamily(
            "node_cpu_core_utilization_ratio",
            "Busy share of each CPU core (whole machine) since the previous scrape",
            labels=["core"],
        )
        for core, ratio in enumerate(cores):
            per_core.add_metric([str(core)], ratio)
        yield per_core


RUNTIME = RuntimeCollector()
REGISTRY.register(RUNTIME)
GCCollector(registry=REGISTRY)  # per process, so only in the single-process exposition
# (directory, collector of this worker's series labelled with its pid) in multiprocess mode, set
# once at import.
_multiproc: tuple[str, RuntimeCollector] | None = None
if _multiproc_dir is not None:
    _multiproc = (_multiproc_dir, RuntimeCollector(pid_label=True))


# ---- multiprocess mode and rendering ----


def multiprocess_directory() -> str | None:
    """The shared directory when values are summed over worker processes, else None."""
    return None if _multiproc is None else _multiproc[0]


def mark_process_dead(pid: int) -> None:
    """Drops a dead worker's in-flight gauges (its counters stay). No-op in single-process mode."""
    state = _multiproc
    if state is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, state[0])


def _exposition_registry() -> CollectorRegistry:
    state = _multiproc
    if state is None:
        return REGISTRY
    from prometheus_client import multiprocess

    # A fresh registry per scrape: nothing shared to lock, and scrapes are seconds apart.
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=state[0])
    registry.register(state[1])
    return registry


def render(accept_header: str | None) -> tuple[bytes, str]:
    """Body and Content-Type for GET /metrics; OpenMetrics when the Accept header asks for it."""
    encoder, content_type = choose_encoder(accept_header or "")
    return encoder(_exposition_registry()), content_type


# Workers the server replaced after they died (a crash, an OOM kill, kill -9). Counted by the
# supervisor (ftproxy.serve.lifecycle.worker_died), or with one process worker by the new worker
# at start-up (lifecycle.worker_app).
WORKER_RESTARTS = _counter(
    "ftproxy_worker_restarts", "Worker processes respawned after an unexpected exit", ["reason"]
)
