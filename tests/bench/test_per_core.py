"""Issue 25's per-core scenario: the pure figures (criteria, ratios, perf's count, the table) with
the normal suite, and one real run (`python -m bench --per-core`) with the bench smoke test."""

from __future__ import annotations

import http.server
import io
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from bench import per_core_figures as figures
from bench import trivial_app
from bench.payloads import CLAUDE, ORCHESTRATED, chat_body, direct_request, proxy_request
from ftproxy.wire.apis import ClientApi

REPO = Path(__file__).resolve().parents[2]


def _level(rps: float, *, p50: float = 1.0, p99: float = 10.0, errors: int = 0, cpu: float = 0.1) -> dict:
    return {
        "requests": int(rps * 3),
        "rps": rps,
        "p50_ms": p50,
        "p99_ms": p99,
        "errors": errors,
        "cpu_ms_per_request": cpu,
        "instructions_per_request": None,
    }


def _target(rps: float, *, p50_c1: float, p99_c1: float, cpu: float = 0.1) -> dict:
    return {"c64": _level(rps, cpu=cpu), "c1": _level(1000, p50=p50_c1, p99=p99_c1, cpu=cpu)}


def _data() -> dict[str, Any]:
    direct = _target(20000, p50_c1=0.08, p99_c1=0.16, cpu=0.05)
    trivial = _target(50000, p50_c1=0.09, p99_c1=0.2, cpu=0.01)
    proxy = _target(5000, p50_c1=0.33, p99_c1=0.66, cpu=0.2)
    return {
        "settings": {"connections": 64, "seconds": 3},
        "server_cores": "0",
        "load_cores": "1",
        "perf": {"available": False, "note": "perf stat cannot count instructions on this machine: n/a"},
        "expected_routes": ["GPT passthrough"],
        "targets": {"direct: GPT passthrough": direct, "trivial": trivial, "ftproxy: GPT passthrough": proxy},
        "routes": {"GPT passthrough": figures.compare(proxy, direct, trivial)},
        "streams": {
            "streams": 32,
            "tokens": 2000,
            "direct": {"events": 64000, "events_per_s": 200000.0},
            "proxy": {"events": 64000, "events_per_s": 50000.0, "stalls": 0, "errors": 0},
        },
        "notes": [],
    }


def test_a_level_counts_only_with_p99_under_a_second_and_no_error() -> None:
    assert figures.within_limits(_level(100, p99=999.9))
    assert not figures.within_limits(_level(100, p99=1000.0))
    assert not figures.within_limits(_level(100, p99=5.0, errors=1))


def test_ratios_and_added_latency_are_against_the_same_routes_direct_call() -> None:
    c = _data()["routes"]["GPT passthrough"]
    assert c["rps_vs_direct"] == 0.25 and c["rps_vs_trivial"] == 0.1
    assert c["added_p50_c1_ms"] == 0.25 and c["added_p99_c1_ms"] == 0.5
    assert c["cpu_ms_per_request"] == 0.2 and c["direct_cpu_ms_per_request"] == 0.05
    assert c["within_limits"]
    assert figures.ratio(5.0, 0) is None and figures.ratio(None, 3.0) is None


def test_perf_stat_counts_or_says_it_cannot() -> None:
    assert figures.parse_perf_stat("123456789,,instructions:u,2000000,100.00,,\n") == 123456789
    assert figures.parse_perf_stat("<not supported>,,instructions,0,100.00,,\n") is None
    assert figures.parse_perf_stat("42,,cycles,1,100.00,,\n") is None
    assert figures.per_request(None, 10) is None and figures.per_request(1000.0, 0) is None
    assert figures.per_request(1000.0, 10) == 100.0


def test_events_per_second() -> None:
    assert figures.events_per_s(64000, 1.28) == 50000.0
    assert figures.events_per_s(10, 0.0) == 0.0


def test_problems_name_what_is_missing_not_what_is_slow() -> None:
    data = _data()
    data["targets"]["ftproxy: GPT passthrough"]["c64"]["p99_ms"] = 5000.0  # a finding, not a problem
    assert figures.problems(data) == []
    data["targets"]["trivial"]["c1"]["requests"] = 0
    data["routes"] = {}
    data["streams"]["proxy"]["events"] = 0
    assert figures.problems(data) == [
        "trivial: no request completed at c1",
        "route 'GPT passthrough': no figures",
        "streams (proxy): no event relayed",
    ]


def test_the_table_has_each_target_each_route_and_the_public_figures() -> None:
    text = figures.render(_data())
    assert "| ftproxy: GPT passthrough | 5,000 | 10.00 | 0 | yes | 0.200 | n/a | 0.330 | 0.660 |" in text
    assert "| GPT passthrough | 5,000 | 0.25 | 0.10 | 0.200 (0.050) | 0.250 | 0.500 |" in text
    assert "relays 50,000 events/s (0.25 x direct, 200,000)" in text
    assert "agentgateway (Rust) ~7,430" in text and "perf stat cannot count instructions" in text


def test_the_table_lists_each_targets_instruction_counts_and_split() -> None:
    data = _data()
    data["callgrind"] = {"available": True, "note": "valgrind --tool=callgrind"}
    counted = {
        "c1": {
            "per_request": 500000,
            "runs": [510000, 500000, 499000],
            "by_binary": {"libpython3.13.so.1.0": 400000, "_granian.cpython-313-x86_64-linux-gnu.so": 100000},
        },
        "c64": {"per_request": 480000},
    }
    data["instructions"] = {"ftproxy: GPT passthrough": counted}
    data["routes"]["GPT passthrough"].update(
        instructions_c1=500000,
        instructions_c1_vs_direct=1.5,
        instructions_c1_over_trivial=420000,
        instructions_c1_over_floor=300000,
    )
    text = figures.render(data)
    assert (
        "| ftproxy: GPT passthrough | 500,000 | 510,000 / 500,000 / 499,000 | 480,000 "
        "| libpython3.13 400,000, _granian 100,000 |" in text
    )
    assert "| GPT passthrough | 500,000 | 1.50 | 420,000 | 300,000 |" in text


def test_the_proxy_floor_splits_the_added_latency_into_the_second_hop_and_ftproxys_own() -> None:
    data = _data()
    t = data["targets"]
    floor = _target(12000, p50_c1=0.15, p99_c1=0.3, cpu=0.08)
    c = figures.compare(t["ftproxy: GPT passthrough"], t["direct: GPT passthrough"], t["trivial"], floor)
    assert c["added_p50_c1_ms"] == 0.25  # 0.33 - 0.08, as without the floor
    assert c["floor_added_p50_c1_ms"] == 0.07 and c["added_p50_c1_over_floor_ms"] == 0.18
    assert c["cpu_ms_per_request_over_floor"] == 0.12
    data["routes"]["GPT passthrough"] = c
    assert "| 0.250 (0.070 + 0.180) | 0.500 |" in figures.render(data)


def test_a_messages_request_and_its_direct_call_speak_the_messages_api() -> None:
    body = chat_body(CLAUDE, latency_ms=0)
    proxied = proxy_request(body, ClientApi.ANTHROPIC_MESSAGES)
    assert proxied.path == "/v1/messages" and proxied.headers["anthropic-version"]
    direct = direct_request(body, "t", ClientApi.ANTHROPIC_MESSAGES)
    assert direct.path.endswith("/converse") and json.loads(direct.body)["messages"][0]["role"] == "user"


def test_the_orchestration_routes_direct_call_is_the_completion_the_proxy_sends() -> None:
    req = direct_request(chat_body(ORCHESTRATED, latency_ms=0), token="t")
    assert req.path.endswith("/v2/completion")
    assert json.loads(req.body)["config"]["modules"]["prompt_templating"]["model"]["name"] == ORCHESTRATED


@pytest.mark.bench
@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_per_core_run_measures_every_target_and_route(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--per-core", "--output", str(tmp_path), "--quiet"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    data = json.loads((tmp_path / "per_core.json").read_text())
    assert figures.problems(data) == []
    assert set(data["routes"]) == {
        "GPT passthrough",
        "Orchestration Service",
        "Claude from Chat Completions",
        "Claude from Messages",
    }
    floor = data["targets"][figures.PROXY_FLOOR]
    assert floor["c64"]["errors"] == 0 and floor["c1"]["errors"] == 0  # it forwarded every request
    assert all(c["floor_added_p50_c1_ms"] is not None for c in data["routes"].values())
    report = (tmp_path / "report.md").read_text()
    assert "## Per core, instant upstream (issue 25)" in report
    if shutil.which("callgrind_control"):  # CI installs valgrind (scripts/system-deps.sh)
        assert set(data["instructions"]) == set(data["targets"])
        for route, c in data["routes"].items():
            assert c["instructions_c1_over_trivial"] > c["instructions_c1_over_floor"] > 0, route
        assert "Instructions per request (valgrind --tool=callgrind" in report


def test_the_trivial_proxy_forwards_the_request_as_it_came_and_answers_the_upstreams_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`bench.trivial_app.proxy` against a real HTTP server on loopback that echoes what it got,
    over one kept-alive connection for two requests."""
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    class Echo(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            answer = b'{"echo":' + body + b"}"
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    monkeypatch.setattr(trivial_app, "_ADDRESS", ("127.0.0.1", port))
    monkeypatch.setattr(trivial_app, "_HOST", f"Host: 127.0.0.1:{port}\r\n".encode())
    monkeypatch.setattr(trivial_app, "_local", threading.local())
    statuses: list[str] = []
    try:
        for n in range(2):
            body = b'{"n":%d}' % n
            environ = {
                "REQUEST_METHOD": "POST",
                "PATH_INFO": "/v2/inference/deployments/d1/chat/completions",
                "QUERY_STRING": "api-version=1",
                "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(body)),
                "HTTP_AUTHORIZATION": "Bearer t",
                "HTTP_AI_RESOURCE_GROUP": "default",
                "HTTP_HOST": "proxy:1",
                "wsgi.input": io.BytesIO(body),
            }
            answer = b"".join(trivial_app.proxy(environ, lambda status, headers: statuses.append(status)))
            assert statuses[-1] == "201 Created" and answer == b'{"echo":' + body + b"}"
    finally:
        server.shutdown()
        server.server_close()
    assert [(m, p, b) for m, p, _, b in seen] == [
        ("POST", "/v2/inference/deployments/d1/chat/completions?api-version=1", b'{"n":%d}' % n)
        for n in range(2)
    ]
    headers = seen[0][2]
    assert headers["authorization"] == "Bearer t" and headers["ai-resource-group"] == "default"
    assert headers["host"] == f"127.0.0.1:{port}"  # the upstream's, not the client's
    assert headers["content-type"] == "application/json"
