"""Configuration: the `config.json` of the reference SAP AI Core proxies, read unchanged.

    {
      "subAccounts": {
        "sub1": {
          "resource_group": "default",
          "service_key_json": "sub1-key.json",
          "deployment_models": {"gpt-4.1": ["https://…/v2/inference/deployments/d123…"]}
        }
      },
      "secret_authentication_tokens": ["sk-…"],
      "host": "127.0.0.1",
      "port": 3001
    }

The legacy flat form (one subaccount's fields at the top level) is read as a subaccount named
"default". Extensions, all optional: a deployment id instead of a URL; `service_key` inline;
`allow_unauthenticated` (required to run without client keys); client keys as objects with a
name and a rate limit; and the sections `streaming` (stream limits and timeouts), `retries`
(failover, backoff, circuit breakers), `limits` (body size, concurrency, requests per minute,
output-token caps per model) and `upstream` (timeouts, TLS CA bundle, token request style).

Everything is validated here, once, at start-up: a mistake raises `ConfigError` naming the
file, the key and the fix. The result is immutable and shared by all threads without locks.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ftproxy._json import loads
from ftproxy.limits import Limits, RateLimit
from ftproxy.resilience import RetryPolicy
from ftproxy.streaming import StreamSettings
from ftproxy.upstream import UpstreamSettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3001

_DEPLOYMENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
_KNOWN_TOP_KEYS = {
    "subAccounts",
    "secret_authentication_tokens",
    "host",
    "port",
    "allow_unauthenticated",
    "streaming",
    "retries",
    "limits",
    "upstream",
    # legacy flat form
    "resource_group",
    "service_key_json",
    "service_key",
    "deployment_models",
}
_KNOWN_SUBACCOUNT_KEYS = {"resource_group", "service_key_json", "service_key", "deployment_models"}


class ConfigError(ValueError):
    def __init__(self, source: str, key: str, problem: str, fix: str) -> None:
        super().__init__(f"{source}: {key}: {problem}. Fix: {fix}")
        self.source = source
        self.key = key
        self.problem = problem
        self.fix = fix


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
    # model name → deployment URLs, in configured order
    deployments: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class ClientKey:
    key: str
    name: str  # what logs and limits call this client; never the key itself
    rate: RateLimit | None = None

    def __repr__(self) -> str:  # never print the key
        return f"ClientKey(name={self.name!r})"


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


def load_config(path: str | Path) -> Config:
    """Reads and validates a config file; raises ConfigError (or nothing)."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            source, "(file)", "the file does not exist", "pass --config with the path of your config.json"
        ) from None
    except OSError as exc:
        raise ConfigError(
            source, "(file)", f"cannot be read ({exc.strerror})", "check the path and its permissions"
        ) from None
    try:
        data = loads(raw)
    except ValueError as exc:
        raise ConfigError(source, "(file)", f"is not valid JSON ({exc})", "fix the JSON syntax") from None
    return parse_config(data, source=source, base_dir=path.parent)


def parse_config(data: Any, *, source: str = "<memory>", base_dir: Path | None = None) -> Config:
    base_dir = base_dir or Path.cwd()
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", "must be a JSON object", "wrap the settings in { … }")
    for key in data:
        if key not in _KNOWN_TOP_KEYS:
            print(f"ftproxy: warning: {source}: unknown key '{key}' is ignored", file=sys.stderr)

    if "subAccounts" in data:
        subs_raw = data["subAccounts"]
        if not isinstance(subs_raw, dict) or not subs_raw:
            raise ConfigError(
                source, "subAccounts", "must be a non-empty object of named subaccounts", 'use {"sub1": {…}}'
            )
        if "deployment_models" in data:
            raise ConfigError(
                source,
                "deployment_models",
                "is given both at the top level and in subAccounts",
                "move the top-level deployment_models into a subaccount",
            )
        subaccounts = tuple(
            _parse_subaccount(name, raw, source=source, base_dir=base_dir, key=f"subAccounts.{name}")
            for name, raw in subs_raw.items()
        )
    elif "deployment_models" in data:
        subaccounts = (_parse_subaccount("default", data, source=source, base_dir=base_dir, key=""),)
    else:
        raise ConfigError(
            source,
            "subAccounts",
            "is missing",
            'add "subAccounts": {"name": {"service_key_json": …, "deployment_models": …}}',
        )

    limits = _limits(data.get("limits", {}), source=source)
    clients = _clients(data.get("secret_authentication_tokens", []), limits.rate, source=source)
    allow_unauthenticated = data.get("allow_unauthenticated", False)
    if not isinstance(allow_unauthenticated, bool):
        raise ConfigError(
            source, "allow_unauthenticated", "must be true or false", "write true or false without quotes"
        )
    if not clients and not allow_unauthenticated:
        raise ConfigError(
            source,
            "secret_authentication_tokens",
            "is empty, so no client could call the proxy",
            'add a client key, or set "allow_unauthenticated": true to run without client authentication',
        )

    host = data.get("host", DEFAULT_HOST)
    if not isinstance(host, str) or not host:
        raise ConfigError(source, "host", "must be a non-empty string", 'use e.g. "127.0.0.1" or "0.0.0.0"')
    port = data.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ConfigError(
            source, "port", f"must be an integer from 1 to 65535, not {port!r}", "use e.g. 3001"
        )

    return Config(
        subaccounts=subaccounts,
        clients=clients,
        allow_unauthenticated=allow_unauthenticated,
        host=host,
        port=port,
        source=source,
        streaming=_numbers(
            data.get("streaming", {}),
            source=source,
            section="streaming",
            keys=_STREAMING_KEYS,
            cls=StreamSettings,
            example='{"max_concurrent": 96, "keepalive_seconds": 10, "idle_timeout_seconds": 300}',
        ),
        retries=_numbers(
            data.get("retries", {}),
            source=source,
            section="retries",
            keys=_RETRY_KEYS,
            cls=RetryPolicy,
            example='{"max_attempts": 3, "max_total_seconds": 30, "breaker_failures": 5}',
        ),
        limits=limits,
        upstream=_upstream(data.get("upstream", {}), source=source, base_dir=base_dir),
    )


# Optional sections of plain positive numbers: config key → settings field, per section.
_STREAMING_KEYS = {
    "max_concurrent": "max_streams",
    "keepalive_seconds": "keepalive_s",
    "first_token_timeout_seconds": "first_token_timeout_s",
    "idle_timeout_seconds": "idle_timeout_s",
    "total_timeout_seconds": "total_timeout_s",
    "queue_chunks": "queue_chunks",
    "retry_after_seconds": "retry_after_s",
}
_RETRY_KEYS = {
    "max_attempts": "max_attempts",
    "backoff_base_seconds": "backoff_base_s",
    "backoff_max_seconds": "backoff_max_s",
    "max_retry_after_seconds": "max_retry_after_s",
    "max_total_seconds": "max_total_s",
    "breaker_failures": "breaker_failures",
    "breaker_cooldown_seconds": "breaker_cooldown_s",
}
_T = TypeVar("_T")


def _numbers(raw: Any, *, source: str, section: str, keys: dict[str, str], cls: type[_T], example: str) -> _T:
    """An optional object of positive numbers (integers where the field is one) → `cls`."""
    if not isinstance(raw, dict):
        raise ConfigError(source, section, "must be an object", f"use e.g. {example}")
    types = {f.name: f.type for f in fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    for key, value in raw.items():
        name = keys.get(key)
        if name is None:
            raise ConfigError(
                source, f"{section}.{key}", f"is not a {section} setting", f"use one of {', '.join(keys)}"
            )
        whole = str(types[name]).startswith("int")
        ok = isinstance(value, int) if whole else isinstance(value, int | float)
        if isinstance(value, bool) or not ok or value <= 0:
            kind = "a positive integer" if whole else "a positive number of seconds"
            raise ConfigError(
                source, f"{section}.{key}", f"must be {kind}, not {value!r}", f"use e.g. {example}"
            )
        values[name] = value
    return cls(**values)


def _parse_subaccount(name: str, raw: Any, *, source: str, base_dir: Path, key: str) -> Subaccount:
    prefix = f"{key}." if key else ""
    if not isinstance(raw, dict):
        raise ConfigError(
            source, key, "must be an object", "give resource_group, service_key_json and deployment_models"
        )
    if key:
        for k in raw:
            if k not in _KNOWN_SUBACCOUNT_KEYS:
                print(f"ftproxy: warning: {source}: unknown key '{prefix}{k}' is ignored", file=sys.stderr)

    resource_group = raw.get("resource_group", "default")
    if not isinstance(resource_group, str) or not resource_group:
        raise ConfigError(
            source, f"{prefix}resource_group", "must be a non-empty string", 'use e.g. "default"'
        )

    service_key = _service_key(raw, source=source, base_dir=base_dir, prefix=prefix)

    models = raw.get("deployment_models")
    if not isinstance(models, dict) or not models:
        raise ConfigError(
            source,
            f"{prefix}deployment_models",
            "must be a non-empty object mapping model names to deployment URLs",
            'use {"gpt-4.1": ["https://…/v2/inference/deployments/d…"]}',
        )
    deployments: dict[str, tuple[str, ...]] = {}
    for model, targets in models.items():
        mkey = f"{prefix}deployment_models.{model}"
        if not model.strip() or "/" in model:
            raise ConfigError(
                source, mkey, "is not a valid model name", "use the AI Core model name, e.g. gpt-4.1"
            )
        if isinstance(targets, str):
            targets = [targets]
        if not isinstance(targets, list) or not targets:
            raise ConfigError(
                source, mkey, "must be a non-empty list of deployment URLs or ids", 'use ["https://…"]'
            )
        deployments[model] = tuple(_deployment_url(t, service_key, source=source, key=mkey) for t in targets)
    return Subaccount(
        name=name, resource_group=resource_group, service_key=service_key, deployments=deployments
    )


def _deployment_url(target: Any, service_key: ServiceKey, *, source: str, key: str) -> str:
    key_name = key
    if not isinstance(target, str) or not target.strip():
        raise ConfigError(
            source, key_name, f"{target!r} is not a deployment URL", "use a string URL or deployment id"
        )
    target = target.strip().rstrip("/")
    if _DEPLOYMENT_ID.match(target):
        return f"{service_key.api_url}/v2/inference/deployments/{target}"
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            source,
            key_name,
            f"{target!r} is neither an http(s) URL nor a deployment id",
            "copy the deployment URL from AI Launchpad (…/v2/inference/deployments/<id>)",
        )
    if parts.query or parts.fragment:
        raise ConfigError(
            source, key_name, f"{target!r} has a query or fragment", "remove everything after '?' or '#'"
        )
    return target


def _service_key(raw: dict[str, Any], *, source: str, base_dir: Path, prefix: str) -> ServiceKey:
    if "service_key" in raw:
        data, where = raw["service_key"], f"{prefix}service_key"
    elif "service_key_json" in raw:
        ref = raw["service_key_json"]
        where = f"{prefix}service_key_json"
        if not isinstance(ref, str) or not ref:
            raise ConfigError(source, where, "must be the path of a service key file", 'use e.g. "key.json"')
        path = Path(ref).expanduser()
        if not path.is_absolute():
            # Relative to the config file first (so a config folder can be moved whole), then to the
            # working directory, which is where the reference proxies looked.
            path = base_dir / path if (base_dir / path).exists() else Path.cwd() / path
        try:
            data = loads(path.read_bytes())
        except FileNotFoundError:
            raise ConfigError(
                source,
                where,
                f"the file {path} does not exist",
                "download the service key from SAP BTP and give its path",
            ) from None
        except ValueError as exc:
            raise ConfigError(
                source, where, f"{path} is not valid JSON ({exc})", "download the service key again"
            ) from None
        where = f"{where} ({path})"
    else:
        raise ConfigError(
            source,
            f"{prefix}service_key_json",
            "is missing",
            "give the path of the subaccount's AI Core service key file",
        )
    if not isinstance(data, dict):
        raise ConfigError(
            source, where, "must be a JSON object", "use the service key exactly as SAP BTP gives it"
        )

    def field(name: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value:
            raise ConfigError(
                source,
                f"{where}.{name}",
                "is missing or empty",
                "use the service key exactly as SAP BTP gives it",
            )
        return value

    urls = data.get("serviceurls")
    api_url = urls.get("AI_API_URL") if isinstance(urls, dict) else None
    if not isinstance(api_url, str) or not api_url.startswith(("http://", "https://")):
        raise ConfigError(
            source,
            f"{where}.serviceurls.AI_API_URL",
            "is missing or not a URL",
            "use the service key exactly as SAP BTP gives it",
        )
    auth_url = field("url")
    if not auth_url.startswith(("http://", "https://")):
        raise ConfigError(
            source, f"{where}.url", "is not a URL", "use the service key exactly as SAP BTP gives it"
        )
    tenant = data.get("identityzoneid")
    return ServiceKey(
        client_id=field("clientid"),
        client_secret=field("clientsecret"),
        auth_url=auth_url.rstrip("/"),
        api_url=api_url.rstrip("/"),
        tenant_id=tenant if isinstance(tenant, str) and tenant else None,
    )


def _clients(raw: Any, default_rate: RateLimit | None, *, source: str) -> tuple[ClientKey, ...]:
    """`secret_authentication_tokens`: key strings (the reference format), or objects
    {"key", "name", "requests_per_minute", "burst"} for per-key names and rate limits."""
    key = "secret_authentication_tokens"
    example = '["sk-…", {"key": "sk-…", "name": "team-a", "requests_per_minute": 120}]'
    if not isinstance(raw, list):
        raise ConfigError(source, key, "must be a list of keys", f"use {example}")
    clients: list[ClientKey] = []
    for i, entry in enumerate(raw):
        where = f"{key}[{i}]"
        if isinstance(entry, str) and entry.strip():
            clients.append(ClientKey(entry.strip(), f"key#{i + 1}", default_rate))
            continue
        if not isinstance(entry, dict):
            raise ConfigError(source, where, "must be a non-empty string or an object", f"use {example}")
        unknown = set(entry) - {"key", "name", "requests_per_minute", "burst"}
        if unknown:
            raise ConfigError(
                source,
                f"{where}.{sorted(unknown)[0]}",
                "is not a key setting",
                "use key, name, requests_per_minute, burst",
            )
        value, name = entry.get("key"), entry.get("name", f"key#{i + 1}")
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(source, f"{where}.key", "must be a non-empty string", 'use "key": "sk-…"')
        if not isinstance(name, str) or not name.strip() or len(name) > 64:
            raise ConfigError(
                source, f"{where}.name", "must be a short non-empty string", 'use e.g. "team-a"'
            )
        rate = default_rate
        if "requests_per_minute" in entry or "burst" in entry:
            rate = _rate(entry, source=source, where=where)
        clients.append(ClientKey(value.strip(), name.strip(), rate))
    names = [c.name for c in clients]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise ConfigError(source, key, f"the name {duplicate!r} is used twice", "give every key its own name")
    return tuple(clients)


def _positive(value: Any, *, source: str, where: str, integer: bool, example: str) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok or value <= 0:
        kind = "a positive integer" if integer else "a positive number"
        raise ConfigError(source, where, f"must be {kind}, not {value!r}", f"use e.g. {example}")
    return value


def _rate(raw: dict[str, Any], *, source: str, where: str) -> RateLimit:
    per_minute = _positive(
        raw.get("requests_per_minute"),
        source=source,
        where=f"{where}.requests_per_minute",
        integer=False,
        example="120",
    )
    burst = raw.get("burst", max(1, math.ceil(per_minute / 6)))  # default: ten seconds' worth
    return RateLimit(
        per_minute, _positive(burst, source=source, where=f"{where}.burst", integer=True, example="20")
    )


def _limits(raw: Any, *, source: str) -> Limits:
    """The optional "limits" object."""
    example = (
        '{"max_body_bytes": 33554432, "requests_per_minute": 600, "max_output_tokens": {"gpt-4.1": 8192}}'
    )
    if not isinstance(raw, dict):
        raise ConfigError(source, "limits", "must be an object", f"use e.g. {example}")
    known = {"max_body_bytes", "max_concurrent_requests", "requests_per_minute", "burst", "max_output_tokens"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(
            source, f"limits.{sorted(unknown)[0]}", "is not a limit", f"use one of {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {}
    for name in ("max_body_bytes", "max_concurrent_requests"):
        if name in raw:
            values[name] = _positive(
                raw[name], source=source, where=f"limits.{name}", integer=True, example=example
            )
    if "requests_per_minute" in raw:
        values["rate"] = _rate(raw, source=source, where="limits")
    elif "burst" in raw:
        raise ConfigError(source, "limits.burst", "needs requests_per_minute", 'add "requests_per_minute": N')
    caps = raw.get("max_output_tokens", {})
    if not isinstance(caps, dict):
        raise ConfigError(
            source, "limits.max_output_tokens", "must map model names to integers", f"use e.g. {example}"
        )
    values["max_output_tokens"] = {
        model: _positive(
            cap, source=source, where=f"limits.max_output_tokens.{model}", integer=True, example="8192"
        )
        for model, cap in caps.items()
    }
    return Limits(**values)


def _upstream(raw: Any, *, source: str, base_dir: Path) -> UpstreamSettings:
    """The optional "upstream" object: timeouts and TLS towards SAP AI Core."""
    example = '{"connect_timeout_seconds": 10, "read_timeout_seconds": 600, "ca_bundle": "corp-ca.pem"}'
    if not isinstance(raw, dict):
        raise ConfigError(source, "upstream", "must be an object", f"use e.g. {example}")
    known = {"connect_timeout_seconds", "read_timeout_seconds", "ca_bundle", "verify_tls", "token_style"}
    unknown = set(raw) - known
    if unknown:
        raise ConfigError(
            source,
            f"upstream.{sorted(unknown)[0]}",
            "is not an upstream setting",
            f"use one of {', '.join(sorted(known))}",
        )
    values: dict[str, Any] = {}
    for key, name in (
        ("connect_timeout_seconds", "connect_timeout"),
        ("read_timeout_seconds", "read_timeout"),
    ):
        if key in raw:
            values[name] = _positive(
                raw[key], source=source, where=f"upstream.{key}", integer=False, example=example
            )
    verify = raw.get("verify_tls", True)
    if not isinstance(verify, bool):
        raise ConfigError(
            source, "upstream.verify_tls", "must be true or false", "leave it out: TLS is verified by default"
        )
    if "ca_bundle" in raw:
        bundle = raw["ca_bundle"]
        path = (base_dir / bundle) if isinstance(bundle, str) and bundle else None
        if path is None or not path.is_file():
            raise ConfigError(
                source,
                "upstream.ca_bundle",
                f"{bundle!r} is not a readable file",
                "give the path of a PEM CA bundle",
            )
        values["verify"] = str(path) if verify else False
    else:
        values["verify"] = verify
    style = raw.get("token_style", "basic")
    if style not in ("basic", "form"):
        raise ConfigError(
            source, "upstream.token_style", f"{style!r} is not basic or form", 'use "basic" or "form"'
        )
    values["token_style"] = style
    return UpstreamSettings(**values)
