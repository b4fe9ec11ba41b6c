"""`scripts/emergency_rollback.sh --target kubernetes` and `promote --target kubernetes`,
against a fake `kubectl` on PATH (tests/canary/fake_kubectl.py) that records its arguments and
keeps the objects it is given: the traffic moves, the canary gets PYTHON_GIL=1 by a rolling
restart, health is checked, the result is recorded; --dry-run changes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ftproxy.deploy import manifests, reading
from ftproxy.deploy.state import State

pytestmark = pytest.mark.canary

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "emergency_rollback.sh"


@pytest.fixture
def cluster(tmp_path: Path) -> dict[str, Any]:
    """A routing YAML writing its state under tmp_path, and a fake kubectl holding the render."""
    text = (ROOT / "deploy" / "traffic_routing.yaml").read_text()
    text = text.replace("/var/lib/ftproxy/rollout-state.json", str(tmp_path / "state.json"))
    text = text.replace("/var/log/ftproxy/rollback.log", str(tmp_path / "rollback.log"))
    config = tmp_path / "traffic_routing.yaml"
    config.write_text(text)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).parent / "fake_kubectl.py"}" "$@"\n'
    )
    kubectl.chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "FAKE_KUBECTL_DIR": str(tmp_path),
        "FTPROXY_PYTHON": sys.executable,
    }
    for traffic in ("ingress", "gateway"):
        everything = manifests.render(reading.load(config), State(tmp_path / "none.json"), traffic=traffic)
        subprocess.run(
            ["kubectl", "apply", "-f", "-"],
            input=everything,
            env=env,
            text=True,
            check=True,
            capture_output=True,
        )
    (tmp_path / "calls.jsonl").unlink()
    return {"config": config, "env": env, "dir": tmp_path}


def run(cluster: dict[str, Any], *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args, "--config", str(cluster["config"]), "--target", "kubernetes"],
        env={**cluster["env"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def calls(cluster: dict[str, Any]) -> list[dict[str, Any]]:
    path = cluster["dir"] / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def objects(cluster: dict[str, Any]) -> dict[str, Any]:
    return json.loads((cluster["dir"] / "objects.json").read_text())


def canary_env(cluster: dict[str, Any]) -> dict[str, str]:
    container = objects(cluster)["deployment/ftproxy-canary"]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"]}


def test_rollback_then_promote(cluster: dict[str, Any]) -> None:
    done = run(cluster, "--reason", "p99 regression")
    assert done.returncode == 0, done.stdout + done.stderr
    argvs = [c["argv"] for c in calls(cluster)]
    assert argvs[0] == ["apply", "-f", "-"]
    assert argvs[1:4] == [
        ["get", "deployment/ftproxy-canary", "-o", "json"],
        [
            "set",
            "env",
            "deployment/ftproxy-canary",
            "FTPROXY_GIL=on",
            "FTPROXY_THREADS=64",
            "FTPROXY_WORKERS=4",
            "PYTHON_GIL=1",
        ],
        ["rollout", "status", "deployment/ftproxy-canary", "--timeout=445s"],
    ]
    assert ["rollout", "status", "deployment/ftproxy-standard", "--timeout=445s"] in argvs[4:]
    annotations = objects(cluster)["ingress/ftproxy-canary"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "0"
    assert canary_env(cluster)["PYTHON_GIL"] == "1"
    state = json.loads((cluster["dir"] / "state.json").read_text())
    assert state["last_rollback"]["ok"] is True and state["last_rollback"]["reason"] == "p99 regression"
    assert (
        state["instances"]["canary-ft"] | {"routed": False, "mode": "gil"} == state["instances"]["canary-ft"]
    )
    assert json.loads((cluster["dir"] / "rollback.log").read_text().splitlines()[-1])["action"] == "rollback"

    again = run(cluster)  # idempotent: no second restart
    assert again.returncode == 0, again.stdout + again.stderr
    assert sum(c["argv"][:2] == ["set", "env"] for c in calls(cluster)) == 1
    assert "already runs in gil mode" in again.stdout

    promoted = subprocess.run(
        [str(SCRIPT), "promote", "--config", str(cluster["config"]), "--target", "kubernetes"],
        env=cluster["env"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert promoted.returncode == 0, promoted.stdout + promoted.stderr
    env = canary_env(cluster)
    assert "PYTHON_GIL" not in env and env["FTPROXY_GIL"] == "auto" and env["FTPROXY_THREADS"] == "256"
    last = calls(cluster)[-1]
    assert last["argv"] == ["apply", "-f", "-"]  # traffic back only after the canary is verified
    annotations = objects(cluster)["ingress/ftproxy-canary"]["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/canary-weight"] == "20"


def test_gateway_weights_and_namespace(cluster: dict[str, Any]) -> None:
    done = run(cluster, "--traffic", "gateway", "--namespace", "llm")
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(c["argv"][:2] == ["-n", "llm"] for c in calls(cluster))
    route = objects(cluster)["httproute/ftproxy"]
    assert [r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]] == [100, 0]


def test_a_stuck_rollout_fails_and_is_recorded(cluster: dict[str, Any]) -> None:
    done = run(cluster, FAKE_KUBECTL_FAIL="rollout")
    assert done.returncode == 1
    assert "exceeded its progress deadline" in done.stdout
    state = json.loads((cluster["dir"] / "state.json").read_text())
    assert state["last_rollback"]["ok"] is False and "step 2" in state["last_rollback"]["error"]


def test_dry_run_prints_commands_and_manifests_and_changes_nothing(cluster: dict[str, Any]) -> None:
    before = objects(cluster)
    done = run(cluster, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls(cluster) == []
    assert objects(cluster) == before and not (cluster["dir"] / "state.json").exists()
    set_env = "kubectl set env deployment/ftproxy-canary FTPROXY_GIL=on FTPROXY_THREADS=64 FTPROXY_WORKERS=4"
    assert set_env + " PYTHON_GIL=1" in done.stdout
    assert "kubectl apply -f -" in done.stdout
    printed = [
        d
        for d in yaml.safe_load_all(
            "\n".join(line for line in done.stdout.splitlines() if not line.startswith("["))
        )
        if d
    ]
    canary = next(d for d in printed if d["metadata"]["name"] == "ftproxy-canary")
    assert canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == "0"
