"""The AI API model catalog → the models orchestration offers (table-driven), the merge into
the subaccounts, and the model table that lists them with route orchestration."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from ftproxy.models import ModelRegistry
from ftproxy.settings import Config, ServiceKey, Subaccount
from ftproxy.simulator.catalog import DEFAULT_MODELS
from ftproxy.simulator.scenario_models import model
from ftproxy.upstream.discovery import Discovered, from_catalog, merged
from ftproxy.wire.apis import UpstreamApi

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ORCH = {"scenarioId": "orchestration", "executableId": "orchestration"}
FM = {"scenarioId": "foundation-models", "executableId": "azure-openai"}


def _model(name: str, scenarios: list[Any], versions: Any = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "model": name,
        "executableId": "x",
        "description": "",
        "allowedScenarios": scenarios,
    }
    if versions is not None:
        entry["versions"] = versions
    return entry


def _v(*, deprecated: bool = False, retirement: str = "", latest: bool = True) -> dict[str, Any]:
    return {"name": "1", "isLatest": latest, "deprecated": deprecated, "retirementDate": retirement}


CASES = [
    ("empty", {"count": 0, "resources": []}, ()),
    ("no resources key", {}, ()),
    ("orchestration offered", {"resources": [_model("m", [FM, ORCH], [_v()])]}, ("m",)),
    ("foundation-models only", {"resources": [_model("m", [FM], [_v()])]}, ()),
    ("no allowedScenarios", {"resources": [{"model": "m", "versions": [_v()]}]}, ()),
    ("deprecated only", {"resources": [_model("m", [ORCH], [_v(deprecated=True)])]}, ()),
    (
        "a deprecated and a current version",
        {"resources": [_model("m", [ORCH], [_v(deprecated=True, latest=False), _v()])]},
        ("m",),
    ),
    ("retired (date)", {"resources": [_model("m", [ORCH], [_v(retirement="2026-06-30")])]}, ()),
    (
        "retired (timestamp, Z)",
        {"resources": [_model("m", [ORCH], [_v(retirement="2026-12-01T00:00:00Z")])]},
        (),
    ),
    ("retiring later", {"resources": [_model("m", [ORCH], [_v(retirement="2027-03-31")])]}, ("m",)),
    ("unreadable date", {"resources": [_model("m", [ORCH], [_v(retirement="soon")])]}, ("m",)),
    ("no versions: the scenarios decide", {"resources": [_model("m", [ORCH])]}, ("m",)),
    (
        "junk skipped, order and duplicates",
        {
            "resources": [
                "junk",
                {"model": "", "allowedScenarios": [ORCH]},
                {"model": 7, "allowedScenarios": [ORCH]},
                _model("b", ["junk", ORCH]),
                _model("a", [ORCH]),
                _model("b", [ORCH]),
            ]
        },
        ("b", "a"),
    ),
]


@pytest.mark.parametrize(("catalog", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_from_catalog(catalog: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert from_catalog(catalog, NOW) == expected


def test_the_simulators_catalog_offers_every_model_through_orchestration() -> None:
    catalog = {"resources": [model(spec) for spec in DEFAULT_MODELS]}
    assert from_catalog(catalog, NOW) == tuple(spec.name for spec in DEFAULT_MODELS)


def _sub(name: str, orchestration: str | None = None, **deployments: tuple[str, ...]) -> Subaccount:
    key = ServiceKey(client_id="c", client_secret="s", auth_url="https://a", api_url="https://api")
    return Subaccount(
        name=name,
        resource_group="default",
        service_key=key,
        deployments=deployments,
        orchestration_url=orchestration,
    )


def test_merge_keeps_the_catalog_only_where_orchestration_serves() -> None:
    subs = (_sub("a"), _sub("b"), _sub("c", "https://c/orch"))
    found = {
        "a": Discovered({}, ("https://a/orch",), ("m",)),
        "b": Discovered({}, (), ("m",)),  # no orchestration deployment: nothing to list
        "c": Discovered({}, (), ("n",)),  # the configured orchestration deployment serves
    }
    out = {s.name: s for s in merged(subs, found)}
    assert out["a"].orchestration_models == ("m",) and out["a"].orchestration_url == "https://a/orch"
    assert out["b"].orchestration_models == ()
    assert out["c"].orchestration_models == ("n",) and out["c"].orchestration_url == "https://c/orch"


def _registry(*subs: Subaccount, routes: tuple[tuple[str, str], ...] = ()) -> ModelRegistry:
    return ModelRegistry(Config(subaccounts=subs, clients=(), model_routes=routes))


def test_orchestration_only_models_are_listed_with_their_family_and_route() -> None:
    a = replace(
        _sub("a", "https://a/orch", **{"gpt-4.1": ("https://a/gpt",)}),
        orchestration_models=("gpt-4.1", "mistralai--mistral-small-instruct", "meta--llama3.1-70b-instruct"),
    )
    b = replace(_sub("b", "https://b/orch"), orchestration_models=("mistralai--mistral-small-instruct",))
    registry = _registry(a, b)
    entries = {e.name: e for e in registry.entries()}
    assert entries["gpt-4.1"].route == "direct"  # a direct deployment wins
    small = entries["mistralai--mistral-small-instruct"]
    assert (small.family.value, small.route, small.subaccounts) == ("mistral", "orchestration", ("a", "b"))
    llama = entries["meta--llama3.1-70b-instruct"]
    assert (llama.family.value, llama.route, llama.subaccounts) == ("llama", "orchestration", ("a",))
    served = registry.get("meta--llama3.1-70b-instruct")
    assert served is not None
    assert [(d.url, d.api) for d in served.items] == [("https://a/orch", UpstreamApi.ORCHESTRATION)]
    assert "meta--llama3.1-70b-instruct" in registry.names


def test_model_routes_direct_and_no_orchestration_deployment_list_nothing() -> None:
    a = replace(_sub("a", "https://a/orch"), orchestration_models=("meta--llama3.1-70b-instruct", "ibm--x"))
    registry = _registry(a, routes=(("meta--*", "direct"),))
    assert [e.name for e in registry.entries()] == ["ibm--x"]
    without = replace(_sub("b"), orchestration_models=("ibm--x",))
    assert _registry(without).entries() == ()


def test_built_in_claude_aliases_stay_on_the_direct_models() -> None:
    a = replace(
        _sub("a", "https://a/orch", **{"anthropic--claude-4.5-sonnet": ("https://a/c",)}),
        orchestration_models=("anthropic--claude-4.6-sonnet",),
    )
    registry = _registry(a)
    assert registry.target("sonnet") == "anthropic--claude-4.5-sonnet"
    assert {e.name: e.route for e in registry.entries()}["anthropic--claude-4.6-sonnet"] == "orchestration"
