"""Discovery's listing → model table mapping (table-driven), and the simulator's own listing."""

from __future__ import annotations

from typing import Any

import pytest

from ftproxy.simulator.catalog import DEFAULT_MODELS, deployment_id
from ftproxy.simulator.listing import resource
from ftproxy.upstream.discovery import Discovered, from_listing


def _dep(
    url: str,
    name: str | None,
    *,
    scenario: str = "foundation-models",
    key: str = "backend_details",
    status: str = "RUNNING",
) -> dict[str, Any]:
    resources = {key: {"model": {"name": name, "version": "1"}}} if name else {}
    return {
        "deploymentUrl": url,
        "scenarioId": scenario,
        "status": status,
        "details": {"resources": resources},
    }


CASES = [
    ("empty", {"count": 0, "resources": []}, Discovered({}, ())),
    ("no resources key", {}, Discovered({}, ())),
    (
        "snake_case",
        {"resources": [_dep("https://h/d1", "gpt-4o")]},
        Discovered({"gpt-4o": ("https://h/d1",)}, ()),
    ),
    (
        "camelCase",
        {"resources": [_dep("https://h/d1/", "gpt-4o", key="backendDetails")]},
        Discovered({"gpt-4o": ("https://h/d1",)}, ()),
    ),
    (
        "two deployments of one model keep both URLs in order",
        {"resources": [_dep("https://h/a", "gpt-4o"), _dep("https://h/b", "gpt-4o")]},
        Discovered({"gpt-4o": ("https://h/a", "https://h/b")}, ()),
    ),
    (
        "orchestration kept apart",
        {"resources": [_dep("https://h/o", None, scenario="orchestration"), _dep("https://h/a", "gpt-4o")]},
        Discovered({"gpt-4o": ("https://h/a",)}, ("https://h/o",)),
    ),
    (
        "not running, other scenario, no URL, no model name, junk: skipped",
        {
            "resources": [
                _dep("https://h/a", "gpt-4o", status="STOPPED"),
                _dep("https://h/b", "gpt-4o", scenario="my-training"),
                _dep("", "gpt-4o"),
                _dep("https://h/c", None),
                "junk",
                {"deploymentUrl": "https://h/d", "details": "junk"},
            ]
        },
        Discovered({}, ()),
    ),
]


@pytest.mark.parametrize(("listing", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_from_listing(listing: dict[str, Any], expected: Discovered) -> None:
    assert from_listing(listing) == expected


def test_the_simulators_listing_maps_every_model_to_its_deployment() -> None:
    base = "http://127.0.0.1:1"
    listing = {"resources": [resource(spec, i, base) for i, spec in enumerate(DEFAULT_MODELS)]}
    found = from_listing(listing)
    assert found.models == {
        spec.name: (f"{base}/v2/inference/deployments/{deployment_id(spec.name)}",) for spec in DEFAULT_MODELS
    }
