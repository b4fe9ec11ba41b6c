"""`ftproxy deploy render kubernetes`: every core object validated against Kubernetes' own
OpenAPI schemas (kubernetes-validate, strict, a pinned version), the CRD objects (HTTPRoute,
Flagger Canary and MetricTemplate) against the schemas kept in deploy/schemas/, the rendering
compared with golden files (FTPROXY_UPDATE_GOLDEN=1 rewrites them), and the derived figures
checked against their sources (the YAML, the watcher's thresholds, the exported metric)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from ftproxy import environment
from ftproxy.deploy import kubernetes, manifests, reading
from ftproxy.deploy.state import State
from ftproxy.observe import metrics as exported

pytestmark = pytest.mark.canary

ROOT = Path(__file__).resolve().parents[2]
ROUTING = ROOT / "deploy" / "traffic_routing.yaml"
SCHEMAS = ROOT / "deploy" / "schemas"
GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FTPROXY_UPDATE_GOLDEN") == "1"
CRDS = {
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): "httproute.gateway.networking.k8s.io.v1.json",
    ("flagger.app/v1beta1", "Canary"): "canary.flagger.app.v1beta1.json",
    ("flagger.app/v1beta1", "MetricTemplate"): "metrictemplate.flagger.app.v1beta1.json",
}
CASES = {
    "ingress.yaml": {"traffic": "ingress"},
    "gateway-flagger.yaml": {"traffic": "gateway", "with_flagger": True},
    "ingress-rolled-back.yaml": {"traffic": "ingress", "rolled_back": True},
}


def rendered(
    tmp_path: Path, traffic: str = "ingress", with_flagger: bool = False, rolled_back: bool = False
) -> str:
    deployment = reading.load(ROUTING)
    state = State(tmp_path / "state.json")
    if rolled_back:
        for inst in deployment.canaries:
            state.update_instance(inst.name, routed=False, mode="gil")
    return manifests.render(deployment, state, traffic=traffic, with_flagger=with_flagger)


def documents(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_object_validates(tmp_path: Path, name: str) -> None:
    docs = documents(rendered(tmp_path, **CASES[name]))
    kinds = set()
    for doc in docs:
        kinds.add(doc["kind"])
        crd = CRDS.get((doc["apiVersion"], doc["kind"]))
        if crd:
            jsonschema.validate(doc, json.loads((SCHEMAS / crd).read_text()))
        else:
            kubernetes_validate.validate(doc, kubernetes.KUBERNETES_VERSION, strict=True)
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds


def test_validation_catches_a_wrong_field(tmp_path: Path) -> None:
    """The validators are not vacuous: a misspelt field fails both kinds of schema."""
    docs = documents(rendered(tmp_path, traffic="gateway", with_flagger=True))
    dep = next(d for d in docs if d["kind"] == "Deployment")
    dep["spec"]["template"]["spec"]["terminationGracePeriod"] = 1
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, kubernetes.KUBERNETES_VERSION, strict=True)
    route = next(d for d in docs if d["kind"] == "HTTPRoute")
    route["spec"]["rules"][0]["backendRefs"][0]["weigth"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(
            route, json.loads((SCHEMAS / CRDS[("gateway.networking.k8s.io/v1", "HTTPRoute")]).read_text())
        )


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(tmp_path: Path, name: str) -> None:
    # The header names the source file as loaded: an absolute path that differs per checkout.
    text = rendered(tmp_path, **CASES[name]).replace(str(ROUTING), "deploy/traffic_routing.yaml")
    if UPDATE:
        (GOLDEN / name).write_text(text)
    assert text == (GOLDEN / name).read_text(), (
        f"rendering changed: FTPROXY_UPDATE_GOLDEN=1 to accept ({name})"
    )


def by_kind(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def env_of(doc: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_figures_come_from_their_sources(tmp_path: Path) -> None:
    deployment = reading.load(ROUTING)
    docs = documents(rendered(tmp_path, traffic="gateway", with_flagger=True))
    canary = by_kind(docs, "Deployment", "ftproxy-canary")
    standard = by_kind(docs, "Deployment", "ftproxy-standard")
    assert "PYTHON_GIL" not in env_of(canary)
    assert canary["spec"]["template"]["spec"]["containers"][0]["image"].endswith("3.14t")
    assert standard["spec"]["replicas"] == len(deployment.standard)
    # 5 s preStop + 5 s --drain-delay + 300 s --drain-timeout + 15 s margin
    assert canary["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 325
    container = canary["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    # 37 + 4 x 40 + 4 x 64 x 130 KiB = 229.5 MiB (the rolled-back mode is the larger) -> 240Mi
    assert container["resources"]["requests"]["memory"] == "240Mi"
    route = by_kind(docs, "HTTPRoute", "ftproxy")
    assert [r["weight"] for r in route["spec"]["rules"][0]["backendRefs"]] == [80, 20]
    hpa = by_kind(docs, "HorizontalPodAutoscaler", "ftproxy-canary")
    metric = hpa["spec"]["metrics"][1]["pods"]["metric"]["name"]
    assert metric == exported.REQUESTS_IN_FLIGHT._name  # the gauge ftproxy really exports
    flagger = by_kind(docs, "Canary", "ftproxy-canary")["spec"]["analysis"]
    a = deployment.analysis
    assert flagger["threshold"] == a.failed_windows and flagger["interval"] == f"{int(a.window_seconds)}s"
    limits = {m["name"]: m["thresholdRange"]["max"] for m in flagger["metrics"]}
    assert limits == {
        "error-rate": a.max_error_rate,
        "error-rate-increase": a.max_error_rate_increase,
        "p99-ratio": a.max_p99_ratio,
    }


def test_rolled_back_canary_has_weight_zero_and_the_gil(tmp_path: Path) -> None:
    docs = documents(rendered(tmp_path, rolled_back=True))
    env = env_of(by_kind(docs, "Deployment", "ftproxy-canary"))
    assert env["PYTHON_GIL"] == "1" and env[environment.FTPROXY_GIL] == "on"
    assert env["FTPROXY_WORKERS"] == "4" and env["FTPROXY_THREADS"] == "64"
    ingress = by_kind(docs, "Ingress", "ftproxy-canary")["metadata"]["annotations"]
    assert ingress["nginx.ingress.kubernetes.io/canary-weight"] == "0"


def test_cli_renders_kubernetes() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "ftproxy.deploy",
            "render",
            "kubernetes",
            "--traffic",
            "gateway",
            "--config",
            str(ROUTING),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert any(d["kind"] == "HTTPRoute" for d in documents(out))
