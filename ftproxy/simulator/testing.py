"""Start a real simulator process for a test and stop it afterwards.

    with running_simulator(latency_ms=5) as base_url:
        httpx.post(f"{base_url}/oauth/token", ...)

The child is `python -m ftproxy.simulator` on a free loopback port; readiness is a poll of
/healthz against a deadline (never a fixed sleep), and the process is terminated and reaped on
exit, killed if it does not stop in time.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import httpx

from ftproxy._json import loads
from ftproxy.simulator.catalog import deployment_id
from ftproxy.simulator.settings import SimulatorSettings

API_VERSION = "2024-12-01-preview"

_FLAGS = {
    "host": "--host",
    "workers": "--workers",
    "client_id": "--client-id",
    "client_secret": "--client-secret",
    "token_ttl": "--token-ttl",
    "latency_ms": "--latency-ms",
    "ttft_ms": "--ttft-ms",
    "tokens_per_second": "--tokens-per-second",
    "response_tokens": "--response-tokens",
    "log_level": "--log-level",
    "backlog": "--backlog",
}


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def command(settings: SimulatorSettings, python: str = sys.executable) -> list[str]:
    """The argv that starts a simulator with `settings`."""
    default = SimulatorSettings()
    argv = [python, "-m", "ftproxy.simulator", "--port", str(settings.port)]
    for f in fields(SimulatorSettings):
        value = getattr(settings, f.name)
        if f.name in _FLAGS and value != getattr(default, f.name):
            argv += [_FLAGS[f.name], str(value)]
    for group in settings.resource_groups if settings.resource_groups != default.resource_groups else ():
        argv += ["--resource-group", group]
    if settings.python_literal_lines:
        argv.append("--python-literal-lines")
    return argv


def wait_healthy(base_url: str, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=1.0) as client:
        while True:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"simulator exited with status {proc.returncode} before becoming healthy")
            try:
                if client.get(f"{base_url}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"simulator at {base_url} not healthy after {timeout:.0f} s")
            # Poll interval, not synchronisation: the deadline above bounds the wait.
            time.sleep(0.02)


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


@contextmanager
def running_simulator(python: str = sys.executable, **settings: object) -> Iterator[str]:
    """Yield the base URL of a fresh simulator started with `SimulatorSettings(**settings)`.

    Without `port`, a free loopback port is chosen. The child's output goes to a temporary file
    that is printed if start-up fails.
    """
    settings.setdefault("port", free_port())
    cfg = SimulatorSettings(**settings)  # type: ignore[arg-type]
    base_url = f"http://{cfg.host}:{cfg.port}"
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(command(cfg, python), stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            try:
                wait_healthy(base_url, proc)
            except (RuntimeError, TimeoutError) as exc:
                out.seek(0)
                raise RuntimeError(
                    f"{exc}\n--- simulator output ---\n{out.read().decode(errors='replace')}"
                ) from exc
            yield base_url
        finally:
            stop(proc)


@dataclass
class SimClient:
    """An httpx client for a running simulator that knows its token, headers and paths."""

    base: str
    client: httpx.Client
    client_id: str = "sim-client"
    secret: str = "sim-secret"
    resource_group: str = "default"

    def token(self) -> str:
        reply = self.client.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.secret,
            },
        )
        if reply.status_code != 200:
            raise RuntimeError(f"token request failed: {reply.status_code} {reply.text}")
        return str(reply.json()["access_token"])

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token()}", "AI-Resource-Group": self.resource_group, **extra}

    @staticmethod
    def path(model: str, suffix: str) -> str:
        return f"/v2/inference/deployments/{deployment_id(model)}/{suffix}"

    def post(self, model: str, suffix: str, body: Any, **headers: str) -> httpx.Response:
        return self.client.post(self.path(model, suffix), json=body, headers=self.headers(**headers))

    def chat(self, body: dict[str, Any], model: str = "gpt-4.1", **headers: str) -> httpx.Response:
        return self.post(model, f"chat/completions?api-version={API_VERSION}", body, **headers)

    def stats(self) -> dict[str, Any]:
        return dict(self.client.get("/_sim/stats").json())

    def wait_stats(self, predicate: Any, timeout: float = 10.0) -> dict[str, Any]:
        """Poll /_sim/stats until `predicate(stats)` holds; bounded by `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            stats = self.stats()
            if predicate(stats):
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"stats never satisfied the condition: {stats}")
            time.sleep(0.01)  # poll interval; the deadline bounds the wait


def sse_data(text: str) -> list[str]:
    """The payloads of `data:` lines, in order."""
    return [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]


def sse_json(text: str) -> list[dict[str, Any]]:
    return [loads(d) for d in sse_data(text) if d != "[DONE]"]


__all__ = [
    "API_VERSION",
    "SimClient",
    "command",
    "free_port",
    "running_simulator",
    "sse_data",
    "sse_json",
    "stop",
    "wait_healthy",
]
