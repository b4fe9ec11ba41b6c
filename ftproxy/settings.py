"""Settings as plain frozen value types: what config.json says, read by `config.py`, used below it.

This module imports nothing of ftproxy's, so the modules that *use* a setting (the upstream
transport, the streaming relay) and the one that *reads* it (`config.py`) both depend on it, and
never on each other.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3001
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024  # SAP AI Core itself takes about 32 MiB of images and documents


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    # LLM answers can take minutes between bytes while thinking; connecting should not.
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    max_idle_per_origin: int = 256  # keep-alive connections kept per SAP AI Core host
    token_style: str = "basic"  # or "form": how client credentials reach the token endpoint
    verify: bool | str = True  # TLS verification, or the path of a CA bundle


@dataclass(frozen=True, slots=True)
class DiscoverySettings:
    """config.json `discovery`: how the model table learns deployments from AI Core's listing."""

    # None: on exactly when some subaccount lists no deployment_models (explicit-only configs
    # keep their fixed table unless they ask for discovery).
    enabled: bool | None = None
    interval_s: float = 300.0
    timeout_s: float = 10.0  # one listing fetch, at start-up and per refresh


@dataclass(frozen=True, slots=True)
class StreamSettings:
    # per worker; None: derived from Granian's blocking threads (`default_max_streams`)
    max_streams: int | None = None
    keepalive_s: float = 10.0  # below the 60 s idle cut of common load balancers
    first_token_timeout_s: float = 300.0  # thinking models can take minutes
    idle_timeout_s: float = 300.0  # between two chunks once the answer flows
    total_timeout_s: float = 3600.0
    retry_after_s: int = 2  # told to clients refused for lack of stream slots


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 3  # upstream calls per client request, across deployments
    backoff_base_s: float = 0.25  # first backoff ceiling; doubles per retry of the same deployment
    backoff_max_s: float = 4.0
    # A longer Retry-After goes to the client at once: its SDK retries too, and waits as told.
    max_retry_after_s: float = 2.0
    max_total_s: float = 30.0  # no retry starts after this much time spent on the request
    breaker_failures: int = 5  # consecutive failures that open a deployment's breaker
    breaker_cooldown_s: float = 10.0  # then ONE probe: a short pause costs one request, not a flood

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^retry)] (retry counts from 0)."""
        return rand() * min(self.backoff_max_s, self.backoff_base_s * (2**retry))


@dataclass(frozen=True, slots=True)
class RateLimit:
    requests_per_minute: float
    burst: int  # requests allowed at once after a quiet period


@dataclass(frozen=True, slots=True)
class Limits:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_concurrent_requests: int | None = None  # per worker; None: bounded by the threads only
    rate: RateLimit | None = None  # default for every client key
    max_output_tokens: Mapping[str, int] = field(default_factory=dict)  # model → cap


@dataclass(frozen=True, slots=True)
class ClientKey:
    key: str
    name: str  # what logs and limits call this client; never the key itself
    rate: RateLimit | None = None
    # the `orchestration.profiles` entry applied to this key's orchestrated requests
    orchestration_profile: str | None = None

    def __repr__(self) -> str:  # never print the key
        return f"ClientKey(name={self.name!r})"


@dataclass(frozen=True, slots=True)
class ServiceKey:
    client_id: str
    client_secret: str
    auth_url: str  # the token endpoint is f"{auth_url}/oauth/token"
    api_url: str  # AI_API_URL
    tenant_id: str | None = None  # identityzoneid, sent as AI-Tenant-Id

    def __repr__(self) -> str:  # never print the secret
        return (
            f"ServiceKey(client_id={self.client_id!r}, auth_url={self.auth_url!r}, api_url={self.api_url!r})"
        )

    @property
    def token_url(self) -> str:
        return self.auth_url.rstrip("/") + "/oauth/token"


@dataclass(frozen=True, slots=True)
class Subaccount:
    name: str
    resource_group: str
    service_key: ServiceKey
    # model name → deployment URLs, in configured order (empty: the subaccount relies on discovery)
    deployments: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # the Orchestration Service deployment's URL (config.json `orchestration_deployment`): it
    # serves every model name that has no direct deployment
    orchestration_url: str | None = None
    # models the AI API's catalog says the orchestration deployment offers (discovery sets it):
    # listed as route orchestration when no subaccount has a direct deployment of them
    orchestration_models: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class OrchestrationProfile:
    """One `orchestration.profiles` entry: the Orchestration Service modules it switches on, as
    the request JSON the service takes (module name → its config), built once at start-up."""

    name: str
    modules: Mapping[str, Mapping[str, object]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OrchestrationSettings:
    """config.json `orchestration`: which modules (filtering, masking, translation) every
    request on the orchestration route carries, per model and per client key.

    A request gets its model's profile (the first matching `models` entry, else `default`),
    then, module by module, its client key's profile on top: the key's modules win, the model's
    other modules stay."""

    profiles: Mapping[str, OrchestrationProfile] = field(default_factory=dict)
    models: tuple[tuple[str, str], ...] = ()  # (model name or glob, profile name), in config order
    default: str | None = None
    clients: Mapping[str, str] = field(default_factory=dict)  # client key name → profile name

    def modules_for(self, client: str | None, model: str) -> Mapping[str, Mapping[str, object]]:
        """The module configs for one request (empty when no profile applies)."""
        if not self.profiles:
            return {}
        name = next((p for glob, p in self.models if fnmatchcase(model, glob)), self.default)
        modules = self.profiles[name].modules if name is not None else {}
        own = self.clients.get(client) if client is not None else None
        if own is None:
            return modules
        return {**modules, **self.profiles[own].modules}


@dataclass(frozen=True, slots=True)
class Config:
    subaccounts: tuple[Subaccount, ...]
    clients: tuple[ClientKey, ...]
    allow_unauthenticated: bool = False
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    source: str = "<memory>"
    streaming: StreamSettings = field(default_factory=StreamSettings)
    retries: RetryPolicy = field(default_factory=RetryPolicy)
    limits: Limits = field(default_factory=Limits)
    upstream: UpstreamSettings = field(default_factory=UpstreamSettings)
    # alias → configured model name (config.json `model_aliases`; built-in Claude ids: aliases.py)
    model_aliases: Mapping[str, str] = field(default_factory=dict)
    # (model name or glob, "orchestration" | "direct"), config.json `model_routes`: the first match
    # decides; "orchestration" sends the model through the Orchestration Service even when it has
    # a direct deployment
    model_routes: tuple[tuple[str, str], ...] = ()
    discovery: DiscoverySettings = field(default_factory=DiscoverySettings)
    orchestration: OrchestrationSettings = field(default_factory=OrchestrationSettings)

    @property
    def discovers(self) -> bool:
        """Whether the model table is (also) filled from the deployments listing."""
        if self.discovery.enabled is not None:
            return self.discovery.enabled
        return any(not s.deployments for s in self.subaccounts)

    @property
    def deployment_urls(self) -> tuple[str, ...]:
        """Every deployment URL the subaccounts name: models' and orchestration deployments'."""
        urls = [u for s in self.subaccounts for each in s.deployments.values() for u in each]
        urls.extend(s.orchestration_url for s in self.subaccounts if s.orchestration_url)
        return tuple(urls)

    @property
    def client_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.clients)

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.subaccounts)
        return f"Config(source={self.source!r}, subaccounts=[{names}], client_keys=<{len(self.clients)}>)"

    @property
    def models(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for sub in self.subaccounts:
            seen.update(dict.fromkeys(sub.deployments))
        return tuple(seen)
