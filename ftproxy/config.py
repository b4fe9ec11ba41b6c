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
output-token caps per model), `upstream` (timeouts, TLS CA bundle, token request style) and
`model_aliases` (other names for configured models, e.g. the Claude ids Claude Code sends).

Everything is validated here, once, at start-up: a mistake raises `ConfigError` naming the
file, the key and the fix. The result is immutable and shared by all threads without locks.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from ftproxy import config_sections as sections
from ftproxy._json import loads
from ftproxy.config_orchestration import parse_orchestration
from ftproxy.errors import ConfigError, ConfigErrors
from ftproxy.settings import DEFAULT_HOST, DEFAULT_PORT, Config, DiscoverySettings, ServiceKey, Subaccount

__all__ = ["load_config", "parse_config"]

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
    "model_aliases",
    "model_routes",
    "discovery",
    "orchestration",
    # legacy flat form
    "resource_group",
    "service_key_json",
    "service_key",
    "deployment_models",
}
_KNOWN_SUBACCOUNT_KEYS = {
    "resource_group",
    "service_key_json",
    "service_key",
    "deployment_models",
    "orchestration_deployment",
}
_T = TypeVar("_T")


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
    """Validates everything and raises one ConfigError for each mistake found (`ConfigErrors`
    when there are several): each part that does not depend on another is checked on its own."""
    base_dir = base_dir or Path.cwd()
    if not isinstance(data, dict):
        raise ConfigError(source, "(top level)", "must be a JSON object", "wrap the settings in { … }")
    found = _Mistakes()
    found.extend(unknown_keys(data, _KNOWN_TOP_KEYS, source=source, prefix=""))
    subaccounts = found.check(lambda: _subaccounts(data, source=source, base_dir=base_dir))
    limits = found.check(lambda: sections.parse_limits(data.get("limits", {}), source=source))
    clients = found.check(
        lambda: sections.parse_clients(
            data.get("secret_authentication_tokens", []),
            limits.rate if limits else None,
            source=source,
        )
    )
    allow_unauthenticated = data.get("allow_unauthenticated", False)
    if not isinstance(allow_unauthenticated, bool):
        found.add(
            ConfigError(
                source, "allow_unauthenticated", "must be true or false", "write true or false without quotes"
            )
        )
    elif clients == () and not allow_unauthenticated:
        found.add(
            ConfigError(
                source,
                "secret_authentication_tokens",
                "is empty, so no client could call the proxy",
                'add a client key, or set "allow_unauthenticated": true to run without client authentication',
            )
        )

    host = data.get("host", DEFAULT_HOST)
    if not isinstance(host, str) or not host:
        found.add(
            ConfigError(source, "host", "must be a non-empty string", 'use e.g. "127.0.0.1" or "0.0.0.0"')
        )
    port = data.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        found.add(
            ConfigError(source, "port", f"must be an integer from 1 to 65535, not {port!r}", "use e.g. 3001")
        )
    streaming = found.check(lambda: sections.parse_streaming(data.get("streaming", {}), source=source))
    retries = found.check(lambda: sections.parse_retries(data.get("retries", {}), source=source))
    upstream = found.check(
        lambda: sections.parse_upstream(data.get("upstream", {}), source=source, base_dir=base_dir)
    )
    discovery = found.check(lambda: sections.parse_discovery(data.get("discovery", {}), source=source))
    discovers = subaccounts is not None and discovery is not None and _discovers(subaccounts, discovery)
    if subaccounts is not None and discovery is not None and not discovers:
        found.extend(
            ConfigError(
                source,
                f"subAccounts.{s.name}.deployment_models" if "subAccounts" in data else "deployment_models",
                "is missing, and discovery is disabled, so this subaccount serves no model",
                'list its deployments, or remove "discovery": {"enabled": false} to discover them',
            )
            for s in subaccounts
            if not s.deployments
        )
    # Aliases are checked against the configured models: only once every subaccount was read.
    aliases = (
        found.check(
            lambda: sections.parse_model_aliases(
                data.get("model_aliases", {}),
                {m for s in subaccounts for m in s.deployments},
                source=source,
                discovers=discovers,
            )
        )
        if subaccounts is not None
        else None
    )
    orchestration = found.check(
        lambda: parse_orchestration(data.get("orchestration", {}), clients or (), source=source)
    )
    routes = found.check(lambda: sections.parse_model_routes(data.get("model_routes", {}), source=source))
    found.raise_if_any()
    assert subaccounts is not None and clients is not None and limits is not None  # for the type checker
    assert streaming is not None and retries is not None and upstream is not None and aliases is not None
    assert discovery is not None and orchestration is not None
    return Config(
        subaccounts=subaccounts,
        clients=clients,
        allow_unauthenticated=allow_unauthenticated,
        host=host,
        port=port,
        source=source,
        streaming=streaming,
        retries=retries,
        limits=limits,
        upstream=upstream,
        model_aliases=aliases,
        model_routes=routes or (),
        discovery=discovery,
        orchestration=orchestration,
    )


def _discovers(subaccounts: tuple[Subaccount, ...], discovery: DiscoverySettings) -> bool:
    return Config(subaccounts=subaccounts, clients=(), discovery=discovery).discovers


class _Mistakes:
    """The mistakes found so far in one config: collected, then raised together."""

    def __init__(self) -> None:
        self.found: list[ConfigError] = []

    def add(self, mistake: ConfigError) -> None:
        self.found.append(mistake)

    def extend(self, mistakes: Iterable[ConfigError]) -> None:
        self.found.extend(mistakes)

    def check(self, read: Callable[[], _T]) -> _T | None:
        """`read()`, or None with its mistakes recorded."""
        try:
            return read()
        except ConfigError as exc:
            self.found.extend(exc.mistakes)
            return None

    def raise_if_any(self) -> None:
        if len(self.found) == 1:
            raise self.found[0]
        if self.found:
            raise ConfigErrors(self.found)


def _subaccounts(data: dict[str, Any], *, source: str, base_dir: Path) -> tuple[Subaccount, ...]:
    """Every subaccount, each checked on its own; raises every mistake found in any of them."""
    if "subAccounts" not in data:
        if "deployment_models" in data:  # the legacy flat form
            return (_parse_subaccount("default", data, source=source, base_dir=base_dir, key=""),)
        raise ConfigError(
            source,
            "subAccounts",
            "is missing",
            'add "subAccounts": {"name": {"service_key_json": …, "deployment_models": …}}',
        )
    subs_raw = data["subAccounts"]
    if not isinstance(subs_raw, dict) or not subs_raw:
        raise ConfigError(
            source, "subAccounts", "must be a non-empty object of named subaccounts", 'use {"sub1": {…}}'
        )
    found = _Mistakes()
    if "deployment_models" in data:
        found.add(
            ConfigError(
                source,
                "deployment_models",
                "is given both at the top level and in subAccounts",
                "move the top-level deployment_models into a subaccount",
            )
        )
    read = []
    for name, raw in subs_raw.items():
        key = f"subAccounts.{name}"
        if isinstance(raw, dict):
            found.extend(unknown_keys(raw, _KNOWN_SUBACCOUNT_KEYS, source=source, prefix=f"{key}."))
        read.append(
            found.check(
                lambda name=name, raw=raw, key=key: _parse_subaccount(
                    name, raw, source=source, base_dir=base_dir, key=key
                )
            )
        )
    found.raise_if_any()
    return tuple(s for s in read if s is not None)


def unknown_keys(raw: dict[str, Any], known: set[str], *, source: str, prefix: str) -> list[ConfigError]:
    """Warns about unknown keys (a newer or another proxy's setting is ignored, not fatal), and
    returns as mistakes those that are a typo of a known key (`resourcegroup`): ignoring one would
    silently run with the default the user meant to change."""
    mistakes = []
    for key in raw:
        if key in known:
            continue
        meant = near_miss(key, known)
        if meant is None:
            print(f"ftproxy: warning: {source}: unknown key '{prefix}{key}' is ignored", file=sys.stderr)
        else:
            mistakes.append(
                ConfigError(
                    source,
                    f"{prefix}{key}",
                    f"is not a setting, and ignoring it would leave {prefix}{meant} at its default",
                    f'rename it to "{meant}"',
                )
            )
    return mistakes


def near_miss(key: str, known: Iterable[str]) -> str | None:
    """The known key that `key` is a typo of: the same but for case, `_`/`-`, or one edit
    (a letter added, dropped, changed, or two neighbours swapped)."""

    def folded(k: str) -> str:
        return k.lower().replace("_", "").replace("-", "")

    for candidate in sorted(known):
        if folded(candidate) == folded(key) or _one_edit(candidate, key):
            return candidate
    return None


def _one_edit(a: str, b: str) -> bool:
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
        return len(diff) == 1 or swapped
    short, long = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i in range(len(short)) if short[i] != long[i]), len(short))
    return short[i:] == long[i + 1 :]


def _parse_subaccount(name: str, raw: Any, *, source: str, base_dir: Path, key: str) -> Subaccount:
    prefix = f"{key}." if key else ""
    if not isinstance(raw, dict):
        raise ConfigError(
            source, key, "must be an object", "give resource_group, service_key_json and deployment_models"
        )
    resource_group = raw.get("resource_group", "default")
    if not isinstance(resource_group, str) or not resource_group:
        raise ConfigError(
            source, f"{prefix}resource_group", "must be a non-empty string", 'use e.g. "default"'
        )

    service_key = _service_key(raw, source=source, base_dir=base_dir, prefix=prefix)

    # Missing: the subaccount's models come from discovery (parse_config checks it is on).
    models = raw.get("deployment_models", {})
    if not isinstance(models, dict) or (not models and "deployment_models" in raw):
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
    orchestration = raw.get("orchestration_deployment")
    if orchestration is not None:
        orchestration = _deployment_url(
            orchestration, service_key, source=source, key=f"{prefix}orchestration_deployment"
        )
    return Subaccount(
        name=name,
        resource_group=resource_group,
        service_key=service_key,
        deployments=deployments,
        orchestration_url=orchestration,
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
