"""The Grafana dashboard and the alert rules name only metrics a real proxy exports on /metrics."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml
from conftest import Proxy

from ftproxy.demo import DEMO_KEY

DEPLOY = Path(__file__).parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana" / "ftproxy.json"
AUTH = {"Authorization": f"Bearer {DEMO_KEY}"}
# The metric families ftproxy and its runtime collector write; label names never start so.
METRIC_NAME = re.compile(r"\b(?:ftproxy|python|process|node)_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "info": ("_info",),
}
# Deployment discovery metrics are written by a change landing beside this one; the rule that uses
# them (FtproxyDiscoveryStale) is checked here as soon as the proxy exports them.
PENDING = {"ftproxy_discovery_last_success_timestamp_seconds"}


@pytest.fixture(scope="module")
def exported(proxy: Proxy) -> set[str]:
    """Every series name a scrape may show, after requests that create the labelled series."""
    chat = {"model": "gpt-4.1", "messages": [{"role": "user", "content": "hi"}]}
    url = proxy.url + "/chat/completions"
    assert httpx.post(url, json=chat, headers=AUTH, timeout=30).is_success
    streamed = httpx.post(url, json={**chat, "stream": True}, headers=AUTH, timeout=30)
    assert streamed.is_success and "[DONE]" in streamed.text
    assert httpx.post(url, json={"model": "gpt-4.1"}, headers=AUTH, timeout=30).status_code == 400
    text = httpx.get(proxy.root + "/metrics", timeout=30).text
    names: set[str] = set()
    for kind_line in re.finditer(r"^# TYPE (\S+) (\S+)$", text, re.MULTILINE):
        family, kind = kind_line.groups()
        base = family.removesuffix("_total") if kind == "counter" else family
        names |= {base + suffix for suffix in SUFFIXES.get(kind, ("",))}
    samples = (line for line in text.splitlines() if line and not line.startswith("#"))
    names |= {line.split("{")[0].split(" ")[0] for line in samples}
    return names


def dashboard_queries() -> list[str]:
    return [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p["targets"]]


def alert_queries() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text())
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def test_the_scrape_shows_the_labelled_series(exported: set[str]) -> None:
    wanted = {"ftproxy_requests_total", "ftproxy_tokens_total", "ftproxy_time_to_first_token_seconds_bucket"}
    assert wanted <= exported


def test_every_dashboard_query_names_an_exported_metric(exported: set[str]) -> None:
    used = {name for expr in dashboard_queries() for name in METRIC_NAME.findall(expr)}
    assert len(used) >= 10
    assert used - exported == set()


def test_every_alert_rule_names_an_exported_metric(exported: set[str]) -> None:
    used = {name for expr in alert_queries() for name in METRIC_NAME.findall(expr)}
    assert used - exported - PENDING == set()


def test_the_dashboard_loads_as_a_grafana_dashboard() -> None:
    schema = json.loads((DEPLOY / "grafana" / "dashboard.schema.json").read_text())
    dashboard = json.loads(DASHBOARD.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(dashboard, schema, cls=jsonschema.Draft202012Validator)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert all(p["gridPos"]["x"] + p["gridPos"]["w"] <= 24 for p in dashboard["panels"])
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    used = {m for expr in dashboard_queries() for m in re.findall(r"\$(\w+)", expr) if not m.startswith("__")}
    assert used <= variables  # $variant and $datasource are defined
