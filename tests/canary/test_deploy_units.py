"""Unit tests of the canary tooling: YAML validation, nginx rendering, metrics maths, the watcher's
verdicts, and the systemd backend with an injected command runner. No process is started."""

from __future__ import annotations

import copy
import io
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ftproxy.deploy import metrics, model, nginx, reading
from ftproxy.deploy.backends import DROPIN_NAME, ProcessBackend, SystemdBackend
from ftproxy.deploy.state import State
from ftproxy.deploy.watcher import judge, watch

REPO = Path(__file__).resolve().parents[2]


def valid() -> dict[str, Any]:
    def inst(name: str, role: str, port: int, weight: int) -> dict[str, Any]:
        return {
            "name": name,
            "role": role,
            "address": f"127.0.0.1:{port}",
            "interpreter": "/usr/bin/python3",
            "command": ["{interpreter}", "-m", "ftproxy", "serve", "--port", "{port}", "--gil", "{gil}"],
            "weight": weight,
            "control": {"backend": "process", "pid_file": f"/tmp/x/{name}.pid"},
        }

    return {
        "instances": [
            inst("std-1", "standard", 3001, 40),
            inst("std-2", "standard", 3002, 40),
            inst("canary", "canary", 3003, 20),
        ],
        "router": {
            "listen": "127.0.0.1:8080",
            "config_path": "/tmp/x/nginx.conf",
            "pid_file": "/tmp/x/nginx.pid",
        },
        "rollback": {"state_file": "/tmp/x/state.json", "log_file": "/tmp/x/rollback.log"},
    }


def test_the_production_example_is_valid_and_splits_80_20() -> None:
    d = reading.load(REPO / "deploy" / "traffic_routing.yaml")
    std = sum(i.weight for i in d.standard)
    can = sum(i.weight for i in d.canaries)
    assert (std, can) == (80, 20)
    assert all(i.control.backend == "systemd" for i in d.instances)
    assert d.canaries[0].monitoring == "enhanced" and "3.14t" in d.canaries[0].interpreter


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    target = doc
    for k in keys[:-1]:
        target = target[k]
    if value is _DELETE:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value


_DELETE = object()

INVALID = [
    # (path to change, new value, key named in the error, words of the problem or fix)
    ("instances", [], "instances", "non-empty list"),
    ("instances.0.role", "primary", "instances[0].role", "standard or canary"),
    ("instances.0.address", "localhost", "instances[0].address", "host:port"),
    ("instances.0.address", "127.0.0.1:70000", "instances[0].address", "host:port"),
    ("instances.1.address", "127.0.0.1:3001", "instances[1].address", "own host:port"),
    ("instances.1.name", "std-1", "instances[1].name", "rename"),
    ("instances.0.weight", -1, "instances[0].weight", "integer >= 0"),
    ("instances.0.weight", "40", "instances[0].weight", "integer"),
    ("instances.0.command", "python -m ftproxy serve", "instances[0].command", "list of words"),
    ("instances.2.command", ["{interpreter}", "-m", "ftproxy", "serve"], "instances[2].command", "--gil"),
    ("instances.0.gil", "maybe", "instances[0].gil", "auto, on or off"),
    ("instances.0.control.backend", "docker", "instances[0].control.backend", "process or systemd"),
    ("instances.0.control", {"backend": "systemd", "unit": "bad unit"}, "instances[0].control.unit", "unit"),
    ("instances.0.health_url", "localhost/ready", "instances[0].health_url", "http(s) URL"),
    ("instances.0.env", {"PYTHON_GIL": True}, "instances[0].env.PYTHON_GIL", "quote"),
    ("instances.0.colour", "blue", "instances[0].colour", "unknown key"),
    ("instances.0.weight", 0, "instances", "no standard instance with a weight"),
    ("router.listen", "8080", "router.listen", "host:port"),
    ("router.kind", "haproxy", "router.kind", "nginx"),
    ("router.mode", "include", "router.main_config", "main_config"),
    ("router.pid_file", _DELETE, "router.pid_file", "missing"),
    ("router.max_fails", 1.5, "router.max_fails", "integer"),
    ("router.worker_processes", 0, "router.worker_processes", "auto or a positive integer"),
    ("rollback.webhook_url", "hooks.example.com", "rollback.webhook_url", "http(s) URL"),
    ("rollback.gil_env", {"PYTHON_GIL": "0"}, "rollback.gil_env.PYTHON_GIL", '"1"'),
    ("rollback", _DELETE, "rollback", "missing"),
    ("analysis", {"failed_windows": 0}, "analysis.failed_windows", ">= 1"),
    ("analysis", {"max_error_rate": 2}, "analysis.max_error_rate", "<= 1"),
    ("analysis", {"endpoints": ["v1/chat"]}, "analysis.endpoints", "path"),
]


@pytest.mark.parametrize(("path", "value", "key", "words"), INVALID)
def test_invalid_routing_files_name_the_key_and_the_fix(path: str, value: Any, key: str, words: str) -> None:
    doc = copy.deepcopy(valid())
    if path.startswith("instances.1") or (path.startswith("instances.0.weight") and value == 0):
        doc["instances"][1]["weight"] = 0 if value == 0 else doc["instances"][1]["weight"]
    _set(doc, path, value)
    with pytest.raises(model.RoutingConfigError) as err:
        reading.parse(doc, source="routing.yaml")
    message = str(err.value)
    assert message.startswith(f"routing.yaml: {key}: "), message
    assert words in message and "Fix:" in message


def test_env_references_in_the_command_must_be_defined() -> None:
    doc = valid()
    doc["instances"][2]["command"] += ["--workers", "${FTPROXY_WORKERS}"]
    with pytest.raises(
        model.RoutingConfigError, match=r"instances\[2\]\.command: uses \$\{FTPROXY_WORKERS\}"
    ):
        reading.parse(doc)
    doc["instances"][2]["env"] = {"FTPROXY_WORKERS": "1"}
    canary = reading.parse(doc).instance("canary")
    assert canary.argv()[-2:] == ["--workers", "1"]
    backend = ProcessBackend({"PYTHON_GIL": "1", "FTPROXY_WORKERS": "4"})
    assert canary.argv("on", backend.environment(canary, gil=True))[-4:] == ["--gil", "on", "--workers", "4"]


def test_production_canary_is_resized_for_gil_mode() -> None:
    d = reading.load(REPO / "deploy" / "traffic_routing.yaml")
    canary = d.canaries[0]
    normal = canary.argv(None, canary.env)
    gil = canary.argv("on", {**canary.env, **d.rollback.gil_env})
    assert normal[normal.index("--workers") :][:4] == ["--workers", "1", "--threads", "256"]
    assert gil[gil.index("--workers") :][:4] == ["--workers", "4", "--threads", "64"]


def test_yaml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "r.yaml"
    bad.write_text("instances: [\n")
    with pytest.raises(model.RoutingConfigError, match=r"r\.yaml: \(syntax\)"):
        reading.load(bad)


def test_placeholders_and_relative_paths(tmp_path: Path) -> None:
    doc = valid()
    doc["instances"][2]["control"]["pid_file"] = "run/canary.pid"
    d = reading.parse(doc, source="x.yaml", base=tmp_path)
    canary = d.instance("canary")
    assert canary.control.pid_file == tmp_path / "run" / "canary.pid"
    assert canary.argv() == ["/usr/bin/python3", "-m", "ftproxy", "serve", "--port", "3003", "--gil", "auto"]
    assert canary.argv("on")[-2:] == ["--gil", "on"]
    assert canary.health_url == "http://127.0.0.1:3003/ready" and canary.monitoring == "enhanced"


RENDER = [
    # (rolled back canary?, expected server lines)
    (
        False,
        [
            "server 127.0.0.1:3001 weight=40 max_fails=3 fail_timeout=10s;",
            "server 127.0.0.1:3002 weight=40 max_fails=3 fail_timeout=10s;",
            "server 127.0.0.1:3003 weight=20 max_fails=3 fail_timeout=10s;",
        ],
    ),
    (
        True,
        [
            "server 127.0.0.1:3001 weight=40 max_fails=3 fail_timeout=10s;",
            "server 127.0.0.1:3002 weight=40 max_fails=3 fail_timeout=10s;",
            "server 127.0.0.1:3003 weight=20 max_fails=3 fail_timeout=10s down;",
        ],
    ),
]


@pytest.mark.parametrize(("rolled_back", "servers"), RENDER)
def test_rendering_weights_and_a_rolled_back_canary(
    tmp_path: Path, rolled_back: bool, servers: list[str]
) -> None:
    d = reading.parse(valid())
    state = State(tmp_path / "state.json")
    if rolled_back:
        state.update_instance("canary", routed=False)
    text = nginx.render(d, state)
    lines = [
        line.strip().split("  #")[0] for line in text.splitlines() if line.strip().startswith("server 1")
    ]
    assert lines == servers
    for directive in (
        "proxy_buffering off;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "keepalive 64;",
        "proxy_read_timeout 3600s;",
        "zone ftproxy",
        "pid /tmp/x/nginx.pid;",
        "listen 127.0.0.1:8080;",
    ):
        assert directive in text


def test_include_mode_renders_only_the_http_part() -> None:
    doc = valid()
    doc["router"].update(mode="include", main_config="/etc/nginx/nginx.conf")
    text = nginx.render(reading.parse(doc), State(Path("/nonexistent/state.json")))
    assert "upstream ftproxy {" in text and "\nworker_processes" not in text and "\nhttp {" not in text
    assert nginx.check_command(reading.parse(doc).router)[-2:] == ["-c", "/etc/nginx/nginx.conf"]


def test_the_rendered_config_passes_nginx_t(tmp_path: Path) -> None:
    if subprocess.run(["which", "nginx"], capture_output=True).returncode != 0:
        pytest.skip("nginx is not installed")
    doc = valid()
    doc["router"].update(
        config_path=str(tmp_path / "nginx.conf"),
        pid_file=str(tmp_path / "nginx.pid"),
        prefix=str(tmp_path),
        error_log=str(tmp_path / "error.log"),
        temp_dir=str(tmp_path / "temp"),
        access_log=str(tmp_path / "a.log"),
    )
    (tmp_path / "temp").mkdir()
    d = reading.parse(doc)
    (tmp_path / "nginx.conf").write_text(nginx.render(d, State(tmp_path / "s.json")))
    done = nginx.run_command(nginx.check_command(d.router))
    assert done.returncode == 0, done.stderr


def test_apply_puts_the_old_file_back_when_nginx_t_refuses(tmp_path: Path) -> None:
    doc = valid()
    doc["router"]["config_path"] = str(tmp_path / "nginx.conf")
    d = reading.parse(doc)
    (tmp_path / "nginx.conf").write_text("old\n")

    def refuse(argv: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "nginx: [emerg] unexpected end of file")

    with pytest.raises(nginx.RouterError, match=r"refused the new configuration.*unexpected end"):
        nginx.apply(d, State(tmp_path / "s.json"), runner=refuse)
    assert (tmp_path / "nginx.conf").read_text() == "old\n"


def test_quantile_is_histogram_quantile() -> None:
    buckets = Counter({0.1: 50.0, 0.5: 90.0, 1.0: 100.0, float("inf"): 100.0})
    assert metrics.quantile(0.5, buckets) == pytest.approx(0.1)
    assert metrics.quantile(0.9, buckets) == pytest.approx(0.5)
    assert metrics.quantile(0.99, buckets) == pytest.approx(0.95)
    assert metrics.quantile(0.99, Counter({0.1: 0.0, float("inf"): 0.0})) is None
    assert metrics.quantile(0.99, Counter({0.1: 1.0, float("inf"): 10.0})) == 0.1


SAMPLE = """\
# TYPE ftproxy_requests_total counter
ftproxy_requests_total{endpoint="/v1/chat/completions",status="200"} 90.0
ftproxy_requests_total{endpoint="/v1/chat/completions",status="502"} 10.0
ftproxy_requests_total{endpoint="/ready",status="200"} 7.0
# TYPE ftproxy_request_duration_seconds histogram
ftproxy_request_duration_seconds_bucket{endpoint="/v1/chat/completions",family="gpt",le="0.1"} 95.0
ftproxy_request_duration_seconds_bucket{endpoint="/v1/chat/completions",family="gpt",le="+Inf"} 100.0
ftproxy_request_duration_seconds_count{endpoint="/v1/chat/completions",family="gpt"} 100.0
ftproxy_request_duration_seconds_sum{endpoint="/v1/chat/completions",family="gpt"} 3.0
# TYPE python_gil_enabled gauge
python_gil_enabled 1.0
"""


def test_parse_delta_and_stats_of_a_window() -> None:
    later = metrics.parse(SAMPLE)
    earlier = metrics.parse(SAMPLE.replace("} 90.0", "} 40.0").replace("} 10.0", "} 0.0"))
    window = metrics.stats(metrics.delta(later, earlier), ("/v1/chat/completions",))
    assert (window.requests, window.errors, window.error_rate) == (60, 10, pytest.approx(1 / 6))
    assert later.gauges["python_gil_enabled"] == 1
    # A counter that went down is a restart: the later value is the window.
    restarted = metrics.delta(earlier, later)
    assert metrics.stats(restarted, ("/v1/chat/completions",)).requests == 40


W = metrics.WindowStats
JUDGE = [
    # (canary, standard, verdict)
    (None, W(100, 0, 0.1), True),  # canary /metrics unreachable
    (W(3, 3, 0.1), W(100, 0, 0.1), None),  # too few requests: no verdict
    (W(100, 0, 0.1), W(100, 0, 0.1), False),
    (W(100, 10, 0.1), W(100, 0, 0.1), True),  # 10% > max 5%
    (W(100, 2, 0.1), W(100, 0, 0.1), True),  # 2% > 0% + 1%
    (W(100, 2, 0.1), W(100, 2, 0.1), False),  # same as the standard instances
    (W(100, 0, 0.4), W(100, 0, 0.1), True),  # p99 4x the standard's
    (W(100, 0, 0.12), W(100, 0, 0.1), False),
]


@pytest.mark.parametrize(("canary", "standard", "bad"), JUDGE)
def test_watcher_verdicts(canary: Any, standard: Any, bad: bool | None) -> None:
    assert judge(model.Analysis(min_requests=20), canary, standard).bad is bad


def test_watcher_rolls_back_after_n_bad_windows_in_a_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = valid()
    doc["rollback"]["state_file"] = str(tmp_path / "state.json")
    d = reading.parse(doc)
    scrapes = {"std-1": 0, "std-2": 0, "canary": 0}

    def fake_scrape(inst: model.Instance) -> metrics.Snapshot:
        scrapes[inst.name] += 1
        n = scrapes[inst.name]
        s = metrics.Snapshot()
        s.requests[("/v1/chat/completions", "200")] = 100.0 * n
        if inst.name == "canary":
            s.requests[("/v1/chat/completions", "500")] = 50.0 * n if n > 2 else 0.0
        return s

    monkeypatch.setattr("ftproxy.deploy.watcher._scrape", fake_scrape)
    called: list[str] = []
    out = io.StringIO()
    code = watch(
        d,
        max_windows=10,
        failed_windows=2,
        wait=lambda s: None,
        out=out,
        rollback=lambda why: called.append(why) or 0,
    )
    assert code == 0 and len(called) == 1, out.getvalue()
    assert out.getvalue().count("\nwindow ") == 3  # one good window, then 2 bad ones in a row
    assert "canary analysis: 2 bad window(s) in a row" in called[0]


def test_systemd_backend_writes_a_dropin_and_restarts_the_unit(tmp_path: Path) -> None:
    doc = valid()
    doc["instances"][2]["control"] = {
        "backend": "systemd",
        "unit": "ftproxy-canary@c.service",
        "dropin_dir": str(tmp_path),
        "systemctl": ["sudo", "-n", "systemctl"],
    }
    canary = reading.parse(doc).instance("canary")
    calls: list[list[str]] = []

    def runner(argv: Any) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        return subprocess.CompletedProcess(argv, 0, "4242\n" if "show" in argv else "", "")

    backend = SystemdBackend({"PYTHON_GIL": "1"}, runner)
    done = backend.restart(canary, gil=True)
    dropin = tmp_path / "ftproxy-canary@c.service.d" / DROPIN_NAME
    assert 'Environment="PYTHON_GIL=1" "FTPROXY_GIL=on"' in dropin.read_text()
    assert calls[:2] == [
        ["sudo", "-n", "systemctl", "daemon-reload"],
        ["sudo", "-n", "systemctl", "restart", "ftproxy-canary@c.service"],
    ]
    assert done.pid == 4242
    backend.restart(canary, gil=False)
    assert not dropin.exists()

    def failing(argv: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "Job for ftproxy-canary@c.service failed")

    with pytest.raises(RuntimeError, match="daemon-reload` failed: Job for ftproxy-canary"):
        SystemdBackend({"PYTHON_GIL": "1"}, failing).restart(canary, gil=True)


def test_process_backend_environment_in_each_mode() -> None:
    canary = reading.parse(valid()).instance("canary")
    backend = ProcessBackend({"PYTHON_GIL": "1"})
    assert backend.environment(canary, gil=True)["PYTHON_GIL"] == "1"
    assert "PYTHON_GIL" not in backend.environment(canary, gil=False)
    assert "--gil on" in backend.plan(canary, gil=True)


def test_rollback_dry_run_changes_nothing(tmp_path: Path) -> None:
    doc = valid()
    doc["rollback"]["state_file"] = str(tmp_path / "state.json")
    doc["router"]["config_path"] = str(tmp_path / "nginx.conf")
    path = tmp_path / "r.yaml"
    import yaml

    path.write_text(yaml.safe_dump(doc))
    done = subprocess.run(
        [sys.executable, "-m", "ftproxy.deploy", "rollback", "--dry-run", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "step 1/4 would render `server 127.0.0.1:3003 weight=20 max_fails=3 fail_timeout=10s down;`"
        in done.stdout
    )
    assert "step 2/4 would restart canary" in done.stdout and "PYTHON_GIL=1" in done.stdout
    assert not (tmp_path / "state.json").exists() and not (tmp_path / "nginx.conf").exists()


def test_an_invalid_file_exits_2_with_the_message(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text("instances: []\nrouter: {}\nrollback: {}\n")
    done = subprocess.run(
        [sys.executable, "-m", "ftproxy.deploy", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert f"{path}: instances: must be a non-empty list" in done.stderr


def test_emergency_rollback_help_names_the_script_every_option_and_the_other_commands() -> None:
    import subprocess
    from pathlib import Path

    script = Path(__file__).parents[2] / "scripts" / "emergency_rollback.sh"
    shown = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.split())
    assert text.startswith("usage: scripts/emergency_rollback.sh rollback"), text
    assert "python -m ftproxy.deploy" not in text
    assert "--reason REASON why, recorded" in text
    for other in ("status", "promote", "watch"):
        assert f"{other} (" in text, other
