"""Configuration from the environment alone (ftproxy.config_env): every source of a service key,
their precedence, every malformed value, and the CLI's choice between a file and the environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftproxy.cli import main
from ftproxy.config_env import ENVIRONMENT, choose_source, from_environment, load
from ftproxy.errors import ConfigError

SECRET = "s3cret-value"
KEY = {
    "clientid": "cid",
    "clientsecret": SECRET,
    "url": "https://sub.authentication.example.com",
    "identityzoneid": "tenant-1",
    "serviceurls": {"AI_API_URL": "https://api.ai.example.com"},
}
SEPARATE = {
    "AICORE_CLIENT_ID": "cid",
    "AICORE_CLIENT_SECRET": SECRET,
    "AICORE_AUTH_URL": "https://sub.authentication.example.com/oauth/token",
    "AICORE_BASE_URL": "https://api.ai.example.com/v2",
}
VCAP = {
    "aicore": [{"label": "aicore", "name": "my-ai-core", "credentials": KEY}],
    "xsuaa": [{"label": "xsuaa", "name": "uaa", "credentials": {}}],
}
CLIENTS = {"FTPROXY_API_KEYS": "sk-one, sk-two"}
AUTH = "https://sub.authentication.example.com"
API = "https://api.ai.example.com"


def _home(tmp_path: Path, files: dict[str, Any]) -> Path:
    """A home folder holding `files` (relative path → JSON value, or raw text)."""
    home = tmp_path / "home"
    for name, content in files.items():
        path = home / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    home.mkdir(exist_ok=True)
    return home


def _env(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    """`env` with `{tmp}` replaced by the test's folder (for AICORE_HOME and AICORE_CONFIG)."""
    return {k: v.replace("{tmp}", str(tmp_path / "home")) for k, v in env.items()}


# (case, environment, files in the home folder, origin of the key, resource group)
SOURCES = [
    ("service key JSON", {"AICORE_SERVICE_KEY": json.dumps(KEY)}, {}, "AICORE_SERVICE_KEY", "default"),
    (
        "service key as a binding entry",
        {"AICORE_SERVICE_KEY": json.dumps({"credentials": KEY})},
        {},
        "AICORE_SERVICE_KEY",
        "default",
    ),
    (
        "service key with /v2 and a trailing slash",
        {
            "AICORE_SERVICE_KEY": json.dumps(
                {**KEY, "url": AUTH + "/", "serviceurls": {"AI_API_URL": API + "/v2/"}}
            )
        },
        {},
        "AICORE_SERVICE_KEY",
        "default",
    ),
    ("separate variables, SDK suffixes", SEPARATE, {}, "AICORE_CLIENT_ID", "default"),
    (
        "separate variables, bare URLs",
        {**SEPARATE, "AICORE_AUTH_URL": AUTH, "AICORE_BASE_URL": API},
        {},
        "AICORE_CLIENT_ID",
        "default",
    ),
    (
        "resource group variable",
        {"AICORE_SERVICE_KEY": json.dumps(KEY), "AICORE_RESOURCE_GROUP": "team-a"},
        {},
        "AICORE_SERVICE_KEY",
        "team-a",
    ),
    ("~/.aicore/config.json", {}, {".aicore/config.json": SEPARATE}, ".aicore/config.json", "default"),
    (
        "config file's resource group",
        {},
        {".aicore/config.json": {**SEPARATE, "AICORE_RESOURCE_GROUP": "rg-file"}},
        ".aicore/config.json",
        "rg-file",
    ),
    (
        "config file's group, key from the environment",
        {"AICORE_SERVICE_KEY": json.dumps(KEY)},
        {".aicore/config.json": {"AICORE_RESOURCE_GROUP": "rg-file"}},
        "AICORE_SERVICE_KEY",
        "rg-file",
    ),
    (
        "variable's group before the file's",
        {"AICORE_RESOURCE_GROUP": "rg-env"},
        {".aicore/config.json": {**SEPARATE, "AICORE_RESOURCE_GROUP": "rg-file"}},
        ".aicore/config.json",
        "rg-env",
    ),
    (
        "AICORE_HOME",
        {"AICORE_HOME": "{tmp}/elsewhere"},
        {"elsewhere/config.json": SEPARATE},
        "elsewhere",
        "default",
    ),
    (
        "AICORE_PROFILE",
        {"AICORE_PROFILE": "dev"},
        {".aicore/config_dev.json": SEPARATE, ".aicore/config.json": {"AICORE_CLIENT_ID": "other"}},
        "config_dev.json",
        "default",
    ),
    ("AICORE_CONFIG", {"AICORE_CONFIG": "{tmp}/my.json"}, {"my.json": SEPARATE}, "my.json", "default"),
    (
        "VCAP_SERVICES",
        {"VCAP_SERVICES": json.dumps(VCAP)},
        {},
        "VCAP_SERVICES (service aicore, instance my-ai-core)",
        "default",
    ),
]


@pytest.mark.parametrize(
    ("env", "files", "origin", "group"), [c[1:] for c in SOURCES], ids=[c[0] for c in SOURCES]
)
def test_each_source_gives_the_service_key(
    tmp_path: Path, env: dict[str, str], files: dict[str, Any], origin: str, group: str
) -> None:
    found = from_environment({**_env(tmp_path, env), **CLIENTS}, _home(tmp_path, files))
    assert found is not None
    (sub,) = found.config.subaccounts
    assert (sub.service_key.client_id, sub.service_key.client_secret) == ("cid", SECRET)
    assert (sub.service_key.auth_url, sub.service_key.api_url) == (AUTH, API)
    assert sub.service_key.token_url == AUTH + "/oauth/token"
    assert sub.resource_group == group
    assert found.config.discovers and not sub.deployments
    assert [c.key for c in found.config.clients] == ["sk-one", "sk-two"]
    provenance = dict(found.provenance)
    assert origin in provenance["service key"]
    assert f'"{group}"' in provenance["resource group"]
    assert provenance["client keys"] == "FTPROXY_API_KEYS (2 keys)"
    text = "\n".join(found.lines())
    assert SECRET not in text and "sk-one" not in text  # never a secret


# (case, environment, files, origin of the key used, sources named as not used)
PRECEDENCE = [
    (
        "service key before the separate variables and VCAP",
        {"AICORE_SERVICE_KEY": json.dumps(KEY), **SEPARATE, "VCAP_SERVICES": json.dumps(VCAP)},
        {},
        "AICORE_SERVICE_KEY",
        "AICORE_CLIENT_ID …, VCAP_SERVICES",
    ),
    (
        "separate variables before the config file",
        SEPARATE,
        {".aicore/config.json": {**SEPARATE, "AICORE_CLIENT_ID": "from-file"}},
        "AICORE_CLIENT_ID",
        None,
    ),
    (
        "config file before VCAP",
        {"VCAP_SERVICES": json.dumps(VCAP)},
        {".aicore/config.json": SEPARATE},
        ".aicore/config.json",
        "VCAP_SERVICES",
    ),
    (
        "a config file without credentials falls through to VCAP",
        {"VCAP_SERVICES": json.dumps(VCAP)},
        {".aicore/config.json": {"AICORE_RESOURCE_GROUP": "rg"}},
        "VCAP_SERVICES",
        None,
    ),
]


@pytest.mark.parametrize(
    ("env", "files", "origin", "not_used"), [c[1:] for c in PRECEDENCE], ids=[c[0] for c in PRECEDENCE]
)
def test_the_first_source_wins_whole(
    tmp_path: Path, env: dict[str, str], files: dict[str, Any], origin: str, not_used: str | None
) -> None:
    found = from_environment({**env, **CLIENTS}, _home(tmp_path, files))
    assert found is not None
    assert found.config.subaccounts[0].service_key.client_id == "cid"  # never mixed with another source
    provenance = dict(found.provenance)
    assert origin in provenance["service key"]
    assert provenance.get("not used", "").startswith(not_used or "")
    assert ("not used" in provenance) == (not_used is not None)


# (case, environment, files, the error's source, its key, words of the problem)
MALFORMED = [
    (
        "service key not JSON",
        {"AICORE_SERVICE_KEY": "{clientid: x"},
        {},
        "AICORE_SERVICE_KEY",
        "(value)",
        "not valid JSON",
    ),
    (
        "service key not an object",
        {"AICORE_SERVICE_KEY": "[1]"},
        {},
        "AICORE_SERVICE_KEY",
        "(value)",
        "JSON object",
    ),
    (
        "service key without AI_API_URL",
        {"AICORE_SERVICE_KEY": json.dumps({**KEY, "serviceurls": {}})},
        {},
        "AICORE_SERVICE_KEY",
        "serviceurls.AI_API_URL",
        "missing",
    ),
    (
        "service key without a secret",
        {"AICORE_SERVICE_KEY": json.dumps({k: v for k, v in KEY.items() if k != "clientsecret"})},
        {},
        "AICORE_SERVICE_KEY",
        "clientsecret",
        "missing",
    ),
    (
        "service key's url not a URL",
        {"AICORE_SERVICE_KEY": json.dumps({**KEY, "url": "sub.example.com"})},
        {},
        "AICORE_SERVICE_KEY",
        "url",
        "not a URL",
    ),
    (
        "separate variables incomplete",
        {k: v for k, v in SEPARATE.items() if k != "AICORE_BASE_URL"},
        {},
        "AICORE_BASE_URL",
        "(variable)",
        "missing",
    ),
    (
        "certificate credentials",
        {"AICORE_CLIENT_ID": "cid", "AICORE_CERT_URL": AUTH},
        {},
        "AICORE_CERT_URL",
        "(variable)",
        "certificate",
    ),
    (
        "separate base URL not a URL",
        {**SEPARATE, "AICORE_BASE_URL": "api"},
        {},
        "AICORE_CLIENT_ID, AICORE_CLIENT_SECRET, AICORE_AUTH_URL, AICORE_BASE_URL",
        "serviceurls.AI_API_URL",
        "not a URL",
    ),
    (
        "config file not JSON",
        {},
        {".aicore/config.json": "{nope"},
        ".aicore/config.json",
        "(file)",
        "not valid JSON",
    ),
    (
        "config file incomplete",
        {},
        {".aicore/config.json": {"AICORE_CLIENT_ID": "cid"}},
        ".aicore/config.json",
        "AICORE_CLIENT_SECRET",
        "missing",
    ),
    (
        "AICORE_CONFIG names nothing",
        {"AICORE_CONFIG": "{tmp}/none.json"},
        {},
        "AICORE_CONFIG",
        "(variable)",
        "does not exist",
    ),
    (
        "AICORE_PROFILE without its file",
        {"AICORE_PROFILE": "prod"},
        {},
        "AICORE_PROFILE",
        "(variable)",
        "config_prod.json",
    ),
    ("VCAP_SERVICES not JSON", {"VCAP_SERVICES": "{"}, {}, "VCAP_SERVICES", "(value)", "not valid JSON"),
    (
        "VCAP aicore without credentials",
        {"VCAP_SERVICES": json.dumps({"aicore": [{"label": "aicore", "name": "ai"}]})},
        {},
        "VCAP_SERVICES",
        "aicore[ai].credentials",
        "missing",
    ),
    (
        "VCAP aicore with a certificate",
        {
            "VCAP_SERVICES": json.dumps(
                {"aicore": [{"label": "aicore", "name": "ai", "credentials": {"certificate": "x"}}]}
            )
        },
        {},
        "VCAP_SERVICES",
        "aicore[ai].credentials",
        "certificate",
    ),
    (
        "no client keys",
        {"AICORE_SERVICE_KEY": json.dumps(KEY), "FTPROXY_API_KEYS": None},
        {},
        "FTPROXY_API_KEYS",
        "(variable)",
        "not set",
    ),
    (
        "empty client keys",
        {"AICORE_SERVICE_KEY": json.dumps(KEY), "FTPROXY_API_KEYS": " , "},
        {},
        "FTPROXY_API_KEYS",
        "(variable)",
        "no key",
    ),
    (
        "allow_unauthenticated not a boolean",
        {"AICORE_SERVICE_KEY": json.dumps(KEY), "FTPROXY_ALLOW_UNAUTHENTICATED": "maybe"},
        {},
        "FTPROXY_ALLOW_UNAUTHENTICATED",
        "(variable)",
        "not 1 or 0",
    ),
]


@pytest.mark.parametrize(
    ("env", "files", "source", "key", "problem"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED]
)
def test_a_malformed_value_names_the_variable_and_the_fix(
    tmp_path: Path, env: dict[str, Any], files: dict[str, Any], source: str, key: str, problem: str
) -> None:
    merged = {k: v for k, v in {**CLIENTS, **env}.items() if v is not None}
    with pytest.raises(ConfigError) as raised:
        from_environment(_env(tmp_path, merged), _home(tmp_path, files))
    (mistake,) = raised.value.mistakes
    assert source in mistake.source
    assert mistake.key == key
    assert problem in mistake.problem
    assert mistake.fix
    assert SECRET not in str(mistake)


def test_unauthenticated_only_when_asked(tmp_path: Path) -> None:
    env = {"AICORE_SERVICE_KEY": json.dumps(KEY), "FTPROXY_ALLOW_UNAUTHENTICATED": "1"}
    found = from_environment(env, _home(tmp_path, {}))
    assert found is not None
    assert found.config.allow_unauthenticated and found.config.clients == ()
    assert "FTPROXY_ALLOW_UNAUTHENTICATED=1" in dict(found.provenance)["client keys"]


def test_nothing_in_the_environment_is_no_configuration(tmp_path: Path) -> None:
    assert from_environment(CLIENTS, _home(tmp_path, {})) is None
    assert (
        from_environment({"VCAP_SERVICES": json.dumps({"xsuaa": VCAP["xsuaa"]})}, _home(tmp_path, {})) is None
    )
    with pytest.raises(ConfigError, match="AICORE_SERVICE_KEY"):
        load(ENVIRONMENT, CLIENTS, _home(tmp_path, {}))


def test_load_reads_the_environment_or_a_file(tmp_path: Path) -> None:
    env = {"AICORE_SERVICE_KEY": json.dumps(KEY), **CLIENTS}
    assert load(ENVIRONMENT, env, _home(tmp_path, {})).subaccounts[0].service_key.api_url == API
    path = tmp_path / "config.json"
    path.write_text(
        json.dumps({"subAccounts": {"a": {"service_key": KEY}}, "secret_authentication_tokens": ["k"]})
    )
    assert load(str(path), {}, tmp_path).subaccounts[0].name == "a"


# (case, --config, environment, ./config.json exists, ~/.aicore/config.json exists, chosen)
CHOICES = [
    (
        "--config first",
        "c.json",
        {"FTPROXY_CONFIG": "f.json", "AICORE_SERVICE_KEY": "{}"},
        True,
        False,
        "c.json",
    ),
    (
        "then $FTPROXY_CONFIG",
        None,
        {"FTPROXY_CONFIG": "f.json", "AICORE_SERVICE_KEY": "{}"},
        True,
        False,
        "f.json",
    ),
    ("then ./config.json", None, {"AICORE_SERVICE_KEY": "{}"}, True, False, "config.json"),
    ("then the service key", None, {"AICORE_SERVICE_KEY": "{}"}, False, False, ENVIRONMENT),
    ("or separate variables", None, {"AICORE_CLIENT_ID": "x"}, False, False, ENVIRONMENT),
    ("or the SDK's config file", None, {}, False, True, ENVIRONMENT),
    ("or VCAP's aicore", None, {"VCAP_SERVICES": json.dumps(VCAP)}, False, False, ENVIRONMENT),
    ("a malformed VCAP is read (to say why)", None, {"VCAP_SERVICES": "{"}, False, False, ENVIRONMENT),
    ("VCAP without aicore is nothing", None, {"VCAP_SERVICES": json.dumps({"x": []})}, False, False, None),
    ("else nothing", None, {"FTPROXY_API_KEYS": "k"}, False, False, None),
]


@pytest.mark.parametrize(
    ("explicit", "env", "local", "sdk", "chosen"), [c[1:] for c in CHOICES], ids=[c[0] for c in CHOICES]
)
def test_the_cli_chooses_a_file_before_the_environment(
    tmp_path: Path, explicit: str | None, env: dict[str, str], local: bool, sdk: bool, chosen: str | None
) -> None:
    home = _home(tmp_path, {".aicore/config.json": SEPARATE} if sdk else {})
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    if local:
        (cwd / "config.json").write_text("{}")
    assert choose_source(explicit, env, home, cwd) == chosen


@pytest.fixture
def bare_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ftproxy or AI Core variable, an empty home and working directory."""
    for name in ("FTPROXY_CONFIG", "FTPROXY_API_KEYS", "FTPROXY_ALLOW_UNAUTHENTICATED", "VCAP_SERVICES"):
        monkeypatch.delenv(name, raising=False)
    import os

    for name in [n for n in os.environ if n.startswith("AICORE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(_home(tmp_path, {})))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return cwd


def test_check_config_without_a_file_reads_the_environment(
    bare_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AICORE_SERVICE_KEY", json.dumps(KEY))
    monkeypatch.setenv("FTPROXY_API_KEYS", "sk-one")
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{ENVIRONMENT}: OK: 1 subaccount(s)") and "discovered" in out
    assert "  service key:    AICORE_SERVICE_KEY" in err
    assert "client keys:    FTPROXY_API_KEYS (1 key)" in err
    assert SECRET not in out + err and "sk-one" not in out + err


def test_serve_without_any_configuration_names_the_variables(
    bare_environment: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "no configuration" in err and "AICORE_SERVICE_KEY" in err and "FTPROXY_API_KEYS" in err
    assert "--demo" in err


def test_serve_with_a_bad_service_key_is_a_configuration_error(
    bare_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AICORE_SERVICE_KEY", "{not json")
    monkeypatch.setenv("FTPROXY_API_KEYS", "sk-one")
    assert main(["serve", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "configuration error: AICORE_SERVICE_KEY: (value): is not valid JSON" in err
    assert "Traceback" not in err


def test_serve_dry_run_from_the_environment(
    bare_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AICORE_SERVICE_KEY", json.dumps(KEY))
    monkeypatch.setenv("FTPROXY_API_KEYS", "sk-one,sk-two")
    assert main(["serve", "--dry-run"]) == 0
    out, err = capsys.readouterr()
    assert f"config:              {ENVIRONMENT}" in out
    assert "service key:    AICORE_SERVICE_KEY" in err


def test_a_config_file_wins_and_the_unread_variables_are_named(
    bare_environment: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (bare_environment / "config.json").write_text(
        json.dumps({"subAccounts": {"file": {"service_key": KEY}}, "secret_authentication_tokens": ["k"]})
    )
    monkeypatch.setenv("AICORE_SERVICE_KEY", "{not even json")
    monkeypatch.setenv("FTPROXY_API_KEYS", "sk-one")
    assert main(["check-config"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("config.json: OK: 1 subaccount(s)")
    assert "note: config.json is used, not AICORE_SERVICE_KEY, FTPROXY_API_KEYS from the environment" in err
