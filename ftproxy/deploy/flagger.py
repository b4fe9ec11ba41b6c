"""The Flagger `Canary` and its `MetricTemplate`s: the comparisons `ftproxy deploy watch` makes
(ftproxy/deploy/watcher.py), as PromQL over the same series and the same thresholds:

- the canary's 5xx share on the analysed endpoints, at most `max_error_rate`;
- that share minus the standard pods' share, at most `max_error_rate_increase`;
- the canary's p99 of `ftproxy_request_duration_seconds` over the standard pods' p99, at most
  `max_p99_ratio` (and, when set, the canary's p99 at most `max_p99_seconds`).

A failed check per interval counts towards `threshold` (= `failed_windows`) as a bad window
does for the watcher. Pods are told apart by the `pod` label Prometheus' Kubernetes service
discovery gives them (`ftproxy-canary-…`, `ftproxy-standard-…`).
"""

from __future__ import annotations

from typing import Any

from ftproxy.deploy.model import Analysis, Deployment

PROVIDER = {"type": "prometheus", "address": "http://prometheus.monitoring:9090"}


def _selector(role: str, endpoints: tuple[str, ...], extra: str = "") -> str:
    pattern = "|".join(endpoints)
    return f'namespace="{{{{ namespace }}}}",pod=~"ftproxy-{role}-.*",endpoint=~"{pattern}"{extra}'


def _error_rate(role: str, a: Analysis) -> str:
    failed = _selector(role, a.endpoints, ',status=~"5.."')
    every = _selector(role, a.endpoints)
    return (
        f"(sum(rate(ftproxy_requests_total{{{failed}}}[{{{{ interval }}}}])) or vector(0))"
        f" / sum(rate(ftproxy_requests_total{{{every}}}[{{{{ interval }}}}]))"
    )


def _p99(role: str, a: Analysis) -> str:
    sel = _selector(role, a.endpoints)
    return (
        f"histogram_quantile(0.99, sum by (le) "
        f"(rate(ftproxy_request_duration_seconds_bucket{{{sel}}}[{{{{ interval }}}}])))"
    )


def checks(a: Analysis) -> list[tuple[str, str, float]]:
    """(name, PromQL, maximum) for every comparison the watcher makes."""
    out = [
        ("error-rate", _error_rate("canary", a), a.max_error_rate),
        (
            "error-rate-increase",
            f"({_error_rate('canary', a)}) - ({_error_rate('standard', a)})",
            a.max_error_rate_increase,
        ),
        ("p99-ratio", f"({_p99('canary', a)}) / ({_p99('standard', a)})", a.max_p99_ratio),
    ]
    if a.max_p99_seconds is not None:
        out.append(("p99-seconds", _p99("canary", a), a.max_p99_seconds))
    return out


def objects(
    deployment: Deployment, port: int, canary_weight: int, provider: dict[str, str] = PROVIDER
) -> list[dict[str, Any]]:
    a = deployment.analysis
    interval = f"{int(a.window_seconds)}s"
    labels = {"app.kubernetes.io/name": "ftproxy", "app.kubernetes.io/component": "canary"}
    templates = [
        {
            "apiVersion": "flagger.app/v1beta1",
            "kind": "MetricTemplate",
            "metadata": {"name": f"ftproxy-{name}", "labels": labels},
            "spec": {"provider": provider, "query": query},
        }
        for name, query, _ in checks(a)
    ]
    canary = {
        "apiVersion": "flagger.app/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "ftproxy-canary", "labels": labels},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "ftproxy-canary"},
            "autoscalerRef": {
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "name": "ftproxy-canary",
            },
            "service": {"port": port, "targetPort": "http"},
            "analysis": {
                "interval": interval,
                "threshold": a.failed_windows,
                "maxWeight": canary_weight,
                "stepWeight": canary_weight,
                "metrics": [
                    {
                        "name": name,
                        "templateRef": {"name": f"ftproxy-{name}"},
                        "thresholdRange": {"max": maximum},
                        "interval": interval,
                    }
                    for name, _, maximum in checks(a)
                ],
            },
        },
    }
    return [*templates, canary]
