"""Rollback and promote on Kubernetes (`--target kubernetes`), through `kubectl`: the same steps,
printing and record as the nginx path (operations.py), on the objects `render kubernetes` makes.

Rollback: (1) traffic off the canary: the traffic objects re-rendered with canary weight 0 (the
ingress-nginx canary annotation or the HTTPRoute weights) and applied; (2) `kubectl set env` on
the canary Deployment (PYTHON_GIL=1 and the rest of rollback.gil_env, --gil on): a rolling
restart whose old pods drain through preStop and ftproxy's SIGTERM drain, waited for with
`kubectl rollout status`; (3) every Deployment rolled out and all its replicas ready, the canary
with PYTHON_GIL=1; (4) record and notify. Promote is the reverse: the canary's own environment
back (PYTHON_GIL removed), rolled out and ready, then its weight back.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from ftproxy.deploy import kubernetes, manifests
from ftproxy.deploy.model import Deployment
from ftproxy.deploy.operations import StepFailed, Steps, _dry, _run
from ftproxy.deploy.state import State
from ftproxy.environment import FTPROXY_GIL, PYTHON_GIL

CANARY = f"deployment/{kubernetes.APP}-canary"
ROLES = ("standard", "canary")


@dataclass(frozen=True, slots=True)
class Kubectl:
    executable: str = "kubectl"
    namespace: str | None = None
    timeout_s: float = 900.0

    def argv(self, *words: str) -> list[str]:
        return [self.executable, *(("-n", self.namespace) if self.namespace else ()), *words]

    def __call__(self, *words: str, stdin: str | None = None) -> str:
        argv = self.argv(*words)
        try:
            done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=self.timeout_s)
        except FileNotFoundError as exc:
            raise StepFailed(f"{self.executable} not found (Debian: apt install kubernetes-client)") from exc
        except subprocess.TimeoutExpired as exc:
            raise StepFailed(f"`{' '.join(argv)}` still running after {self.timeout_s:g} s") from exc
        if done.returncode != 0:
            raise StepFailed(f"`{' '.join(argv)}` exited {done.returncode}: {done.stderr.strip()[-500:]}")
        return done.stdout.strip()


def traffic_yaml(deployment: Deployment, state: State, traffic: manifests.Traffic) -> str:
    """The traffic objects only (Ingresses or the HTTPRoute), as `render kubernetes` makes them."""
    kinds = ("Ingress", "HTTPRoute")
    objs = [(c, o) for c, o in manifests.objects(deployment, state, traffic=traffic) if o["kind"] in kinds]
    return manifests.documents(objs)


def _set_env_words(values: dict[str, str | None]) -> list[str]:
    return [
        "set",
        "env",
        CANARY,
        *(f"{k}={v}" if v is not None else f"{k}-" for k, v in sorted(values.items())),
    ]


def gil_env(deployment: Deployment) -> dict[str, str | None]:
    return dict(kubernetes.rollback_env(deployment))


def normal_env(deployment: Deployment) -> dict[str, str | None]:
    """The canary's own environment back: its env values, and what only gil_env set removed."""
    canary = deployment.canaries[0]
    own = {FTPROXY_GIL: canary.gil, **canary.env}
    return {k: own.get(k) for k in gil_env(deployment)}


def _rollout_words(role: str, timeout_s: int) -> list[str]:
    return ["rollout", "status", f"deployment/{kubernetes.APP}-{role}", f"--timeout={timeout_s}s"]


def _timeout(deployment: Deployment) -> int:
    """A rolling restart may wait a whole drain per pod: grace + the health timeout."""
    grace = kubernetes.drain(deployment.canaries[0]).grace_s
    return int(grace * max(1, len(deployment.canaries)) + deployment.rollback.health_timeout_s)


def _container_env(obj: dict[str, Any]) -> dict[str, str]:
    containers = obj["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", "") for e in containers[0].get("env", [])}


def verify(kubectl: Kubectl, deployment: Deployment, want_gil: bool) -> str:
    timeout = _timeout(deployment)
    for role in ROLES:
        kubectl(*_rollout_words(role, timeout))
    notes = []
    for role in ROLES:
        obj = json.loads(kubectl("get", f"deployment/{kubernetes.APP}-{role}", "-o", "json"))
        wanted = obj["spec"].get("replicas", 1)
        ready = obj.get("status", {}).get("readyReplicas", 0)
        if ready < wanted:
            raise StepFailed(f"{kubernetes.APP}-{role}: {ready} of {wanted} replicas ready")
        notes.append(f"{kubernetes.APP}-{role} {ready}/{wanted} ready")
        if role == "canary":
            gil = _container_env(obj).get(PYTHON_GIL)
            if (gil == "1") != want_gil:
                raise StepFailed(
                    f"{kubernetes.APP}-canary has PYTHON_GIL={gil!r}, wanted {'1' if want_gil else 'unset'}"
                )
            notes.append(f"canary PYTHON_GIL={gil or 'unset'}")
    return ", ".join(notes)


def _plan(
    steps: Steps,
    kubectl: Kubectl,
    lines: list[tuple[str, list[list[str]], str | None]],
    deployment: Deployment,
) -> int:
    for number, (title, commands, stdin) in enumerate(lines, 1):
        shown = "; then ".join(" ".join(kubectl.argv(*words)) for words in commands)
        steps.say(f"step {number}/4 would {title}: {shown}")
        if stdin is not None:
            print(stdin, file=steps.out)
    hook = f" and POST to {deployment.rollback.webhook_url}" if deployment.rollback.webhook_url else ""
    steps.say(
        f"step 4/4 would record to {deployment.rollback.state_file} and {deployment.rollback.log_file}{hook}"
    )
    return 0


def _verify_words(deployment: Deployment) -> list[list[str]]:
    timeout = _timeout(deployment)
    rollouts = [_rollout_words(role, timeout) for role in ROLES]
    return rollouts + [["get", f"deployment/{kubernetes.APP}-{role}", "-o", "json"] for role in ROLES]


def _restart_words(deployment: Deployment, env: dict[str, str | None]) -> list[list[str]]:
    return [
        ["get", CANARY, "-o", "json"],
        _set_env_words(env),
        _rollout_words("canary", _timeout(deployment)),
    ]


def _apply_traffic(
    kubectl: Kubectl, deployment: Deployment, state: State, traffic: manifests.Traffic, routed: bool
) -> str:
    for c in deployment.canaries:
        state.update_instance(c.name, routed=routed)
    detail = kubectl("apply", "-f", "-", stdin=traffic_yaml(deployment, state, traffic))
    state.save()
    return detail.replace("\n", "; ")


def _restart(
    kubectl: Kubectl, deployment: Deployment, state: State, env: dict[str, str | None], mode: str
) -> str:
    current = _container_env(json.loads(kubectl("get", CANARY, "-o", "json")))
    if all(current.get(k) == v for k, v in env.items()) and state.mode(deployment.canaries[0].name) == mode:
        return f"{CANARY} already runs in {mode} mode: not restarted"
    out = kubectl(*_set_env_words(env))
    out += "; " + kubectl(*_rollout_words("canary", _timeout(deployment)))
    for c in deployment.canaries:
        state.update_instance(c.name, mode=mode)
    state.save()
    return out


def operate(
    action: Literal["rollback", "promote"],
    deployment: Deployment,
    *,
    reason: str,
    dry_run: bool = False,
    traffic: manifests.Traffic = "ingress",
    kubectl: Kubectl | None = None,
    out: TextIO = sys.stdout,
) -> int:
    """Rollback: traffic off, restart with the GIL, verify; promote: restart, verify, traffic back."""
    to_gil = action == "rollback"
    tool = kubectl or Kubectl()
    state = State(deployment.rollback.state_file)
    steps = Steps(action, 4, out)
    env, mode = (gil_env(deployment), "gil") if to_gil else (normal_env(deployment), "normal")
    what = f"emergency rollback of {CANARY}" if to_gil else f"promote {CANARY} back to its weight"
    steps.say(f"{what} on Kubernetes ({reason}){_dry(dry_run)}")
    planned = State(deployment.rollback.state_file)
    for c in deployment.canaries:
        planned.update_instance(c.name, routed=not to_gil)
    moves = "off" if to_gil else "back to"
    route = (
        f"traffic {moves} the canary (kubectl apply; canary weight {'0' if to_gil else 'as configured'})",
        [["apply", "-f", "-"]],
        traffic_yaml(deployment, planned, traffic),
        lambda: _apply_traffic(tool, deployment, state, traffic, not to_gil),
    )
    restart = (
        f"restart the canary in {mode} mode (kubectl set env: a rolling restart, pods drain in preStop)",
        _restart_words(deployment, env),
        None,
        lambda: _restart(tool, deployment, state, env, mode),
    )
    check = (
        f"verify every Deployment (rollout status, readiness, PYTHON_GIL {'1' if to_gil else 'unset'})",
        _verify_words(deployment),
        None,
        lambda: verify(tool, deployment, want_gil=to_gil),
    )
    order = [route, restart, check] if to_gil else [restart, check, route]
    if dry_run:
        return _plan(steps, tool, [(title, words, stdin) for title, words, stdin, _ in order], deployment)
    plan = [(n, title, run) for n, (title, _, _, run) in enumerate(order, 1)]
    return _run(deployment, state, steps, reason, plan)
