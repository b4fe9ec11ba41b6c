"""`ftproxy deploy render kubernetes`: the Kubernetes manifests, rendered from the same
`deploy/traffic_routing.yaml` as nginx's config (one source of truth, no kustomize overlay to
keep in step): a Deployment and a Service per role (standard: the GIL image; canary: the
free-threaded image, PYTHON_GIL unset), the split (ingress-nginx canary annotations, or a
Gateway API HTTPRoute), an HPA on CPU and on `ftproxy_requests_in_flight`, a PDB per role, and
a Flagger Canary with MetricTemplates making `ftproxy deploy watch`'s comparisons.

The start command's words become container args: `{host}` is 0.0.0.0, `{port}` the instance's
port, `{gil}` `$(FTPROXY_GIL)` and `${NAME}` `$(NAME)` (Kubernetes expands both from the
container's env), so the rollback is one `kubectl set env` (`rollback_env`): a rolling restart
whose old pods drain through preStop and ftproxy's own SIGTERM drain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ftproxy.deploy.model import Deployment, Instance
from ftproxy.environment import FTPROXY_GIL

KUBERNETES_VERSION = "1.31.0"  # what the tests validate against (kubernetes-validate's schemas)
APP = "ftproxy"
CONFIG_SECRET = "ftproxy-config"  # config.json (with the service key), created by the operator
CONFIG_MOUNT = "/etc/ftproxy"
# Sizing, from docs/benchmarks.md: one worker held 1,004 stream threads in 168 MiB RSS, about
# 130 KiB per stream thread, so ~40 MiB per worker process before its threads; Granian's
# supervisor process is ~37 MiB.
STREAM_KIB = 130
WORKER_BASE_MIB = 40
SUPERVISOR_MIB = 37
LIMIT_FACTOR = 2  # headroom for request bodies (client_max_body_size) and allocator slack
DRAIN_MARGIN_S = 15  # after preStop + drain delay + drain timeout, before SIGKILL
IN_FLIGHT_TARGET = 0.75  # HPA: scale out when pods average 3/4 of their stream threads busy
CPU_TARGET_PERCENT = 70
MAX_REPLICAS_FACTOR = 4


STANDARD_IMAGE = "ghcr.io/example/ftproxy:3.13"  # deploy/container/Containerfile, VARIANT=gil
CANARY_IMAGE = "ghcr.io/example/ftproxy:3.14t"  # ... VARIANT=free-threaded


@dataclass(frozen=True, slots=True)
class Images:
    standard: str = STANDARD_IMAGE
    canary: str = CANARY_IMAGE


def _flag(command: tuple[str, ...], name: str, default: str) -> str:
    words = list(command)
    return words[words.index(name) + 1] if name in words[:-1] else default


def _expand(word: str, env: Mapping[str, str]) -> str:
    for name, value in env.items():
        word = word.replace("${" + name + "}", value)
    return word


def _sizes(inst: Instance, env: Mapping[str, str]) -> tuple[int, int]:
    words = [_expand(w, env) for w in inst.command]
    return int(_flag(tuple(words), "--workers", "1")), int(_flag(tuple(words), "--threads", "64"))


def args(inst: Instance) -> list[str]:
    """The container args: the start command's words after `serve` (ENTRYPOINT is `ftproxy serve`)."""
    words = list(inst.command)
    words = words[words.index("serve") + 1 :] if "serve" in words else words[1:]
    out = []
    for word in words:
        word = word.replace("{host}", "0.0.0.0").replace("{port}", str(inst.port))
        word = word.replace("{name}", inst.name).replace("{gil}", f"$({FTPROXY_GIL})")
        out.append(word.replace("${", "$(").replace("}", ")") if "${" in word else word)
    return out


def rollback_env(deployment: Deployment) -> dict[str, str]:
    """What `kubectl set env` puts on the canary Deployment: the YAML's gil_env, and --gil on."""
    return {**deployment.rollback.gil_env, FTPROXY_GIL: "on"}


@dataclass(frozen=True, slots=True)
class Drain:
    delay_s: int
    timeout_s: int

    @property
    def grace_s(self) -> int:
        return self.delay_s + self.delay_s + self.timeout_s + DRAIN_MARGIN_S


def drain(inst: Instance) -> Drain:
    delay = float(_flag(inst.command, "--drain-delay", "5"))
    timeout = float(_flag(inst.command, "--drain-timeout", "300"))
    return Drain(math.ceil(delay), math.ceil(timeout))


def memory_mib(inst: Instance, deployment: Deployment) -> tuple[int, str]:
    """The memory request (MiB) for the larger of the instance's modes, and the arithmetic."""
    modes = [("normal", inst.env)]
    if inst.role == "canary":
        modes.append(("rolled back", {**inst.env, **deployment.rollback.gil_env}))
    best, lines = 0, []
    for label, env in modes:
        workers, threads = _sizes(inst, env)
        total = SUPERVISOR_MIB + workers * WORKER_BASE_MIB + workers * threads * STREAM_KIB / 1024
        lines.append(
            f"{label}: {SUPERVISOR_MIB} + {workers} x {WORKER_BASE_MIB} + {workers} x {threads} x "
            f"{STREAM_KIB} KiB = {total:.1f} MiB"
        )
        best = max(best, math.ceil(total / 16) * 16)
    return best, "; ".join(lines) + f" -> request {best}Mi, limit x{LIMIT_FACTOR}"


def _labels(role: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": APP, "app.kubernetes.io/component": role, "track": role}


def _meta(name: str, role: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "labels": _labels(role), **extra}


def _probe(path: str, port: int, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def deployment_object(deployment: Deployment, role: str, images: Images) -> dict[str, Any]:
    insts = [i for i in deployment.instances if i.role == role]
    inst = insts[0]
    d = drain(inst)
    mem, _ = memory_mib(inst, deployment)
    workers = max(_sizes(inst, {**inst.env, **deployment.rollback.gil_env})[0], _sizes(inst, inst.env)[0])
    env = {FTPROXY_GIL: inst.gil, **inst.env}
    container = {
        "name": APP,
        "image": images.canary if role == "canary" else images.standard,
        "args": args(inst),
        "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
        "ports": [{"name": "http", "containerPort": inst.port}],
        "readinessProbe": _probe("/ready", inst.port, 5, 2),
        "livenessProbe": _probe("/health", inst.port, 10, 6),
        "startupProbe": _probe("/health", inst.port, 2, 30),
        # The endpoints controller and the ingress need a moment to stop sending new requests;
        # then SIGTERM starts ftproxy's own drain (/ready 503 for the delay, streams finish).
        "lifecycle": {
            "preStop": {"exec": {"command": ["python", "-c", f"import time; time.sleep({d.delay_s})"]}}
        },
        "resources": {
            "requests": {"cpu": str(workers), "memory": f"{mem}Mi"},
            "limits": {"memory": f"{mem * LIMIT_FACTOR}Mi"},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "readOnlyRootFilesystem": True,
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    name = f"{APP}-{role}"
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, role),
        "spec": {
            "replicas": len(insts),
            "selector": {"matchLabels": _labels(role)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {"labels": _labels(role), "annotations": {"prometheus.io/scrape": "true"}},
                "spec": {
                    "terminationGracePeriodSeconds": d.grace_s,
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "secret": {"secretName": CONFIG_SECRET}},
                        {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"}},
                    ],
                },
            },
        },
    }


def service_object(role: str, port: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(f"{APP}-{role}", role),
        "spec": {"selector": _labels(role), "ports": [{"name": "http", "port": port, "targetPort": "http"}]},
    }


def hpa_object(deployment: Deployment, role: str) -> dict[str, Any]:
    insts = [i for i in deployment.instances if i.role == role]
    workers, threads = _sizes(insts[0], insts[0].env)
    target = int(workers * threads * IN_FLIGHT_TARGET)
    metric = {"name": "ftproxy_requests_in_flight"}
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(f"{APP}-{role}", role),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{APP}-{role}"},
            "minReplicas": len(insts),
            "maxReplicas": len(insts) * MAX_REPLICAS_FACTOR,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": CPU_TARGET_PERCENT},
                    },
                },
                {
                    "type": "Pods",
                    "pods": {
                        "metric": metric,
                        "target": {"type": "AverageValue", "averageValue": str(target)},
                    },
                },
            ],
        },
    }


def pdb_object(role: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(f"{APP}-{role}", role),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _labels(role)}},
    }


def canary_percent(deployment: Deployment, canary_weight: int | None = None) -> tuple[int, int]:
    """(canary weight, total weight): the YAML's relative weights, canary first."""
    configured = sum(i.weight for i in deployment.canaries)
    total = sum(i.weight for i in deployment.standard) + configured
    return (configured if canary_weight is None else canary_weight), total


def ingress_objects(deployment: Deployment, canary_weight: int | None = None) -> list[dict[str, Any]]:
    weight, total = canary_percent(deployment, canary_weight)
    port = deployment.standard[0].port
    out = []
    for role in ("standard", "canary"):
        annotations = {
            "nginx.ingress.kubernetes.io/proxy-read-timeout": str(deployment.router.read_timeout_s),
            "nginx.ingress.kubernetes.io/proxy-send-timeout": str(deployment.router.send_timeout_s),
            "nginx.ingress.kubernetes.io/proxy-body-size": deployment.router.client_max_body_size,
            "nginx.ingress.kubernetes.io/proxy-buffering": "off",  # SSE: every chunk at once
        }
        if role == "canary":
            annotations |= {
                "nginx.ingress.kubernetes.io/canary": "true",
                "nginx.ingress.kubernetes.io/canary-weight": str(weight),
                "nginx.ingress.kubernetes.io/canary-weight-total": str(total),
            }
        backend = {"service": {"name": f"{APP}-{role}", "port": {"number": port}}}
        out.append(
            {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": _meta(f"{APP}-{role}", role, annotations=annotations),
                "spec": {
                    "ingressClassName": "nginx",
                    "rules": [{"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]}}],
                },
            }
        )
    return out


def httproute_object(
    deployment: Deployment, gateway: str, canary_weight: int | None = None
) -> dict[str, Any]:
    weight, total = canary_percent(deployment, canary_weight)
    port = deployment.standard[0].port
    refs = [
        {"name": f"{APP}-standard", "port": port, "weight": total - weight},
        {"name": f"{APP}-canary", "port": port, "weight": weight},
    ]
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": _meta(APP, "standard"),
        "spec": {
            "parentRefs": [{"name": gateway}],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": refs,
                    "timeouts": {"request": "0s"},  # streams: no route-level deadline
                }
            ],
        },
    }
