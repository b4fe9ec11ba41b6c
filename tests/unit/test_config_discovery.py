"""config.json without deployment_models, and the `discovery` section (issue 22 item 1)."""

from pathlib import Path

import pytest

from ftproxy.config import load_config
from ftproxy.errors import ConfigError
from ftproxy.settings import DiscoverySettings

from .test_config import URL, folder, write  # noqa: F401  (folder is a fixture)


def _config(sub: dict, **top: object) -> dict:
    base = {"service_key_json": "key.json"} | sub
    return {"subAccounts": {"sub1": base}, "secret_authentication_tokens": ["sk-one"]} | top


GOOD = [
    # (name, config, discovers, settings)
    ("only a service key", _config({}), True, DiscoverySettings()),
    ("explicit models only", _config({"deployment_models": {"gpt-4.1": [URL]}}), False, DiscoverySettings()),
    (
        "explicit models, discovery asked for",
        _config(
            {"deployment_models": {"gpt-4.1": [URL]}}, discovery={"enabled": True, "interval_seconds": 60}
        ),
        True,
        DiscoverySettings(enabled=True, interval_s=60),
    ),
    (
        "timings",
        _config({}, discovery={"interval_seconds": 30.5, "timeout_seconds": 2}),
        True,
        DiscoverySettings(interval_s=30.5, timeout_s=2),
    ),
    (
        "alias of a model only discovery knows",
        _config({}, model_aliases={"sonnet": "anthropic--claude-4.5-sonnet"}),
        True,
        DiscoverySettings(),
    ),
]


@pytest.mark.parametrize(("name", "data", "discovers", "settings"), GOOD, ids=[c[0] for c in GOOD])
def test_deployment_models_are_optional_when_discovery_is_on(
    folder: Path,  # noqa: F811
    name: str,
    data: dict,
    discovers: bool,
    settings: DiscoverySettings,
) -> None:
    config = load_config(write(folder, data))
    assert config.discovers is discovers
    assert config.discovery == settings


BAD = [
    # (name, config, key named in the error, words in the problem)
    (
        "no models and discovery off",
        _config({}, discovery={"enabled": False}),
        "subAccounts.sub1.deployment_models",
        "discovery is disabled",
    ),
    (
        "explicitly empty models",
        _config({"deployment_models": {}}),
        "subAccounts.sub1.deployment_models",
        "non-empty",
    ),
    ("section not an object", _config({}, discovery=[]), "discovery", "object"),
    ("enabled as a string", _config({}, discovery={"enabled": "yes"}), "discovery.enabled", "true or false"),
    (
        "interval zero",
        _config({}, discovery={"interval_seconds": 0}),
        "discovery.interval_seconds",
        "positive",
    ),
    ("unknown key", _config({}, discovery={"every": 5}), "discovery.every", "not a discovery setting"),
    (
        "alias to nothing without discovery",
        _config({"deployment_models": {"gpt-4.1": [URL]}}, model_aliases={"x": "gpt-5"}),
        "model_aliases.x",
        "not a configured model",
    ),
]


@pytest.mark.parametrize(("name", "data", "key", "problem"), BAD, ids=[c[0] for c in BAD])
def test_discovery_mistakes_name_file_key_and_fix(
    folder: Path,  # noqa: F811
    name: str,
    data: dict,
    key: str,
    problem: str,
) -> None:
    path = write(folder, data)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert error.key == key and problem in error.problem
    assert error.fix and str(path) in str(error)


def test_check_config_says_models_are_discovered(
    folder: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    from ftproxy.cli import main

    path = write(folder, _config({}))
    assert main(["check-config", str(path)]) == 0
    assert "models: none listed (and those discovered from AI Core at start-up)" in capsys.readouterr().out
