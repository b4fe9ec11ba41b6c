"""deploy/container/Containerfile: no engine can build it here, so its exact entry command line
(ENTRYPOINT + CMD, exec form) runs outside a container with the environment its ENV lines set,
against the built-in simulator, and must serve /health and a chat completion; its HEALTHCHECK
command must pass against it; SIGTERM (its STOPSIGNAL) must stop it."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ftproxy.demo import DEMO_KEY
from ftproxy.simulator.testing import free_port, running_simulator, stop
from tests.e2e.processes import proxy_config, wait_for_health

pytestmark = pytest.mark.canary

CONTAINERFILE = Path(__file__).resolve().parents[2] / "deploy" / "container" / "Containerfile"


def instructions(path: Path = CONTAINERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    return out


def one(name: str) -> str:
    found = [rest for word, rest in instructions() if word == name]
    assert len(found) == 1, f"{name}: expected exactly one, found {found}"
    return found[0]


def exec_form(text: str) -> list[str]:
    value = json.loads(text)  # exec form: a JSON array, so no shell is between the engine and ftproxy
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            key, _, value = rest.partition("=")
            env[key] = shlex.split(value)[0] if value else ""
    return env


def test_recipe_shape() -> None:
    words = [w for w, _ in instructions()]
    assert one("STOPSIGNAL") == "SIGTERM"
    assert one("USER").split(":")[0] != "0" and "root" not in one("USER")
    assert "ARG" in words and any("VARIANT" in rest for w, rest in instructions() if w == "ARG")
    assert one("ENTRYPOINT") and exec_form(one("ENTRYPOINT"))[:2] == ["ftproxy", "serve"]
    env = image_env()
    assert env["FTPROXY_CONFIG"].startswith("/etc/ftproxy/")  # the mounted Secret
    assert env["TMPDIR"] == "/tmp"  # the only writable path (emptyDir): drain file, metrics folder
    assert "PYTHON_GIL" not in env  # the rollback sets it, the image never does


def test_entry_command_serves_health_and_chat_then_stops_on_sigterm(tmp_path: Path) -> None:
    argv = exec_form(one("ENTRYPOINT")) + exec_form(one("CMD"))
    healthcheck = one("HEALTHCHECK")
    check_argv = exec_form(healthcheck[healthcheck.index("CMD ") + 4 :])
    port = free_port()
    with running_simulator() as simulator:
        config = proxy_config(tmp_path, simulator)
        # What the mounted Secret would hold, on this machine's loopback and a free port.
        config.write_text(json.dumps({**json.loads(config.read_text()), "host": "127.0.0.1", "port": port}))
        env = dict(os.environ)
        env.update(image_env())
        root = f"http://127.0.0.1:{port}"
        # The image's venv is on its PATH first; here the repository's venv stands in for it.
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        env["FTPROXY_CONFIG"] = str(config)  # the Secret's mount point, here a temporary file
        env["TMPDIR"] = str(tmp_path)  # the emptyDir
        env["FTPROXY_HEALTH_URL"] = root + "/health"
        log = tmp_path / "entry.log"
        with log.open("wb") as out:
            process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for_health(root + "/health", process, log)
            assert subprocess.run(check_argv, env=env, timeout=30).returncode == 0
            reply = httpx.post(
                root + "/v1/chat/completions",
                headers={"Authorization": f"Bearer {DEMO_KEY}"},
                json={"model": "gpt-4.1", "messages": [{"role": "user", "content": "hello"}]},
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["choices"][0]["message"]["content"]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=60) == 0, log.read_text()[-3000:]
            assert not list(tmp_path.glob("ftproxy-drain-*"))  # its private temp folder is gone
        finally:
            stop(process)
