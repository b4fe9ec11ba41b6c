"""A real canary deployment on loopback: two simulators, three ftproxy instances, one nginx.

The standard instances (std-1, std-2: weight 40 each) use one simulator, the canary (weight 20)
its own, so faults injected on the canary's simulator fail only the canary's traffic. The
routing YAML is generated with free loopback ports and private paths; the instances are started
by the deploy tooling's own process backend, nginx with its own config, prefix and pid file.
Everything is stopped by PID at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from ftproxy.demo import DEMO_KEY, write_demo_config
from ftproxy.deploy import model, nginx, reading
from ftproxy.deploy.backends import Backends
from ftproxy.deploy.operations import wait_ready
from ftproxy.deploy.state import State
from ftproxy.simulator.testing import free_port, running_simulator

REPO = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.path.exists(p)), None)
DEADLINE_S = 30.0


@dataclass
class Webhook:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def webhook_server() -> Iterator[Webhook]:
    """A tiny local HTTP server that records the JSON bodies POSTed to it."""
    hook = Webhook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            import json

            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            hook.received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def routing_yaml(folder: Path, configs: dict[str, Path], webhook: str | None) -> Path:
    def instance(name: str, role: str, weight: int) -> dict[str, Any]:
        port = free_port()
        return {
            "name": name,
            "role": role,
            "address": f"127.0.0.1:{port}",
            "interpreter": sys.executable,
            "command": [
                "{interpreter}",
                "-m",
                "ftproxy",
                "serve",
                "--config",
                str(configs[role]),
                "--host",
                "{host}",
                "--port",
                "{port}",
                "--threads",
                "32",
                "--gil",
                "{gil}",
                "--drain-timeout",
                "20",
            ],
            "weight": weight,
            "control": {
                "backend": "process",
                "pid_file": f"run/{name}.pid",
                "log_file": f"logs/{name}.log",
                "stop_timeout_seconds": 30,
            },
        }

    ng = folder / "nginx"
    doc = {
        "instances": [
            instance("std-1", "standard", 40),
            instance("std-2", "standard", 40),
            instance("canary", "canary", 20),
        ],
        "router": {
            "nginx": NGINX or "nginx",
            "listen": f"127.0.0.1:{free_port()}",
            "config_path": str(ng / "nginx.conf"),
            "prefix": str(ng),
            "pid_file": str(ng / "nginx.pid"),
            "error_log": str(ng / "error.log"),
            "access_log": str(ng / "access.log"),
            "temp_dir": str(ng / "temp"),
            "worker_processes": 2,
        },
        "analysis": {
            "window_seconds": 1.5,
            "failed_windows": 2,
            "min_requests": 5,
            "max_error_rate": 0.05,
            "max_error_rate_increase": 0.01,
            "max_p99_ratio": 50,
        },
        "rollback": {
            "state_file": "state/rollout-state.json",
            "log_file": "logs/rollback.log",
            "webhook_url": webhook,
            "health_timeout_seconds": DEADLINE_S,
        },
    }
    (ng / "temp").mkdir(parents=True, exist_ok=True)
    path = folder / "traffic_routing.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@dataclass
class Stack:
    folder: Path
    yaml_path: Path
    deployment: model.Deployment
    simulators: dict[str, str]  # role -> simulator base URL
    webhook: Webhook

    @property
    def base(self) -> str:
        return f"http://{self.deployment.router.listen}"

    @property
    def canary(self) -> model.Instance:
        return self.deployment.canaries[0]

    def pid(self, inst: model.Instance) -> int | None:
        assert inst.control.pid_file is not None
        try:
            return int(inst.control.pid_file.read_text())
        except (OSError, ValueError):
            return None

    def state(self) -> State:
        return State(self.deployment.rollback.state_file)

    def deploy(self, *args: str, timeout: float = 120.0) -> tuple[int, str, float]:
        """Runs a deploy command as a real process; returns (status, output, seconds)."""
        import subprocess

        env = {**os.environ, "FTPROXY_PYTHON": sys.executable}
        t0 = time.monotonic()
        done = subprocess.run(
            [*args, "--config", str(self.yaml_path)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return done.returncode, done.stdout + done.stderr, time.monotonic() - t0


def stop_pid(pid: int, timeout_s: float = DEADLINE_S) -> None:
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=timeout_s)
    except psutil.TimeoutExpired:
        proc.kill()
    except psutil.Error:
        pass


@contextmanager
def running_stack(folder: Path) -> Iterator[Stack]:
    with ExitStack() as stack:
        hook = stack.enter_context(webhook_server())
        sims = {role: stack.enter_context(running_simulator()) for role in ("standard", "canary")}
        configs = {}
        for role, url in sims.items():
            (folder / role).mkdir(parents=True, exist_ok=True)
            configs[role] = write_demo_config(folder / role, url, host="127.0.0.1", port=3001)
        yaml_path = routing_yaml(folder, configs, hook.url)
        deployment = reading.load(yaml_path)
        result = Stack(folder, yaml_path, deployment, sims, hook)
        backends = Backends(deployment.rollback.gil_env)

        def stop_all() -> None:
            for inst in deployment.instances:
                pid = result.pid(inst)
                if pid is not None:
                    stop_pid(pid)
            nginx.stop(deployment.router)

        stack.callback(stop_all)
        for inst in deployment.instances:
            backends(inst).start(inst, gil=False)
        wait_ready(list(deployment.instances), DEADLINE_S)
        nginx.apply(deployment, State(deployment.rollback.state_file), start_if_stopped=True)
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                if httpx.get(result.base + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "nginx never answered"
            time.sleep(0.05)  # poll interval; the deadline bounds the wait
        yield result


# ---- clients ----

HEADERS = {"Authorization": f"Bearer {DEMO_KEY}"}


def no_keepalive_client() -> httpx.Client:
    """A client that opens a new connection to nginx per request.

    On a reload, nginx's old workers close their idle client keep-alive connections; a request
    sent on one at that very moment is lost before nginx reads it ("Server disconnected without
    sending a response"), and no HTTP client may resend a POST by itself. Real SDKs retry such
    connection errors (the OpenAI and Anthropic SDKs, twice by default); this load does not
    retry at all, so it uses fresh connections, which nginx never drops on a reload.
    """
    return httpx.Client(timeout=DEADLINE_S, limits=httpx.Limits(max_keepalive_connections=0))


def chat(client: httpx.Client, base: str, text: str = "Hi", stream: bool = False) -> tuple[int, str, str]:
    """One chat request through nginx: (status, upstream address, body or the last data line)."""
    body = {"model": "gpt-4.1", "stream": stream, "messages": [{"role": "user", "content": text}]}
    if not stream:
        reply = client.post(base + "/v1/chat/completions", json=body, headers=HEADERS)
        return reply.status_code, reply.headers.get(nginx.UPSTREAM_HEADER, ""), reply.text
    with client.stream("POST", base + "/v1/chat/completions", json=body, headers=HEADERS) as reply:
        data = [line for line in reply.iter_lines() if line.startswith("data:")]
        return reply.status_code, reply.headers.get(nginx.UPSTREAM_HEADER, ""), data[-1] if data else ""


def metric_sum(url: str, name: str, **labels: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    total = 0.0
    for family in text_string_to_metric_families(httpx.get(url, timeout=5).text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                total += s.value
    return total
