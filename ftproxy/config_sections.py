"""The optional sections of config.json: client keys with names and rate limits, `streaming`,
`retries`, `limits`, `upstream` and `model_aliases`. Each is validated completely; a mistake
raises `ConfigError` naming the file, the key and the fix (the reference format itself is read
in `config.py`).
"""

from __future__ import annotations

import math
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

from ftproxy.errors import ConfigError
from ftproxy.settings import (
    ClientKey,
    DiscoverySettings,
    Limits,
    RateLimit,
    RetryPolicy,
    StreamSettings,
    UpstreamSettings,
)

# Optional sections of plain positive numbers: config key → settings field, per section.
_STREAMING_KEYS = {
    "max_concurrent": "max_streams",
    "keepalive_seconds": "keepalive_s",
    "first_token_timeout_seconds": "first_token_timeout_s",
    "idle_timeout_seconds": "idle_timeout_s",
    "total_timeout_seconds": "total_timeout_s",
    "retry_after_seconds": "retry_after_s",
}
# Accepted and ignored: streams are relayed on the serving thread now, with no queue to size.
_RETIRED_KEYS = frozenset({"streaming.queue_chunks"})
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
        if name is None and f"{section}.{key}" in _RETIRED_KEYS:
            continue
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


def parse_streaming(raw: Any, *, source: str) -> StreamSettings:
    return _numbers(
        raw,
        source=source,
        section="streaming",
        keys=_STREAMING_KEYS,
        cls=StreamSettings,
        example='{"max_concurrent": 96, "keepalive_seconds": 10, "idle_timeout_seconds": 300}',
    )


def parse_retries(raw: Any, *, source: str) -> RetryPolicy:
    return _numbers(
        raw,
        source=source,
        section="retries",
        keys=_RETRY_KEYS,
        cls=RetryPolicy,
        example='{"max_attempts": 3, "max_total_seconds": 30, "breaker_failures": 5}',
    )


def parse_clients(raw: Any, default_rate: RateLimit | None, *, source: str) -> tuple[ClientKey, ...]:
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
        unknown = set(entry) - {"key", "name", "requests_per_minute", "burst", "orchestration_profile"}
        if unknown:
            raise ConfigError(
                source,
                f"{where}.{sorted(unknown)[0]}",
                "is not a key setting",
                "use key, name, requests_per_minute, burst, orchestration_profile",
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
        # checked against `orchestration.profiles` by config_orchestration.py
        profile = entry.get("orchestration_profile")
        clients.append(ClientKey(value.strip(), name.strip(), rate, profile))
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


def parse_limits(raw: Any, *, source: str) -> Limits:
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


def parse_upstream(raw: Any, *, source: str, base_dir: Path) -> UpstreamSettings:
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


def parse_discovery(raw: Any, *, source: str) -> DiscoverySettings:
    """`discovery`: {"enabled": true, "interval_seconds": 300, "timeout_seconds": 10}."""
    example = '{"enabled": true, "interval_seconds": 300}'
    if not isinstance(raw, dict):
        raise ConfigError(source, "discovery", "must be an object", f"use e.g. {example}")
    numbers = {k: v for k, v in raw.items() if k != "enabled"}
    timing = _numbers(
        numbers,
        source=source,
        section="discovery",
        keys={"interval_seconds": "interval_s", "timeout_seconds": "timeout_s"},
        cls=DiscoverySettings,
        example=example,
    )
    enabled = raw.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        raise ConfigError(
            source, "discovery.enabled", "must be true or false", "write true or false without quotes"
        )
    return DiscoverySettings(enabled=enabled, interval_s=timing.interval_s, timeout_s=timing.timeout_s)


def parse_model_aliases(
    raw: Any, models: set[str], *, source: str, discovers: bool = False
) -> dict[str, str]:
    """`model_aliases`: {"alias": "configured model"}; an alias may not hide a configured model."""
    example = '{"claude-sonnet-4-5": "anthropic--claude-4.5-sonnet"}'
    if not isinstance(raw, dict):
        raise ConfigError(
            source, "model_aliases", "must be an object of alias → model name", f"use {example}"
        )
    aliases: dict[str, str] = {}
    for alias, target in raw.items():
        key = f"model_aliases.{alias}"
        if not alias.strip() or alias != alias.strip():
            raise ConfigError(source, key, "is not a valid alias", "use a name without surrounding spaces")
        if alias in models:
            raise ConfigError(
                source, key, "is a configured model name", "remove the alias: the model answers to its name"
            )
        # With discovery the target may only be known at run time: a name is all we can check.
        if not isinstance(target, str) or (target not in models and not (discovers and target.strip())):
            known = ", ".join(sorted(models))
            raise ConfigError(
                source, key, f"points at {target!r}, which is not a configured model", f"use one of: {known}"
            )
        aliases[alias] = target
    return aliases


MODEL_ROUTES = ("direct", "orchestration")


def parse_model_routes(raw: Any, *, source: str) -> tuple[tuple[str, str], ...]:
    """`model_routes`: {"model name or glob": "orchestration" | "direct"}, in file order (the
    first matching entry decides a model's route)."""
    example = '{"gpt-4o": "orchestration", "mistralai--*": "orchestration"}'
    if not isinstance(raw, dict):
        raise ConfigError(
            source, "model_routes", "must be an object of model name or glob → route", f"use {example}"
        )
    routes: list[tuple[str, str]] = []
    for pattern, route in raw.items():
        key = f"model_routes.{pattern}"
        if not pattern.strip() or pattern != pattern.strip():
            raise ConfigError(
                source, key, "is not a model name or glob", "use a name without surrounding spaces"
            )
        if route not in MODEL_ROUTES:
            raise ConfigError(source, key, f"is {route!r}, not a route", 'use "orchestration" or "direct"')
        routes.append((pattern, route))
    return tuple(routes)
