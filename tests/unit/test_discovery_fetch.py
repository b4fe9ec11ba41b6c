"""Discovery's fetch against the real simulator, and the merge of explicit over discovered."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from ftproxy.config import load_config
from ftproxy.demo import write_demo_config
from ftproxy.settings import ServiceKey, Subaccount
from ftproxy.simulator.testing import free_port, running_simulator
from ftproxy.upstream.discovery import Discovered, DiscoveryError, fetch, merged
from ftproxy.upstream.oauth import oauth_fetcher
from ftproxy.upstream.tokens import TokenManager
from ftproxy.upstream.transport import Transport


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    with running_simulator() as url:
        yield url


def _subaccount(simulator: str, tmp_path: Path) -> Subaccount:
    return load_config(write_demo_config(tmp_path, simulator, host="127.0.0.1", port=3001)).subaccounts[0]


def _fetch(sub: Subaccount) -> Discovered:
    transport = Transport(connect_timeout=5, read_timeout=5)
    tokens = TokenManager(sub.name, oauth_fetcher(sub.service_key, transport))
    try:
        return fetch(sub, transport, tokens.get)
    finally:
        transport.close()


def test_fetch_reads_the_simulators_running_deployments(simulator: str, tmp_path: Path) -> None:
    found = _fetch(_subaccount(simulator, tmp_path))
    assert {"gpt-4.1", "anthropic--claude-4.5-sonnet"} <= set(found.models)
    assert all(
        url.startswith(simulator + "/v2/inference/deployments/") for u in found.models.values() for url in u
    )


def test_fetch_failures_are_discovery_errors(simulator: str, tmp_path: Path) -> None:
    sub = _subaccount(simulator, tmp_path)
    request = urllib.request.Request(
        simulator + "/_sim/token-faults", data=json.dumps({"status": 503, "count": 1}).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    urllib.request.urlopen(request, timeout=5).close()
    with pytest.raises(DiscoveryError, match="no token"):
        _fetch(sub)
    nowhere = f"http://127.0.0.1:{free_port()}"
    key = ServiceKey(client_id="c", client_secret="s", auth_url=nowhere, api_url=nowhere)
    with pytest.raises(DiscoveryError):
        _fetch(Subaccount(name="gone", resource_group="default", service_key=key))


def _sub(name: str, **deployments: tuple[str, ...]) -> Subaccount:
    key = ServiceKey(client_id="c", client_secret="s", auth_url="https://a", api_url="https://api")
    return Subaccount(name=name, resource_group="default", service_key=key, deployments=deployments)


MERGES = [
    # (name, subaccounts, discovered, expected deployments per subaccount)
    ("nothing discovered", (_sub("a", m=("u1",)),), {}, {"a": {"m": ("u1",)}}),
    ("discovered added", (_sub("a"),), {"a": Discovered({"m": ("d1",)})}, {"a": {"m": ("d1",)}}),
    (
        "explicit wins for its model",
        (_sub("a", m=("pinned",)),),
        {"a": Discovered({"m": ("d1", "d2"), "n": ("d3",)})},
        {"a": {"m": ("pinned",), "n": ("d3",)}},
    ),
    (
        "per subaccount",
        (_sub("a", m=("pinned",)), _sub("b")),
        {"b": Discovered({"m": ("d1",)})},
        {"a": {"m": ("pinned",)}, "b": {"m": ("d1",)}},
    ),
]


@pytest.mark.parametrize(("name", "subs", "found", "expected"), MERGES, ids=[c[0] for c in MERGES])
def test_merge_explicit_over_discovered(
    name: str, subs: tuple[Subaccount, ...], found: dict[str, Discovered], expected: dict
) -> None:
    assert {s.name: dict(s.deployments) for s in merged(subs, found)} == expected
