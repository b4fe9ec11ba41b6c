import json
from pathlib import Path

import pytest

from ftproxy.config import load_config, parse_config
from ftproxy.errors import ConfigError

KEY = {
    "clientid": "cid",
    "clientsecret": "csecret",
    "url": "https://auth.example.test",
    "identityzoneid": "zone-1",
    "serviceurls": {"AI_API_URL": "https://api.example.test"},
}
URL = "https://api.example.test/v2/inference/deployments/d0123456789abcde"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "key.json").write_text(json.dumps(KEY))
    return tmp_path


def write(folder: Path, data: object) -> Path:
    path = folder / "config.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return path


def reference_config(**overrides: object) -> dict:
    config = {
        "subAccounts": {
            "sub1": {
                "resource_group": "rg1",
                "service_key_json": "key.json",
                "deployment_models": {"gpt-4.1": [URL], "anthropic--claude-4.5-sonnet": [URL, URL + "x"]},
            }
        },
        "secret_authentication_tokens": ["sk-one", "sk-two"],
        "host": "0.0.0.0",
        "port": 4000,
    }
    config.update(overrides)
    return config


def test_reference_format_is_read_unchanged(folder: Path) -> None:
    config = load_config(write(folder, reference_config()))
    (sub,) = config.subaccounts
    assert sub.name == "sub1" and sub.resource_group == "rg1"
    assert sub.service_key.client_id == "cid" and sub.service_key.tenant_id == "zone-1"
    assert sub.service_key.token_url == "https://auth.example.test/oauth/token"
    assert sub.deployments["anthropic--claude-4.5-sonnet"] == (URL, URL + "x")
    assert config.client_keys == ("sk-one", "sk-two")
    assert (config.host, config.port) == ("0.0.0.0", 4000)
    assert config.models == ("gpt-4.1", "anthropic--claude-4.5-sonnet")


def test_legacy_flat_form_becomes_one_subaccount(folder: Path) -> None:
    config = load_config(
        write(
            folder,
            {
                "resource_group": "default",
                "service_key_json": "key.json",
                "deployment_models": {"gpt-4.1": URL},
                "secret_authentication_tokens": ["sk-x"],
            },
        )
    )
    assert [s.name for s in config.subaccounts] == ["default"]
    assert config.subaccounts[0].deployments == {"gpt-4.1": (URL,)}
    assert (config.host, config.port) == ("127.0.0.1", 3001)


def test_deployment_ids_expand_to_urls(folder: Path) -> None:
    data = reference_config()
    data["subAccounts"]["sub1"]["deployment_models"] = {"gpt-4.1": ["d0123456789abcde"]}
    config = load_config(write(folder, data))
    assert config.subaccounts[0].deployments["gpt-4.1"] == (URL,)


def test_service_key_secret_never_in_repr(folder: Path) -> None:
    config = load_config(write(folder, reference_config()))
    assert "csecret" not in repr(config.subaccounts[0]) and "sk-one" not in repr(config)


def test_inline_service_key_and_allow_unauthenticated(tmp_path: Path) -> None:
    data = {
        "subAccounts": {"a": {"service_key": KEY, "deployment_models": {"gpt-4.1": [URL]}}},
        "allow_unauthenticated": True,
    }
    config = parse_config(data, source="inline", base_dir=tmp_path)
    assert config.client_keys == () and config.allow_unauthenticated


def _sub(**changes: object) -> dict:
    sub = {"resource_group": "rg1", "service_key_json": "key.json", "deployment_models": {"gpt-4.1": [URL]}}
    sub.update(changes)
    return {"subAccounts": {"sub1": sub}, "secret_authentication_tokens": ["sk-one"]}


BAD_CONFIGS = [
    # (name, config, key named in the error, words in the problem)
    ("not an object", [], "(top level)", "JSON object"),
    ("nothing configured", {"secret_authentication_tokens": ["k"]}, "subAccounts", "missing"),
    ("empty subaccounts", {"subAccounts": {}}, "subAccounts", "non-empty"),
    (
        "no client keys",
        _sub() | {"secret_authentication_tokens": []},
        "secret_authentication_tokens",
        "no client",
    ),
    (
        "key not a string",
        _sub() | {"secret_authentication_tokens": [1]},
        "secret_authentication_tokens[0]",
        "string or an object",
    ),
    ("port out of range", _sub() | {"port": 70000}, "port", "1 to 65535"),
    ("port as string", _sub() | {"port": "3001"}, "port", "integer"),
    ("empty host", _sub() | {"host": ""}, "host", "non-empty"),
    (
        "missing key file",
        _sub(service_key_json="nope.json"),
        "subAccounts.sub1.service_key_json",
        "does not exist",
    ),
    (
        "no service key",
        {"subAccounts": {"s": {"deployment_models": {"m": [URL]}}}, "secret_authentication_tokens": ["k"]},
        "subAccounts.s.service_key_json",
        "missing",
    ),
    ("no models", _sub(deployment_models={}), "subAccounts.sub1.deployment_models", "non-empty"),
    (
        "empty url list",
        _sub(deployment_models={"gpt-4.1": []}),
        "subAccounts.sub1.deployment_models.gpt-4.1",
        "non-empty",
    ),
    (
        "bad url",
        _sub(deployment_models={"gpt-4.1": ["ftp://x/y"]}),
        "subAccounts.sub1.deployment_models.gpt-4.1",
        "neither",
    ),
    (
        "url with query",
        _sub(deployment_models={"gpt-4.1": [URL + "?a=1"]}),
        "subAccounts.sub1.deployment_models.gpt-4.1",
        "query",
    ),
    (
        "model with slash",
        _sub(deployment_models={"a/b": [URL]}),
        "subAccounts.sub1.deployment_models.a/b",
        "model name",
    ),
    ("bad resource group", _sub(resource_group=5), "subAccounts.sub1.resource_group", "string"),
    (
        "allow_unauthenticated string",
        _sub() | {"allow_unauthenticated": "yes"},
        "allow_unauthenticated",
        "true or false",
    ),
    # the optional sections (streaming, retries, limits, upstream) and per-key settings
    ("streaming not an object", _sub() | {"streaming": 5}, "streaming", "object"),
    (
        "unknown streaming key",
        _sub() | {"streaming": {"keepalive": 1}},
        "streaming.keepalive",
        "not a streaming",
    ),
    (
        "negative timeout",
        _sub() | {"streaming": {"idle_timeout_seconds": -1}},
        "streaming.idle_timeout_seconds",
        "positive",
    ),
    ("fractional attempts", _sub() | {"retries": {"max_attempts": 1.5}}, "retries.max_attempts", "integer"),
    ("unknown limit", _sub() | {"limits": {"rps": 5}}, "limits.rps", "not a limit"),
    ("zero body limit", _sub() | {"limits": {"max_body_bytes": 0}}, "limits.max_body_bytes", "positive"),
    ("burst alone", _sub() | {"limits": {"burst": 5}}, "limits.burst", "requests_per_minute"),
    (
        "bad output cap",
        _sub() | {"limits": {"max_output_tokens": {"gpt-4.1": "many"}}},
        "limits.max_output_tokens.gpt-4.1",
        "integer",
    ),
    ("missing CA bundle", _sub() | {"upstream": {"ca_bundle": "nope.pem"}}, "upstream.ca_bundle", "readable"),
    (
        "verify_tls string",
        _sub() | {"upstream": {"verify_tls": "no"}},
        "upstream.verify_tls",
        "true or false",
    ),
    ("token style", _sub() | {"upstream": {"token_style": "jwt"}}, "upstream.token_style", "basic or form"),
    (
        "key object without key",
        _sub() | {"secret_authentication_tokens": [{"name": "a"}]},
        "secret_authentication_tokens[0].key",
        "non-empty",
    ),
    (
        "key rate not a number",
        _sub() | {"secret_authentication_tokens": [{"key": "k", "requests_per_minute": "x"}]},
        "secret_authentication_tokens[0].requests_per_minute",
        "positive",
    ),
    (
        "duplicate key names",
        _sub() | {"secret_authentication_tokens": [{"key": "a", "name": "t"}, {"key": "b", "name": "t"}]},
        "secret_authentication_tokens",
        "used twice",
    ),
]


@pytest.mark.parametrize(("name", "data", "key", "problem"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS])
def test_mistakes_name_file_key_and_fix(
    folder: Path, name: str, data: object, key: str, problem: str
) -> None:
    path = write(folder, data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert error.source == str(path)
    assert error.key == key
    assert problem in error.problem
    assert error.fix and str(path) in str(error) and "Fix:" in str(error)


def test_service_key_missing_field_names_the_field(folder: Path) -> None:
    (folder / "key.json").write_text(json.dumps({k: v for k, v in KEY.items() if k != "clientsecret"}))
    with pytest.raises(ConfigError) as caught:
        load_config(write(folder, reference_config()))
    assert caught.value.key.endswith(".clientsecret")


@pytest.mark.parametrize(
    ("content", "problem"),
    [("{not json", "not valid JSON"), (None, "does not exist")],
    ids=["syntax", "missing"],
)
def test_unreadable_file(folder: Path, content: str | None, problem: str) -> None:
    path = folder / "config.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=problem):
        load_config(path)


def test_unknown_keys_warn_but_load(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    load_config(write(folder, reference_config(log_level="debug")))
    assert "unknown key 'log_level'" in capsys.readouterr().err


def test_optional_sections_and_per_key_settings(folder: Path) -> None:
    (folder / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    data = _sub() | {
        "secret_authentication_tokens": [
            "sk-plain",
            {"key": "sk-team", "name": "team-a", "requests_per_minute": 60},
        ],
        "limits": {
            "requests_per_minute": 600,
            "max_output_tokens": {"gpt-4.1": 8192},
            "max_body_bytes": 1000,
        },
        "upstream": {"connect_timeout_seconds": 3, "ca_bundle": "ca.pem"},
        "retries": {"max_attempts": 2},
        "streaming": {"max_concurrent": 10},
    }
    config = load_config(write(folder, data))
    plain, team = config.clients
    assert (plain.name, plain.rate.requests_per_minute, plain.rate.burst) == ("key#1", 600, 100)
    assert (team.name, team.rate.requests_per_minute, team.rate.burst) == ("team-a", 60, 10)
    assert config.client_keys == ("sk-plain", "sk-team") and "sk-team" not in repr(team)
    assert config.limits.max_output_tokens == {"gpt-4.1": 8192} and config.limits.max_body_bytes == 1000
    assert config.upstream.connect_timeout == 3 and config.upstream.verify == str(folder / "ca.pem")
    assert config.retries.max_attempts == 2 and config.streaming.max_streams == 10


# (name, config, keys named by the errors, in order): check-config reports every mistake at once
SEVERAL_MISTAKES = [
    (
        "port, host and a section",
        _sub() | {"port": "3001", "host": "", "streaming": {"keepalive": 1}},
        ["host", "port", "streaming.keepalive"],
    ),
    (
        "two subaccounts and the client keys",
        {
            "subAccounts": {
                "a": {"service_key_json": "nope.json", "deployment_models": {"m": [URL]}},
                "b": {"service_key_json": "key.json", "deployment_models": {}},
            },
            "secret_authentication_tokens": [1],
        },
        [
            "subAccounts.a.service_key_json",
            "subAccounts.b.deployment_models",
            "secret_authentication_tokens[0]",
        ],
    ),
    (
        "a typo and a bad limit",
        _sub() | {"prot": 3005, "limits": {"max_body_bytes": 0}},
        ["prot", "limits.max_body_bytes"],
    ),
]


@pytest.mark.parametrize(("name", "data", "keys"), SEVERAL_MISTAKES, ids=[c[0] for c in SEVERAL_MISTAKES])
def test_every_mistake_is_reported_at_once(folder: Path, name: str, data: object, keys: list[str]) -> None:
    path = write(folder, data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    mistakes = caught.value.mistakes
    assert [m.key for m in mistakes] == keys
    assert all(m.source == str(path) and m.fix for m in mistakes)
    assert str(caught.value).count("Fix:") == len(keys)


# (name, unknown key, where, the known key it is a typo of; None: far from any, only a warning)
NEAR_MISSES = [
    ("dropped underscore", "resourcegroup", "subaccount", "resource_group"),
    ("camel case", "resourceGroup", "subaccount", "resource_group"),
    ("one letter changed", "servise_key_json", "subaccount", "service_key_json"),
    ("swapped letters", "deplyoment_models", "subaccount", "deployment_models"),
    ("top level, case", "subaccounts", "top", "subAccounts"),
    ("top level, one letter added", "portt", "top", "port"),
    ("far from any key", "log_level", "top", None),
    ("far from any key, in a subaccount", "region", "subaccount", None),
]


@pytest.mark.parametrize(("name", "key", "where", "meant"), NEAR_MISSES, ids=[c[0] for c in NEAR_MISSES])
def test_a_typo_of_a_known_key_is_an_error_naming_it(
    folder: Path, capsys: pytest.CaptureFixture[str], name: str, key: str, where: str, meant: str | None
) -> None:
    data = reference_config()
    if where == "top":
        data[key] = 1
        named = key
    else:
        data["subAccounts"]["sub1"][key] = "rg-typo"
        named = f"subAccounts.sub1.{key}"
    path = write(folder, data)
    if meant is None:
        load_config(path)
        assert f"unknown key '{named}' is ignored" in capsys.readouterr().err
        return
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    typo = next(m for m in caught.value.mistakes if m.key == named)
    assert meant in typo.fix and "default" in typo.problem
