"""Configuration from the environment alone: a service key where SAP's SDKs look for one, and
the client keys in `FTPROXY_API_KEYS`, so that `ftproxy serve` runs with no file at all.

Where the service key comes from, first found wins (the whole key from that one place):

1. `AICORE_SERVICE_KEY`: the service key JSON, as SAP BTP gives it (SAP Cloud SDK for AI,
   JavaScript, reads it before the service binding).
2. `AICORE_CLIENT_ID`, `AICORE_CLIENT_SECRET`, `AICORE_AUTH_URL`, `AICORE_BASE_URL`.
3. The AI Core SDK's config file: `$AICORE_CONFIG`, else `$AICORE_HOME/config.json`
   (`~/.aicore` by default), or `config_<AICORE_PROFILE>.json`, holding the same `AICORE_…` keys.
4. `VCAP_SERVICES` on Cloud Foundry: the credentials of the service labelled `aicore`.

2 to 4 are the Python SDK's order (`ai_core_sdk` `fetch_credentials`: environment > config file
> VCAP service). The resource group is looked up on its own, as that SDK does:
`AICORE_RESOURCE_GROUP`, then the config file's, else "default". Models are discovered.

The result is the `Config` that `parse_config` makes of the equivalent config.json, with a
`Provenance`: where each setting came from, printed at start-up (never a secret).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ftproxy._json import loads
from ftproxy.config import load_config, parse_config
from ftproxy.environment import (
    AICORE_AUTH_URL,
    AICORE_BASE_URL,
    AICORE_CERT_FILE_PATH,
    AICORE_CERT_STR,
    AICORE_CERT_URL,
    AICORE_CLIENT_ID,
    AICORE_CLIENT_SECRET,
    AICORE_CONFIG,
    AICORE_HOME,
    AICORE_KEY_FILE_PATH,
    AICORE_PROFILE,
    AICORE_RESOURCE_GROUP,
    AICORE_SERVICE_KEY,
    FTPROXY_ALLOW_UNAUTHENTICATED,
    FTPROXY_API_KEYS,
    FTPROXY_CONFIG,
    VCAP_SERVICES,
)
from ftproxy.errors import ConfigError, ConfigErrors
from ftproxy.settings import Config

__all__ = [
    "ENVIRONMENT",
    "FromEnvironment",
    "choose_source",
    "from_environment",
    "has_service_key",
    "load",
    "not_read_with_a_file",
]

# The config "path" that stands for the environment: `serve` hands it to its workers in
# $FTPROXY_CONFIG, and each worker reads the environment it inherited again.
ENVIRONMENT = "(environment)"

# The SDK's names (AICORE_<NAME>) → the service key's fields.
_SEPARATE = {
    AICORE_CLIENT_ID: "clientid",
    AICORE_CLIENT_SECRET: "clientsecret",
    AICORE_AUTH_URL: "url",
    AICORE_BASE_URL: "AI_API_URL",
}
_CERTIFICATE = (AICORE_CERT_URL, AICORE_CERT_FILE_PATH, AICORE_KEY_FILE_PATH, AICORE_CERT_STR)
_SUBACCOUNT = "default"
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class FromEnvironment:
    """The configuration read from the environment, and where each of its settings came from."""

    config: Config
    provenance: tuple[tuple[str, str], ...]  # (setting, where it came from)

    def lines(self) -> list[str]:
        width = max(len(setting) for setting, _ in self.provenance) + 1
        head = "ftproxy: configuration from the environment (no ftproxy config file):"
        return [head, *(f"  {setting + ':':{width}} {origin}" for setting, origin in self.provenance)]


@dataclass(frozen=True)
class _Key:
    """A service key as config.json's inline `service_key` holds it, and where it was found."""

    data: dict[str, Any]
    origin: str  # for the provenance line
    source: str  # for errors: the variable or file to fix


def load(source: str, env: Mapping[str, str] | None = None, home: Path | None = None) -> Config:
    """The config a server process serves: `source` is a config file's path, or `ENVIRONMENT`."""
    if source != ENVIRONMENT:
        return load_config(source)
    found = from_environment(os.environ if env is None else env, Path.home() if home is None else home)
    if found is None:
        raise ConfigError(
            ENVIRONMENT, AICORE_SERVICE_KEY, "is not set, nor any other AI Core credential", _NO_KEY_FIX
        )
    return found.config


_NO_KEY_FIX = (
    f"export {AICORE_SERVICE_KEY}='<the service key JSON>' (or AICORE_CLIENT_ID, AICORE_CLIENT_SECRET, "
    "AICORE_AUTH_URL and AICORE_BASE_URL), or pass --config PATH"
)


def choose_source(explicit: str | None, env: Mapping[str, str], home: Path, cwd: Path) -> str | None:
    """What to serve: `--config PATH` > $FTPROXY_CONFIG > ./config.json if it exists > a
    service key in the environment (`ENVIRONMENT`) > None (nothing configured)."""
    if explicit:
        return explicit
    if env.get(FTPROXY_CONFIG):
        return env[FTPROXY_CONFIG]
    if (cwd / "config.json").exists():
        return "config.json"
    return ENVIRONMENT if has_service_key(env, home) else None


def not_read_with_a_file(env: Mapping[str, str]) -> list[str]:
    """The variables of this module that are set but not read because a config file is used."""
    return [
        name
        for name in (AICORE_SERVICE_KEY, FTPROXY_API_KEYS, FTPROXY_ALLOW_UNAUTHENTICATED)
        if env.get(name)
    ]


def has_service_key(env: Mapping[str, str], home: Path) -> bool:
    """Whether any source of a service key is there (a malformed one counts: reading it says why)."""
    if env.get(AICORE_SERVICE_KEY) or any(env.get(name) for name in (*_SEPARATE, *_CERTIFICATE)):
        return True
    if env.get(AICORE_CONFIG) or env.get(AICORE_PROFILE) or _sdk_config_path(env, home).exists():
        return True
    return _vcap_present(env)


def from_environment(env: Mapping[str, str], home: Path) -> FromEnvironment | None:
    """The configuration the environment describes, or None when it holds no service key.
    Raises ConfigError (naming the variable or file, and the fix) for any malformed value."""
    sdk_file: list[tuple[Path, dict[str, Any]]] = []

    def sdk_config() -> tuple[Path, dict[str, Any]]:
        # Read once, and only when needed: as a fallback for the key, or for the resource group.
        if not sdk_file:
            sdk_file.append(_read_sdk_config(env, home))
        return sdk_file[0]

    sources = (
        (AICORE_SERVICE_KEY, lambda: bool(env.get(AICORE_SERVICE_KEY, "").strip()), lambda: _json_key(env)),
        ("AICORE_CLIENT_ID …", lambda: _any_separate(env), lambda: _fields_key(None, env)),
        ("the AI Core SDK config file", lambda: False, lambda: _fields_key(*sdk_config())),
        (VCAP_SERVICES, lambda: _vcap_present(env), lambda: _vcap_key(env)),
    )
    key: _Key | None = None
    not_used = []
    for name, present, read in sources:
        if key is None:
            key = read()
        elif present():
            not_used.append(name)
    if key is None:
        return None
    group, group_origin = _resource_group(env, sdk_config)
    keys, keys_origin = _client_keys(env)
    data: dict[str, Any] = {
        "subAccounts": {_SUBACCOUNT: {"resource_group": group, "service_key": key.data}},
        "secret_authentication_tokens": keys,
        "allow_unauthenticated": not keys,
    }
    config = _parse(data, key, group_origin)
    provenance = [
        ("service key", key.origin),
        ("AI API URL", config.subaccounts[0].service_key.api_url),
        ("resource group", f'"{group}" ({group_origin})'),
        ("client keys", keys_origin),
        ("models", "discovered from AI Core"),
    ]
    if not_used:
        provenance.append(("not used", f"{', '.join(not_used)} (the service key above comes first)"))
    return FromEnvironment(config, tuple(provenance))


def _json_key(env: Mapping[str, str]) -> _Key | None:
    raw = env.get(AICORE_SERVICE_KEY, "").strip()
    if not raw:
        return None
    try:
        data = loads(raw)
    except ValueError as exc:
        raise ConfigError(
            AICORE_SERVICE_KEY,
            "(value)",
            f"is not valid JSON ({exc})",
            f"export {AICORE_SERVICE_KEY}='<the service key JSON from SAP BTP>', in single quotes",
        ) from None
    if isinstance(data, dict) and "clientid" not in data and isinstance(data.get("credentials"), dict):
        data = data["credentials"]  # a service binding's entry (as in VCAP_SERVICES), not the bare key
    if not isinstance(data, dict):
        raise ConfigError(
            AICORE_SERVICE_KEY,
            "(value)",
            "must be a JSON object",
            "use the service key exactly as SAP BTP gives it",
        )
    return _Key(_normalised(data), AICORE_SERVICE_KEY, AICORE_SERVICE_KEY)


def _any_separate(values: Mapping[str, Any]) -> bool:
    return any(values.get(name) for name in (*_SEPARATE, *_CERTIFICATE))


def _fields_key(file: Path | None, values: Mapping[str, Any]) -> _Key | None:
    """AICORE_CLIENT_ID … from the environment (`file` None) or from the SDK's config file."""
    if not _any_separate(values):
        return None

    def mistake(name: str, problem: str, fix: str) -> ConfigError:
        return (
            ConfigError(str(file), name, problem, fix)
            if file
            else ConfigError(name, "(variable)", problem, fix)
        )

    certificate = [name for name in _CERTIFICATE if values.get(name)]
    if certificate and not values.get(AICORE_CLIENT_SECRET):
        raise mistake(
            certificate[0],
            "is a certificate (X.509) credential, which ftproxy does not support",
            "create a service key with a client secret and give AICORE_CLIENT_SECRET",
        )
    for name, field in _SEPARATE.items():
        value = values.get(name)
        if not isinstance(value, str) or not value.strip():
            given = next(n for n in (*_SEPARATE, *_CERTIFICATE) if values.get(n))
            raise mistake(
                name,
                f"is missing or empty, but {given} is given",
                f"set it to the service key's {field}, or give the whole key in {AICORE_SERVICE_KEY}",
            )
    data = {
        "clientid": values[AICORE_CLIENT_ID].strip(),
        "clientsecret": values[AICORE_CLIENT_SECRET].strip(),
        "url": values[AICORE_AUTH_URL].strip(),
        "serviceurls": {"AI_API_URL": values[AICORE_BASE_URL].strip()},
    }
    origin = str(file) if file else ", ".join(_SEPARATE)
    return _Key(_normalised(data), origin, origin)


def _sdk_config_path(env: Mapping[str, str], home: Path) -> Path:
    """The SDK's `init_conf`: $AICORE_CONFIG, else config.json (or config_<profile>.json) in
    $AICORE_HOME, `~/.aicore` by default."""
    if env.get(AICORE_CONFIG):
        return Path(env[AICORE_CONFIG]).expanduser()
    folder = Path(env[AICORE_HOME]).expanduser() if env.get(AICORE_HOME) else home / ".aicore"
    profile = env.get(AICORE_PROFILE, "")
    return folder / ("config.json" if profile in ("", "default") else f"config_{profile}.json")


def _read_sdk_config(env: Mapping[str, str], home: Path) -> tuple[Path, dict[str, Any]]:
    """The SDK's config file and its contents ({} when there is none and none was asked for)."""
    path = _sdk_config_path(env, home)
    asked = env.get(AICORE_CONFIG) or env.get(AICORE_PROFILE, "") not in ("", "default")
    try:
        data = loads(path.read_bytes())
    except FileNotFoundError:
        if asked:  # the SDK refuses a missing profile too
            named = AICORE_CONFIG if env.get(AICORE_CONFIG) else AICORE_PROFILE
            raise ConfigError(
                named,
                "(variable)",
                f"names {path}, which does not exist",
                f"create the file or unset {named}",
            ) from None
        return path, {}
    except OSError as exc:
        raise ConfigError(
            str(path), "(file)", f"cannot be read ({exc.strerror})", "check its permissions"
        ) from None
    except ValueError as exc:
        raise ConfigError(str(path), "(file)", f"is not valid JSON ({exc})", "fix the JSON syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(
            str(path), "(top level)", "must be a JSON object", 'use {"AICORE_CLIENT_ID": "…", …}'
        )
    return path, data


def _vcap_services(env: Mapping[str, str]) -> dict[str, Any]:
    raw = env.get(VCAP_SERVICES, "").strip()
    if not raw:
        return {}
    try:
        data = loads(raw)
    except ValueError as exc:
        raise ConfigError(
            VCAP_SERVICES, "(value)", f"is not valid JSON ({exc})", "check the app's service bindings"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            VCAP_SERVICES, "(value)", "must be a JSON object", "check the app's service bindings"
        )
    return data


def _vcap_present(env: Mapping[str, str]) -> bool:
    try:
        return _vcap_binding(_vcap_services(env)) is not None
    except ConfigError:
        return True


def _vcap_binding(services: dict[str, Any]) -> dict[str, Any] | None:
    """The first service labelled `aicore`, as the SDK's VCAPEnvironment finds it."""
    for bindings in services.values():
        for binding in bindings if isinstance(bindings, list) else ():
            if isinstance(binding, dict) and binding.get("label") == "aicore":
                return binding
    return None


def _vcap_key(env: Mapping[str, str]) -> _Key | None:
    binding = _vcap_binding(_vcap_services(env))
    if binding is None:
        return None
    name = binding.get("name") or "?"
    credentials = binding.get("credentials")
    where = f"{VCAP_SERVICES} (service aicore, instance {name})"
    if not isinstance(credentials, dict):
        raise ConfigError(
            VCAP_SERVICES, f"aicore[{name}].credentials", "is missing", "rebind the AI Core service"
        )
    if "clientsecret" not in credentials and "certificate" in credentials:
        raise ConfigError(
            VCAP_SERVICES,
            f"aicore[{name}].credentials",
            "holds a certificate (X.509) credential, which ftproxy does not support",
            "bind the AI Core service with a client secret (credential-type binding-secret)",
        )
    return _Key(_normalised(credentials), where, VCAP_SERVICES)


def _normalised(key: dict[str, Any]) -> dict[str, Any]:
    """The SDK accepts the auth URL with or without /oauth/token, the API URL with or without /v2;
    a ServiceKey holds both without (it adds them itself)."""
    out = dict(key)
    url = out.get("url")
    if isinstance(url, str):
        out["url"] = _without(url, "/oauth/token")
    urls = out.get("serviceurls")
    if isinstance(urls, dict) and isinstance(urls.get("AI_API_URL"), str):
        out["serviceurls"] = {**urls, "AI_API_URL": _without(urls["AI_API_URL"], "/v2")}
    return out


def _without(url: str, suffix: str) -> str:
    url = url.strip().rstrip("/")
    return url[: -len(suffix)] if url.endswith(suffix) else url


def _resource_group(env: Mapping[str, str], sdk_config: Any) -> tuple[str, str]:
    """The SDK's `resolve_resource_group`: the first source that gives one, each on its own."""
    if env.get(AICORE_RESOURCE_GROUP, "").strip():
        return env[AICORE_RESOURCE_GROUP].strip(), AICORE_RESOURCE_GROUP
    path, data = sdk_config()
    group = data.get(AICORE_RESOURCE_GROUP)
    if isinstance(group, str) and group.strip():
        return group.strip(), f"{AICORE_RESOURCE_GROUP} in {path}"
    return "default", f"{AICORE_RESOURCE_GROUP} not set: the default"


def _client_keys(env: Mapping[str, str]) -> tuple[list[str], str]:
    raw = env.get(FTPROXY_API_KEYS)
    allow = env.get(FTPROXY_ALLOW_UNAUTHENTICATED, "").strip().lower()
    if allow not in (*_TRUE, *_FALSE):
        raise ConfigError(
            FTPROXY_ALLOW_UNAUTHENTICATED,
            "(variable)",
            f"is {allow!r}, not 1 or 0",
            "set it to 1 (or unset it)",
        )
    if raw is None:
        if allow in _TRUE:
            given = f"{FTPROXY_ALLOW_UNAUTHENTICATED}={env[FTPROXY_ALLOW_UNAUTHENTICATED]}"
            return [], f"none: {given} (any client may call)"
        raise ConfigError(
            FTPROXY_API_KEYS,
            "(variable)",
            "is not set, so no client could call the proxy",
            f"export {FTPROXY_API_KEYS}=sk-…,sk-… (the client keys, comma-separated), or "
            f"{FTPROXY_ALLOW_UNAUTHENTICATED}=1 to run without client authentication",
        )
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        raise ConfigError(
            FTPROXY_API_KEYS,
            "(variable)",
            "holds no key",
            f"export {FTPROXY_API_KEYS}=sk-…,sk-… (comma-separated)",
        )
    return keys, f"{FTPROXY_API_KEYS} ({len(keys)} key{'s' if len(keys) > 1 else ''})"


def _parse(data: dict[str, Any], key: _Key, group_origin: str) -> Config:
    """parse_config of the equivalent config.json, its mistakes told in terms of the variables."""
    prefix = f"subAccounts.{_SUBACCOUNT}."
    try:
        return parse_config(data, source=ENVIRONMENT)
    except ConfigError as exc:
        told = []
        for m in exc.mistakes:
            if m.key.startswith(prefix + "service_key"):
                where = m.key[len(prefix + "service_key") :].lstrip(".") or "(value)"
                told.append(
                    ConfigError(
                        key.source, where, m.problem, "use the service key exactly as SAP BTP gives it"
                    )
                )
            elif m.key.startswith(prefix + "resource_group"):
                told.append(ConfigError(group_origin.split(" ")[0], "(variable)", m.problem, m.fix))
            elif m.key.startswith("secret_authentication_tokens"):
                told.append(ConfigError(FTPROXY_API_KEYS, "(variable)", m.problem, m.fix))
            else:
                told.append(m)
        raise (told[0] if len(told) == 1 else ConfigErrors(told)) from None
