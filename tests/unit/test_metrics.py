"""ftproxy.observe.metrics: bounded labels, the scrape-time collector, the exposition, multiprocess mode."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import namedtuple
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families

from ftproxy import __version__, environment
from ftproxy.observe import metrics
from ftproxy.runtime import RuntimeFacts

REPO = Path(__file__).resolve().parents[2]

# ---- bounded labels ----


@pytest.mark.parametrize(
    ("path", "label"),
    [
        ("/v1/chat/completions", "/v1/chat/completions"),
        ("/chat/completions", "/v1/chat/completions"),
        ("/v1/messages", "/v1/messages"),
        ("/messages", "/v1/messages"),
        ("/v1/messages/count_tokens", "/v1/messages/count_tokens"),
        ("/messages/count_tokens", "/v1/messages/count_tokens"),
        ("/v1/responses", "/v1/responses"),
        ("/responses", "/v1/responses"),
        ("/v1/embeddings", "/v1/embeddings"),
        ("/embeddings", "/v1/embeddings"),
        ("/v1/models", "/v1/models"),
        ("/models", "/v1/models"),
        ("/health", "/health"),
        ("/ready", "/ready"),
        ("/metrics", "/metrics"),
        ("/v1/health", "other"),  # not a route
        ("/v1/chat/completions/", "other"),
        ("/V1/MESSAGES", "other"),
        ("/v1/models/gpt-4.1", "other"),
        ("/.env", "other"),
        ("", "other"),
        ("/", "other"),
    ],
)
def test_endpoint_label(path: str, label: str) -> None:
    assert metrics.endpoint_label(path) == label


@pytest.mark.parametrize(
    ("code", "label"),
    [
        (200, "200"),
        (204, "204"),
        (400, "400"),
        (401, "401"),
        (404, "404"),
        (413, "413"),
        (429, "429"),
        (499, "499"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
        (101, "1xx"),
        (206, "2xx"),
        (302, "3xx"),
        (418, "4xx"),
        (451, "4xx"),
        (507, "5xx"),
        (599, "5xx"),
        (0, "other"),
        (99, "other"),
        (600, "other"),
        (-1, "other"),
    ],
)
def test_status_label(code: int, label: str) -> None:
    assert metrics.status_label(code) == label


@pytest.fixture
def known_models() -> Iterator[None]:
    saved = metrics._known_models
    try:
        yield
    finally:
        metrics.set_known_models(saved)


@pytest.mark.usefixtures("known_models")
@pytest.mark.parametrize(
    ("model", "label"),
    [
        ("gpt-4.1", "gpt-4.1"),
        ("anthropic--claude-4.5-sonnet", "anthropic--claude-4.5-sonnet"),
        ("GPT-4.1", "other"),
        ("gpt-4.1 ", "other"),
        ("made-up-model-12345", "other"),
        ("", "other"),
        (None, "other"),
    ],
)
def test_model_label_passes_only_configured_models(model: str | None, label: str) -> None:
    metrics.set_known_models(["gpt-4.1", "anthropic--claude-4.5-sonnet"])
    assert metrics.model_label(model) == label


@pytest.mark.usefixtures("known_models")
def test_set_known_models_replaces_the_set() -> None:
    metrics.set_known_models(iter(["a"]))  # any iterable, consumed once
    assert metrics.model_label("a") == "a"
    metrics.set_known_models(["b"])
    assert (metrics.model_label("a"), metrics.model_label("b")) == ("other", "b")


# ---- the scrape-time collector, with injected facts ----

Times = namedtuple("Times", "user system idle iowait")
ProcTimes = namedtuple("ProcTimes", "user system")
MemInfo = namedtuple("MemInfo", "rss vms")


class FakeProcess:
    """The psutil.Process calls RuntimeCollector makes, with fixed answers."""

    pid = 4242

    @contextmanager
    def oneshot(self) -> Iterator[None]:
        yield

    def cpu_times(self) -> ProcTimes:
        return ProcTimes(user=1.5, system=0.25)

    def memory_info(self) -> MemInfo:
        return MemInfo(rss=50 * 2**20, vms=400 * 2**20)

    def num_threads(self) -> int:
        return 21

    def num_fds(self) -> int:
        return 17

    def create_time(self) -> float:
        return 1_700_000_000.0


def facts(*, free_threaded: bool, gil: bool) -> RuntimeFacts:
    return RuntimeFacts(
        version="3.14.0",
        implementation="CPython",
        free_threaded_build=free_threaded,
        gil_enabled=gil,
        executable="/usr/bin/python3.14t" if free_threaded else "/usr/bin/python3.14",
    )


def core_readings(*readings: list[Times]) -> Callable[[], list[Times]]:
    """psutil.cpu_times(percpu=True) answering the given readings in turn, then the last forever."""
    queue = list(readings)
    return lambda: queue.pop(0) if len(queue) > 1 else queue[0]


def scrape(collector: metrics.RuntimeCollector) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


def fake_collector(get_facts: Callable[[], RuntimeFacts], **kwargs: object) -> metrics.RuntimeCollector:
    return metrics.RuntimeCollector(
        facts=get_facts,
        process=FakeProcess(),  # type: ignore[arg-type]
        percpu_times=core_readings([Times(1, 1, 8, 0)] * 2),
        thread_count=lambda: 7,
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("free_threaded", "gil", "expect_build", "expect_gil"),
    [
        (True, False, 1, 0),  # python3.14t as intended
        (True, True, 1, 1),  # python3.14t with PYTHON_GIL=1, or after a GIL-only import
        (False, True, 0, 1),  # an ordinary GIL build
    ],
)
def test_collector_reports_build_and_gil_state(
    free_threaded: bool, gil: bool, expect_build: int, expect_gil: int
) -> None:
    registry = scrape(fake_collector(lambda: facts(free_threaded=free_threaded, gil=gil)))
    assert registry.get_sample_value("python_free_threaded_build") == expect_build
    assert registry.get_sample_value("python_gil_enabled") == expect_gil
    info = {"version": __version__, "python": "3.14.0", "implementation": "CPython"}
    assert registry.get_sample_value("ftproxy_info", info) == 1


def test_gil_state_is_read_at_every_scrape() -> None:
    # An extension without free-threading support can switch the GIL on after start-up.
    state = {"gil": False}
    registry = scrape(fake_collector(lambda: facts(free_threaded=True, gil=state["gil"])))
    assert registry.get_sample_value("python_gil_enabled") == 0
    state["gil"] = True
    assert registry.get_sample_value("python_gil_enabled") == 1


def test_collector_process_values() -> None:
    registry = scrape(fake_collector(lambda: facts(free_threaded=False, gil=True)))
    get = registry.get_sample_value
    assert get("ftproxy_threads") == 7
    assert get("process_os_threads") == 21
    assert get("process_resident_memory_bytes") == 50 * 2**20
    assert get("process_open_fds") == 17
    assert get("process_start_time_seconds") == 1_700_000_000.0
    assert get("process_cpu_seconds_total", {"mode": "user"}) == 1.5
    assert get("process_cpu_seconds_total", {"mode": "system"}) == 0.25


def test_collector_labels_per_process_series_with_pid_in_multiprocess_mode() -> None:
    registry = scrape(fake_collector(lambda: facts(free_threaded=False, gil=True), pid_label=True))
    get = registry.get_sample_value
    assert get("process_resident_memory_bytes", {"pid": "4242"}) == 50 * 2**20
    assert get("process_cpu_seconds_total", {"pid": "4242", "mode": "user"}) == 1.5
    assert get("python_gil_enabled") == 1  # interpreter facts are the same in every worker


def test_per_core_utilisation_is_since_the_previous_scrape() -> None:
    collector = metrics.RuntimeCollector(
        facts=lambda: facts(free_threaded=False, gil=True),
        process=FakeProcess(),  # type: ignore[arg-type]
        percpu_times=core_readings(
            [Times(10, 10, 80, 0), Times(0, 0, 100, 0)],  # at construction
            [Times(13, 13, 84, 0), Times(0, 0, 200, 0)],  # 1st scrape: core 0 busy 6 of 10, core 1 idle
            [Times(23, 13, 84, 10), Times(50, 50, 200, 0)],  # 2nd: core 0 in iowait, core 1 fully busy
        ),
    )

    def cores() -> list[float]:
        (family,) = (f for f in collector.collect() if f.name == "node_cpu_core_utilization_ratio")
        return [s.value for s in sorted(family.samples, key=lambda s: s.labels["core"])]

    assert cores() == [pytest.approx(0.6), 0.0]
    assert cores() == [pytest.approx(0.5), 1.0]
    assert cores() == [0.0, 0.0]  # no time passed between readings: no division by zero


def test_module_collector_describes_this_interpreter() -> None:
    from ftproxy import runtime

    get = metrics.REGISTRY.get_sample_value
    assert get("python_gil_enabled") == int(runtime.is_gil_enabled())
    assert get("python_free_threaded_build") == int(runtime.is_free_threaded_build())
    assert get("process_resident_memory_bytes") > 1_000_000
    assert get("ftproxy_threads") >= 1


# ---- the exposition ----

REQUEST_PATH_SAMPLES = {
    "ftproxy_requests_total",
    "ftproxy_requests_in_flight",
    "ftproxy_streams_in_flight",
    "ftproxy_request_duration_seconds_bucket",
    "ftproxy_request_duration_seconds_count",
    "ftproxy_proxy_overhead_seconds_bucket",
    "ftproxy_proxy_overhead_seconds_count",
    "ftproxy_time_to_first_token_seconds_bucket",
    "ftproxy_time_to_first_token_seconds_count",
    "ftproxy_upstream_responses_total",
    "ftproxy_tokens_total",
    "ftproxy_oauth_token_fetches_total",
    "ftproxy_errors_total",
    "ftproxy_stream_rejections_total",
    "ftproxy_client_disconnects_total",
}
SCRAPE_TIME_SAMPLES = {
    "python_gil_enabled",
    "python_free_threaded_build",
    "ftproxy_info",
    "ftproxy_threads",
    "process_os_threads",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_open_fds",
    "process_start_time_seconds",
    "node_cpu_core_utilization_ratio",
}


def update_every_metric() -> None:
    endpoint, family = metrics.endpoint_label("/v1/messages"), "claude"
    metrics.REQUESTS.labels(endpoint, metrics.status_label(200)).inc()
    metrics.REQUESTS_IN_FLIGHT.labels(endpoint).inc()
    metrics.REQUESTS_IN_FLIGHT.labels(endpoint).dec()
    metrics.STREAMS_IN_FLIGHT.labels(family).inc()
    metrics.STREAMS_IN_FLIGHT.labels(family).dec()
    metrics.REQUEST_LATENCY.labels(endpoint, family).observe(1.25)
    metrics.PROXY_OVERHEAD.labels(endpoint, family).observe(0.00021)
    metrics.TIME_TO_FIRST_TOKEN.labels(family).observe(0.4)
    metrics.UPSTREAM_RESPONSES.labels(family, metrics.status_label(429)).inc()
    metrics.TOKENS.labels(metrics.model_label("not-configured"), "in").inc(120)
    metrics.TOKENS.labels(metrics.model_label("not-configured"), "out").inc(30)
    metrics.TOKEN_REFRESHES.labels("sub1", "ok").inc()
    metrics.ERRORS.labels("upstream_timeout").inc()
    metrics.STREAM_REJECTIONS.labels("too_many_streams").inc()
    metrics.CLIENT_DISCONNECTS.inc()


def sample_names(text: str) -> set[str]:
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_render_exposes_every_metric() -> None:
    update_every_metric()
    body, content_type = metrics.render(None)
    assert content_type.startswith("text/plain; version=0.0.4")
    names = sample_names(body.decode())
    assert names >= REQUEST_PATH_SAMPLES | SCRAPE_TIME_SAMPLES
    assert metrics.multiprocess_directory() is None  # the test process counts in memory


def test_render_serves_openmetrics_when_asked() -> None:
    update_every_metric()
    body, content_type = metrics.render("application/openmetrics-text; version=1.0.0; charset=utf-8")
    assert content_type.startswith("application/openmetrics-text")
    text = body.decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f.type for f in parse_openmetrics(text)}
    assert families["ftproxy_requests"] == "counter"
    assert families["ftproxy"] == "info"  # OpenMetrics names an info family without _info
    assert families["ftproxy_proxy_overhead_seconds"] == "histogram"


def test_proxy_overhead_buckets_resolve_50us_to_1s() -> None:
    update_every_metric()
    text = metrics.render(None)[0].decode()
    bounds = {
        s.labels["le"]
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "ftproxy_proxy_overhead_seconds_bucket"
    }
    assert {"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "1.0", "+Inf"} <= bounds


def test_promtool_accepts_the_exposition_lint_clean() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        message = "promtool not on PATH (Debian package 'prometheus')"
        if os.environ.get("FTPROXY_REQUIRE_PROMTOOL") == "1":
            pytest.fail(f"{message}, and FTPROXY_REQUIRE_PROMTOOL=1 requires it")
        pytest.skip(message)
    update_every_metric()
    body, _ = metrics.render(None)
    result = subprocess.run([promtool, "check", "metrics"], input=body, capture_output=True, timeout=60)
    assert result.returncode == 0, (result.stdout + result.stderr).decode()
    assert (result.stdout + result.stderr).strip() == b""  # no lint warnings either


# ---- multiprocess mode (subprocesses: the test process itself counts in memory) ----

CHILD = """
import sys
import ftproxy.observe.metrics as m
endpoint = m.endpoint_label("/v1/chat/completions")
m.REQUESTS.labels(endpoint, m.status_label(200)).inc()
m.REQUESTS_IN_FLIGHT.labels(endpoint).inc()
m.PROXY_OVERHEAD.labels(endpoint, "gpt").observe(0.0003)
print("counted", flush=True)
sys.stdin.read()  # stays alive, its request in flight, until the parent has scraped
"""

PARENT = """
import json, os, subprocess, sys
import ftproxy.observe.metrics as m
from prometheus_client.parser import text_string_to_metric_families

CHILD = sys.argv[1]


def scrape():
    text = m.render(None)[0].decode()
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[s.name + json.dumps(s.labels, sort_keys=True)] = s.value
    return found

pipes = dict(stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
children = [subprocess.Popen([sys.executable, "-c", CHILD], **pipes) for _ in range(3)]
for child in children:
    assert child.stdout.readline() == "counted\\n"
live = scrape()
for child in children:
    child.stdin.close()
    child.wait()
    m.mark_process_dead(child.pid)
print(json.dumps({"live": live, "after": scrape(), "pid": os.getpid(), "dir": m.multiprocess_directory()}))
"""

REQ = 'ftproxy_requests_total{"endpoint": "/v1/chat/completions", "status": "200"}'
IN_FLIGHT = 'ftproxy_requests_in_flight{"endpoint": "/v1/chat/completions"}'
OVERHEAD = 'ftproxy_proxy_overhead_seconds_count{"endpoint": "/v1/chat/completions", "family": "gpt"}'


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_multiprocess_mode_sums_the_workers(tmp_path: Path) -> None:
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}  # inherited by the children
    out = json.loads(run_python(PARENT, CHILD, env=env))
    live, after = out["live"], out["after"]
    assert out["dir"] == str(tmp_path)
    assert live[REQ] == 3
    assert live[IN_FLIGHT] == 3
    assert live[OVERHEAD] == 3
    assert after[REQ] == 3  # counters outlive their workers
    assert after[OVERHEAD] == 3
    assert after.get(IN_FLIGHT, 0) == 0  # a dead worker's requests are no longer in flight
    # The scraped process's own series carry its pid; interpreter facts do not.
    pid_label = json.dumps({"pid": str(out["pid"])})
    assert "process_resident_memory_bytes" + pid_label in live
    assert live["python_gil_enabled{}"] == 1


FORKED = """
import json, os, sys
from pathlib import Path

from ftproxy.serve.launch import share_metrics_between_workers
from ftproxy.serve.plan import ServeOptions, ServePlan

directory = Path(sys.argv[1])
workers = ServePlan("granian", "processes", 2, 4, "test")
assert share_metrics_between_workers(workers, ServeOptions("c", "h", 1), directory) == str(directory)
assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(directory)
assert not (directory / "counter_999999.db").exists(), "stale file kept"
assert "prometheus_client" not in sys.modules

import ftproxy.observe.metrics as m  # after the launcher's choice, as `ftproxy serve` imports the app
from prometheus_client.parser import text_string_to_metric_families

assert m.multiprocess_directory() == str(directory)
pid = os.fork()  # Granian's process workers on Linux before 3.14
m.CLIENT_DISCONNECTS.inc()
m.ERRORS.labels("upstream_timeout").inc()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
samples = {
    s.name + json.dumps(s.labels, sort_keys=True): s.value
    for f in text_string_to_metric_families(m.render(None)[0].decode())
    for s in f.samples
}
print(json.dumps(samples))
"""


def without_multiproc_dir() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != environment.PROMETHEUS_MULTIPROC_DIR}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_the_launchers_directory_set_before_the_import_sums_forked_workers(tmp_path: Path) -> None:
    (tmp_path / "counter_999999.db").write_bytes(b"left over from the previous run")
    done = subprocess.run(
        [sys.executable, "-c", FORKED, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=without_multiproc_dir(),
    )
    assert done.returncode == 0, done.stderr
    samples = json.loads(done.stdout)
    assert samples["ftproxy_client_disconnects_total{}"] == 2
    assert samples['ftproxy_errors_total{"kind": "upstream_timeout"}'] == 2


def test_the_launcher_refuses_when_prometheus_client_was_imported_first(tmp_path: Path) -> None:
    code = (
        "import sys\nfrom pathlib import Path\nimport prometheus_client\n"
        "from ftproxy.serve.launch import share_metrics_between_workers\n"
        "from ftproxy.serve.plan import ServeOptions, ServePlan\n"
        "workers = ServePlan('granian', 'processes', 2, 4, 'test')\n"
        "share_metrics_between_workers(workers, ServeOptions('c', 'h', 1), Path(sys.argv[1]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "metrics")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=without_multiproc_dir(),
    )
    assert done.returncode != 0
    assert "LaunchError" in done.stderr
    assert "prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set" in done.stderr
    assert not (tmp_path / "metrics").exists()  # nothing exported, nothing created


def test_multiproc_dir_that_does_not_exist_fails_at_import(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing")
    done = subprocess.run(
        [sys.executable, "-c", "import ftproxy.observe.metrics"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": missing},
    )
    assert done.returncode != 0
    assert "not a directory" in done.stderr


def test_mark_process_dead_is_a_no_op_in_single_process_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    """One process counts for itself: nothing is handed to prometheus_client's multiprocess
    clean-up and this process's in-flight gauges keep their values."""
    from prometheus_client import multiprocess

    called: list[object] = []
    monkeypatch.setattr(multiprocess, "mark_process_dead", lambda *args: called.append(args))
    assert metrics.multiprocess_directory() is None
    gauge = metrics.REQUESTS_IN_FLIGHT.labels("/v1/embeddings")
    gauge.inc()
    try:
        before = metrics.REGISTRY.get_sample_value(
            "ftproxy_requests_in_flight", {"endpoint": "/v1/embeddings"}
        )
        metrics.mark_process_dead(os.getpid())
        after = metrics.REGISTRY.get_sample_value(
            "ftproxy_requests_in_flight", {"endpoint": "/v1/embeddings"}
        )
    finally:
        gauge.dec()
    assert called == [] and before is not None and before >= 1 and after == before
