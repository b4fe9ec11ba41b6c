"""Deployment discovery: AI Core's `GET /v2/lm/deployments` listing turned into model → URLs,
and the AI API's model catalog into the models the Orchestration Service offers.

The pure half of discovery (issue 22 item 1): the caller fetches the listing per subaccount and
resource group (`?status=RUNNING`, header `AI-Resource-Group`) and hands the JSON here. Every
running foundation-models deployment maps to its model name; several deployments of one model
keep every URL (the model table round-robins over them); orchestration deployments (scenarioId
`orchestration`) are kept apart, since they serve any model the subaccount has no direct
deployment for.

The catalog (`GET /v2/lm/scenarios/foundation-models/models`, SAP's `AiModelList`) names every
model the subaccount's region offers; one whose `allowedScenarios` include `orchestration` (and
that has a version neither deprecated nor past its `retirementDate`) is served by the
orchestration deployment, so a model without a deployment of its own can be listed too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ftproxy import __version__
from ftproxy._json import loads
from ftproxy.upstream.errors import UpstreamError
from ftproxy.upstream.tokens import TokenError

if TYPE_CHECKING:
    from ftproxy.settings import Subaccount
    from ftproxy.upstream.transport import Transport

FOUNDATION_MODELS = "foundation-models"
ORCHESTRATION = "orchestration"
# A listing of a few hundred deployments is well under this; more is not an AI Core answer.
LISTING_LIMIT = 4 * 1024 * 1024
CATALOG_PATH = "/v2/lm/scenarios/foundation-models/models"
LISTING = "the deployments listing"
CATALOG = "the model catalog"


class DiscoveryError(Exception):
    """The listing could not be fetched or read; the message says why (for /ready and logs)."""


@dataclass(frozen=True, slots=True)
class Discovered:
    """One subaccount's running deployments: model name → URLs, and the orchestration URLs;
    `orchestrated`: the models the catalog says orchestration offers (the last catalog read)."""

    models: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    orchestration: tuple[str, ...] = ()
    orchestrated: tuple[str, ...] = ()


def _model_name(resource: Mapping[str, Any]) -> str | None:
    # SAP's listing spells it `backend_details`; some API versions and the SDK's models use
    # `backendDetails`: accept both.
    details = resource.get("details")
    resources = details.get("resources") if isinstance(details, Mapping) else None
    if not isinstance(resources, Mapping):
        return None
    for key in ("backend_details", "backendDetails"):
        backend = resources.get(key)
        model = backend.get("model") if isinstance(backend, Mapping) else None
        name = model.get("name") if isinstance(model, Mapping) else None
        if isinstance(name, str) and name:
            return name
    return None


def from_listing(listing: Mapping[str, Any]) -> Discovered:
    """Map one listing response to the deployments it offers; malformed entries are skipped."""
    models: dict[str, list[str]] = {}
    orchestration: list[str] = []
    resources = listing.get("resources")
    for resource in resources if isinstance(resources, list) else ():
        if not isinstance(resource, Mapping):
            continue
        url = resource.get("deploymentUrl")
        if not isinstance(url, str) or not url or resource.get("status", "RUNNING") != "RUNNING":
            continue
        scenario = resource.get("scenarioId")
        if scenario == ORCHESTRATION:
            orchestration.append(url.rstrip("/"))
        elif scenario in (FOUNDATION_MODELS, None):
            name = _model_name(resource)
            if name is not None:
                models.setdefault(name, []).append(url.rstrip("/"))
    return Discovered({name: tuple(urls) for name, urls in models.items()}, tuple(orchestration))


def _retired(version: Mapping[str, Any], now: datetime) -> bool:
    text = version.get("retirementDate")
    if not isinstance(text, str) or not text:  # SAP writes "" for none
        return False
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False  # a date we cannot read does not hide a model
    return (when if when.tzinfo else when.replace(tzinfo=UTC)) <= now


def _offered(resource: Mapping[str, Any], now: datetime) -> bool:
    """Orchestration is among its scenarios, and some version is neither deprecated nor retired
    (an entry without readable versions is taken at its scenarios' word)."""
    scenarios = resource.get("allowedScenarios")
    if not isinstance(scenarios, list) or not any(
        isinstance(s, Mapping) and s.get("scenarioId") == ORCHESTRATION for s in scenarios
    ):
        return False
    versions = resource.get("versions")
    judged = [v for v in versions if isinstance(v, Mapping)] if isinstance(versions, list) else []
    return not judged or any(v.get("deprecated") is not True and not _retired(v, now) for v in judged)


def from_catalog(catalog: Mapping[str, Any], now: datetime) -> tuple[str, ...]:
    """The model names the catalog offers through orchestration, in its order; malformed
    entries are skipped."""
    names: dict[str, None] = {}
    resources = catalog.get("resources")
    for resource in resources if isinstance(resources, list) else ():
        if not isinstance(resource, Mapping):
            continue
        name = resource.get("model")
        if isinstance(name, str) and name and _offered(resource, now):
            names[name] = None
    return tuple(names)


def listing_url(subaccount: Subaccount) -> str:
    return f"{subaccount.service_key.api_url.rstrip('/')}/v2/lm/deployments?status=RUNNING"


def catalog_url(subaccount: Subaccount) -> str:
    return f"{subaccount.service_key.api_url.rstrip('/')}{CATALOG_PATH}"


def _read_json(
    subaccount: Subaccount, transport: Transport, token: Callable[[], str], url: str, what: str
) -> dict[str, Any]:
    """One bounded, authenticated AI API GET in the subaccount's resource group; its JSON object."""
    headers = {"AI-Resource-Group": subaccount.resource_group, "User-Agent": f"ftproxy/{__version__}"}
    if subaccount.service_key.tenant_id:
        headers["AI-Tenant-Id"] = subaccount.service_key.tenant_id
    try:
        headers["Authorization"] = f"Bearer {token()}"
        response = transport.request("GET", url, headers=headers)
        status = response.status
        body = response.read(limit=LISTING_LIMIT + 1)
    except UpstreamError as exc:
        raise DiscoveryError(f"{what} could not be fetched ({exc})") from None
    except TokenError as exc:  # the credentials were refused
        raise DiscoveryError(f"no token for subaccount {subaccount.name} ({exc})") from None
    if status != 200:
        raise DiscoveryError(f"{what} answered HTTP {status}")
    if len(body) > LISTING_LIMIT:
        raise DiscoveryError(f"{what} is larger than {LISTING_LIMIT} bytes")
    try:
        data = loads(body)
    except ValueError:
        raise DiscoveryError(f"{what} is not JSON") from None
    if not isinstance(data, dict):
        raise DiscoveryError(f"{what} is not a JSON object")
    return data


def fetch(subaccount: Subaccount, transport: Transport, token: Callable[[], str]) -> Discovered:
    """One subaccount's running deployments, read from AI Core (bounded); raises DiscoveryError.

    `token` is the subaccount's OAuth token source (its client's TokenManager.get), so discovery
    shares the token inference uses instead of fetching its own.
    """
    return from_listing(_read_json(subaccount, transport, token, listing_url(subaccount), LISTING))


def fetch_catalog(
    subaccount: Subaccount, transport: Transport, token: Callable[[], str], now: datetime | None = None
) -> tuple[str, ...]:
    """The models the subaccount's Orchestration Service offers, from the AI API's model catalog
    (bounded, the listing's token and headers); raises DiscoveryError."""
    data = _read_json(subaccount, transport, token, catalog_url(subaccount), CATALOG)
    return from_catalog(data, now or datetime.now(UTC))


def merged(subaccounts: tuple[Subaccount, ...], found: Mapping[str, Discovered]) -> tuple[Subaccount, ...]:
    """The subaccounts with their discovered models added (`found`: subaccount name → listing).

    A model a subaccount lists in deployment_models keeps exactly its configured URLs: explicit
    entries win over discovered ones, so an operator can pin or exclude a deployment. Likewise a
    configured `orchestration_deployment` wins; without one, the first orchestration deployment
    the listing shows serves the models that have no direct deployment. A subaccount with an
    orchestration deployment lists the catalog's orchestration models (`orchestration_models`;
    the model table keeps those that have no direct deployment).
    """
    out = []
    for sub in subaccounts:
        discovered = found.get(sub.name)
        if discovered is None:
            out.append(sub)
            continue
        changes: dict[str, Any] = {}
        if discovered.models:
            changes["deployments"] = {**discovered.models, **sub.deployments}
        if sub.orchestration_url is None and discovered.orchestration:
            changes["orchestration_url"] = discovered.orchestration[0]
        if discovered.orchestrated and (sub.orchestration_url or discovered.orchestration):
            changes["orchestration_models"] = discovered.orchestrated
        out.append(replace(sub, **changes) if changes else sub)
    return tuple(out)


__all__ = [
    "CATALOG_PATH",
    "FOUNDATION_MODELS",
    "LISTING_LIMIT",
    "ORCHESTRATION",
    "Discovered",
    "DiscoveryError",
    "catalog_url",
    "fetch",
    "fetch_catalog",
    "from_catalog",
    "from_listing",
    "listing_url",
    "merged",
]
