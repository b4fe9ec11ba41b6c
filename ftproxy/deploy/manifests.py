"""The Kubernetes manifests as one multi-document YAML text (`ftproxy deploy render kubernetes`).

A pure function of the deployment and the rollout state, like nginx's config: a rolled-back
canary is rendered with weight 0 and its GIL environment, so what the rollback applies is what
`render` shows. The YAML is written here (strings JSON-quoted, which YAML reads as they are) so
that PyYAML stays confined to reading.py.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from ftproxy.deploy import flagger, kubernetes
from ftproxy.deploy.model import Deployment
from ftproxy.deploy.state import State

Traffic = Literal["ingress", "gateway"]
TRAFFIC: tuple[Traffic, ...] = ("ingress", "gateway")
_PLAIN_KEY = re.compile(r"^[A-Za-z0-9._/-]+$")


def _scalar(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _key(key: str) -> str:
    return key if _PLAIN_KEY.match(key) else _scalar(key)


def to_yaml(value: Any, indent: int = 0) -> list[str]:
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return [pad + "{}"]
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{_key(k)}:")
                lines.extend(to_yaml(v, indent + (0 if isinstance(v, list) else 2)))
            else:
                lines.append(f"{pad}{_key(k)}: {to_yaml(v)[0].strip()}")
        return lines
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        lines = []
        for item in value:
            sub = to_yaml(item, indent + 2)
            lines.append(f"{pad}- {sub[0].strip()}")
            lines.extend(sub[1:])
        return lines
    return [pad + _scalar(value)]


def objects(
    deployment: Deployment,
    state: State,
    *,
    traffic: Traffic = "ingress",
    gateway: str = "ftproxy-gateway",
    images: kubernetes.Images | None = None,
    with_flagger: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    """(comment, object) pairs in apply order."""
    rolled_back = any(state.mode(i.name) == "gil" for i in deployment.canaries)
    weight = None if all(state.routed(i.name) for i in deployment.canaries) else 0
    port = deployment.standard[0].port
    out: list[tuple[str, dict[str, Any]]] = []
    for role in ("standard", "canary"):
        obj = kubernetes.deployment_object(deployment, role, images or kubernetes.Images())
        inst = next(i for i in deployment.instances if i.role == role)
        d = kubernetes.drain(inst)
        _, sizing = kubernetes.memory_mib(inst, deployment)
        if role == "canary" and rolled_back:
            env = {e["name"]: e["value"] for e in obj["spec"]["template"]["spec"]["containers"][0]["env"]}
            env.update(kubernetes.rollback_env(deployment))
            obj["spec"]["template"]["spec"]["containers"][0]["env"] = [
                {"name": k, "value": v} for k, v in sorted(env.items())
            ]
        note = (
            f"{role}: memory {sizing}.\n"
            f"terminationGracePeriodSeconds = preStop {d.delay_s} + --drain-delay {d.delay_s} + "
            f"--drain-timeout {d.timeout_s} + margin {kubernetes.DRAIN_MARGIN_S} = {d.grace_s} s."
        )
        if role == "canary":
            note += (
                "\nRolled back: PYTHON_GIL=1 (kubectl set env)."
                if rolled_back
                else "\nPYTHON_GIL unset: GIL off on 3.14t."
            )
        out.append((note, obj))
        out.append(("", kubernetes.service_object(role, port)))
        out.append(
            (
                "HPA: CPU, and in-flight requests per pod (a Pods metric: needs prometheus-adapter).",
                kubernetes.hpa_object(deployment, role),
            )
        )
        out.append(("", kubernetes.pdb_object(role)))
    canary_weight, total = kubernetes.canary_percent(deployment, weight)
    split = f"canary weight {canary_weight} of {total}" + (" (traffic off the canary)" if weight == 0 else "")
    if traffic == "ingress":
        for obj in kubernetes.ingress_objects(deployment, weight):
            out.append((f"ingress-nginx: {split}.", obj))
    else:
        out.append((f"Gateway API: {split}.", kubernetes.httproute_object(deployment, gateway, weight)))
    if with_flagger:
        full, _ = kubernetes.canary_percent(deployment)
        for obj in flagger.objects(deployment, port, round(100 * full / total)):
            out.append(("Flagger: the comparisons of `ftproxy deploy watch`.", obj))
    return out


def render(deployment: Deployment, state: State, **options: Any) -> str:
    head = (
        f"# Rendered by `ftproxy deploy render kubernetes` from {deployment.source}: edit that file,\n"
        "# not this output. Needs the Secret ftproxy-config (config.json with the service key).\n"
    )
    return head + documents(objects(deployment, state, **options)) + "\n"


def documents(pairs: list[tuple[str, dict[str, Any]]]) -> str:
    """YAML documents, each with its comment lines."""
    docs = ["\n".join(["---", *(f"# {line}" for line in c.splitlines()), *to_yaml(o)]) for c, o in pairs]
    return "\n".join(docs)
