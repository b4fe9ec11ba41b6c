"""deploy/prometheus/alerts.yaml: promtool checks the rules and runs their unit tests."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).parents[2] / "deploy" / "prometheus"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        message = "promtool not on PATH (Debian package 'prometheus'; scripts/system-deps.sh installs it)"
        if os.environ.get("FTPROXY_REQUIRE_PROMTOOL") == "1":
            pytest.fail(f"{message}, and FTPROXY_REQUIRE_PROMTOOL=1 requires it")
        pytest.skip(message)
    return found


def run(*args: str) -> str:
    result = subprocess.run([promtool(), *args], cwd=RULES, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def test_alert_rules_are_valid() -> None:
    assert "SUCCESS: 10 rules found" in run("check", "rules", "alerts.yaml")


def test_alert_rules_fire_on_the_synthetic_series_and_only_there() -> None:
    assert "SUCCESS" in run("test", "rules", "alerts_test.yaml")


def test_every_alert_has_a_unit_test() -> None:
    import yaml

    rules = yaml.safe_load((RULES / "alerts.yaml").read_text())
    alerts = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load((RULES / "alerts_test.yaml").read_text())["tests"]
    tested = {t["alertname"] for case in tests for t in case["alert_rule_test"] if t["exp_alerts"]}
    assert alerts == tested


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel query (Grafana's variables replaced by values) as a rule."""
    import json

    import yaml

    dashboard = json.loads((RULES.parent / "grafana" / "ftproxy.json").read_text())
    grafana_values = {"$__rate_interval": "5m", "$variant": ".*"}
    rules = []
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            expr = target["expr"]
            for variable, value in grafana_values.items():
                expr = expr.replace(variable, value)
            rules.append({"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": expr})
    rule_file = tmp_path / "dashboard_rules.yaml"
    rule_file.write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": rules}]}))
    check = [promtool(), "check", "rules", str(rule_file)]
    result = subprocess.run(check, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
