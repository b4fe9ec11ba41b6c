"""The runtime under real traffic: stream limits, keep-alive, disconnects, metrics, readiness, logs.

Everything runs as real processes on loopback: the simulator, and proxies configured for the
case at hand. Waits are polls against deadlines; measured durations are printed, not asserted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
from conftest import Proxy, ProxySettings
from processes import (
    open_raw_stream,
    proxy_config,
    request_log_lines,
    running_proxy,
    upstream_connections,
    worker,
)
from prometheus_client.parser import text_string_to_metric_families

from ftproxy.demo import DEMO_CLIENT_SECRET, DEMO_KEY
from ftproxy.simulator.testing import SimClient

pytestmark = pytest.mark.e2e

AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
DEADLINE_S = 15.0


@pytest.fixture(scope="module")
def proxy_settings() -> ProxySettings:
    return ProxySettings(config={"streaming": {"keepalive_seconds": 0.2}}, args=("--threads", "128"))


def chat_body(text: str, *, stream: bool = True, model: str = "gpt-4.1") -> dict:
    return {"model": model, "stream": stream, "messages": [{"role": "user", "content": text}]}


def scrape(root: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(root + "/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict, name: str) -> float:
    return sum(v for (n, _), v in samples.items() if n == name)


def poll(check, what: str) -> float:
    """Polls `check()` until true; returns the seconds it took (printed by callers)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > DEADLINE_S:
            raise AssertionError(f"{what}: not within {DEADLINE_S}s")
        time.sleep(0.02)  # poll interval; the deadline bounds the wait
    return time.monotonic() - started


def test_every_answer_carries_request_id_and_overhead(own_proxy: Proxy) -> None:
    root = own_proxy.root
    answers = [
        httpx.post(root + "/v1/chat/completions", json=chat_body("hi", stream=False), headers=AUTH),
        httpx.post(root + "/v1/chat/completions", json=chat_body("hi"), headers=AUTH),
        httpx.post(root + "/v1/chat/completions", json=chat_body("hi"), headers={"x-api-key": "wrong"}),
        httpx.get(root + "/v1/nothing", headers=AUTH),
        httpx.get(root + "/health"),
        httpx.get(root + "/metrics"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 401, 404, 200, 200]
    for answer in answers:
        assert len(answer.headers["x-request-id"]) >= 16
        assert float(answer.headers["x-ftproxy-overhead-ms"]) >= 0.0
    given = httpx.get(root + "/health", headers={"x-request-id": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"


def test_keepalive_comments_while_the_first_token_is_slow(own_proxy: Proxy) -> None:
    root = own_proxy.root
    body = chat_body("Hi [[sim:ttft_ms=1200]]")
    with httpx.stream("POST", root + "/v1/chat/completions", json=body, headers=AUTH) as response:
        raw = response.read().decode()
    # The role chunk comes at once; the comments fill the wait for the first content chunk.
    assert ": ping" in raw.split('"content":"Hello', 1)[0]
    assert raw.rstrip().endswith("data: [DONE]")
    client = openai.OpenAI(base_url=root + "/v1", api_key=DEMO_KEY, max_retries=0)
    chunks = client.chat.completions.create(**body)  # the SDK ignores the comments
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Hello")


def test_client_disconnects_free_threads_and_upstream_connections(
    own_proxy: Proxy, own_simulator: str
) -> None:
    root = own_proxy.root
    simulator = SimClient(own_simulator, httpx.Client(base_url=own_simulator))
    app = worker(root)
    baseline_connections = upstream_connections(app, own_simulator)
    threads_after: list[int] = []
    for _ in range(2):  # a second round must reuse the first round's threads
        sockets = [open_raw_stream(root, "Hi [[sim:tokens=400,tps=20]]") for _ in range(10)]
        assert total(scrape(root), "ftproxy_streams_in_flight") == 10
        assert upstream_connections(app, own_simulator) >= baseline_connections + 10
        for sock in sockets:
            sock.close()
        freed = poll(lambda: total(scrape(root), "ftproxy_streams_in_flight") == 0, "streams freed")
        poll(lambda: simulator.stats()["open_streams"] == 0, "upstream streams ended")
        poll(
            lambda: upstream_connections(app, own_simulator) <= baseline_connections,
            "upstream connections closed",
        )
        print(f"10 hung-up streams freed in {freed:.3f} s")
        threads_after.append(app.num_threads())
    assert threads_after[1] <= threads_after[0] + 2, threads_after
    assert total(scrape(root), "ftproxy_errors_total") >= 20


def test_many_concurrent_streams_complete(own_proxy: Proxy) -> None:
    root = own_proxy.root
    results: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        body = chat_body("Hi [[sim:tokens=30,tps=60]]")
        with httpx.stream("POST", root + "/v1/chat/completions", json=body, headers=AUTH, timeout=60) as r:
            text = r.read().decode()
        with lock:
            results.append(text)

    threads = [threading.Thread(target=one) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 100
    assert all(r.rstrip().endswith("data: [DONE]") and r.count("data: [DONE]") == 1 for r in results)
    poll(lambda: total(scrape(root), "ftproxy_streams_in_flight") == 0, "streams ended")


def test_streams_beyond_the_limit_get_503_with_retry_after(own_simulator: str, tmp_path: Path) -> None:
    config = proxy_config(tmp_path, own_simulator, streaming={"max_concurrent": 2, "retry_after_seconds": 4})
    with running_proxy(config, tmp_path) as (root, _):
        held = [open_raw_stream(root, "Hi [[sim:tokens=400,tps=20]]") for _ in range(2)]
        refused = httpx.post(root + "/v1/chat/completions", json=chat_body("hi"), headers=AUTH)
        assert refused.status_code == 503 and refused.headers["retry-after"] == "4"
        assert refused.json()["error"]["code"] == "too_many_streams"
        assert httpx.post(
            root + "/v1/chat/completions", json=chat_body("hi", stream=False), headers=AUTH
        ).is_success
        for sock in held:
            sock.close()
        poll(lambda: total(scrape(root), "ftproxy_streams_in_flight") == 0, "slots freed")
        again = httpx.post(root + "/v1/chat/completions", json=chat_body("hi"), headers=AUTH)
        assert again.status_code == 200 and again.text.rstrip().endswith("[DONE]")
        assert total(scrape(root), "ftproxy_stream_rejections_total") == 1


def test_metrics_under_load_pass_promtool(own_proxy: Proxy) -> None:
    root = own_proxy.root
    promtool = shutil.which("promtool")
    if promtool is None:
        missing = "promtool is missing: apt-get install prometheus (scripts/test does, as root)"
        if os.environ.get("FTPROXY_REQUIRE_PROMTOOL") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    held = [open_raw_stream(root, "Hi [[sim:tokens=400,tps=20]]") for _ in range(5)]
    try:
        text = httpx.get(root + "/metrics").text
    finally:
        for sock in held:
            sock.close()
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}  # fmt: skip
    assert samples[("python_gil_enabled", ())] == 1.0  # this machine has GIL builds only
    assert samples[("python_free_threaded_build", ())] == 0.0
    assert total(samples, "ftproxy_streams_in_flight") == 5
    for name in ("ftproxy_requests_total", "ftproxy_request_duration_seconds_count",
                 "ftproxy_proxy_overhead_seconds_count", "ftproxy_time_to_first_token_seconds_count",
                 "ftproxy_upstream_responses_total", "ftproxy_tokens_total", "process_resident_memory_bytes",
                 "ftproxy_oauth_token_fetches_total"):  # fmt: skip
        assert total(samples, name) > 0, name


def test_ready_reports_token_trouble_and_recovers(own_simulator: str, tmp_path: Path) -> None:
    simulator = httpx.Client(base_url=own_simulator)
    simulator.post("/_sim/token-faults", json={"status": 503, "count": 1000}).raise_for_status()
    try:
        with running_proxy(proxy_config(tmp_path, own_simulator), tmp_path) as (root, _):
            not_ready = httpx.get(root + "/ready")
            assert not_ready.status_code == 503 and not_ready.json()["status"] == "not_ready"
            assert "demo" in not_ready.json()["subaccounts"]
            simulator.delete("/_sim/token-faults").raise_for_status()
            ready = httpx.get(root + "/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "ready"
    finally:
        simulator.delete("/_sim/token-faults")


def test_one_log_line_per_request_without_secrets(own_proxy: Proxy) -> None:
    root, log = own_proxy.root, own_proxy.log
    ids = []
    for body in (chat_body("hi", stream=False), chat_body("hi"), chat_body("hi", model="nope")):
        answer = httpx.post(root + "/v1/chat/completions", json=body, headers=AUTH)
        ids.append(answer.headers["x-request-id"])
    lines = request_log_lines(log, ids)
    by_id = {}
    for line in lines:
        by_id.setdefault(line["request_id"], []).append(line)
    assert all(len(by_id[i]) == 1 for i in ids)
    whole, streamed, unknown = (by_id[i][0] for i in ids)
    assert whole["status"] == 200 and whole["model"] == "gpt-4.1" and whole["output_tokens"] > 0
    assert streamed["stream"] is True and streamed["ended"] == "complete" and "ttft_ms" in streamed
    assert unknown["status"] == 404 and unknown["error"] == "model_not_found"
    text = log.read_text()
    assert DEMO_KEY not in text and DEMO_CLIENT_SECRET not in text


def test_an_alias_is_logged_and_counted_as_the_model_it_names(own_proxy: Proxy) -> None:
    root, log = own_proxy.root, own_proxy.log
    alias = "claude-sonnet-4-5-20250929"  # Anthropic's public id, a built-in alias
    answer = httpx.post(
        root + "/v1/chat/completions", json=chat_body("hi", stream=False, model=alias), headers=AUTH
    )
    assert answer.status_code == 200 and answer.json()["model"] == alias  # the name the client used
    request_id = answer.headers["x-request-id"]
    (line,) = [x for x in request_log_lines(log, [request_id]) if x["request_id"] == request_id]
    assert line["alias"] == alias and line["model"] != alias and line["model"].startswith("anthropic--")
    tokens = [
        x for x in httpx.get(root + "/metrics").text.splitlines() if x.startswith("ftproxy_tokens_total{")
    ]
    assert any(f'model="{line["model"]}"' in x for x in tokens)
    assert not any('model="other"' in x for x in tokens)
