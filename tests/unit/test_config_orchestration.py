"""config.json `orchestration`: profiles turned into the Orchestration Service's module JSON once,
per model and per client key, and every mistake named with file, key and fix."""

from __future__ import annotations

from typing import Any

import pytest

from ftproxy.config import parse_config
from ftproxy.errors import ConfigError

KEY = {
    "clientid": "c",
    "clientsecret": "s",
    "url": "https://auth.example",
    "serviceurls": {"AI_API_URL": "https://api.example"},
}


def config(orchestration: Any, tokens: Any = None) -> dict[str, Any]:
    return {
        "subAccounts": {"s": {"service_key": KEY, "deployment_models": {"gpt-4.1": ["d1234567890abcde"]}}},
        "secret_authentication_tokens": tokens if tokens is not None else ["sk-a"],
        "orchestration": orchestration,
    }


STRICT = {
    "filtering": {
        "input": {
            "azure_content_safety": {
                "hate": 0,
                "self_harm": 0,
                "sexual": "allow_safe_low",
                "violence": 2,
                "prompt_shield": True,
            },
            "llama_guard_3_8b": ["violent_crimes", "privacy"],
        },
        "output": {"azure_content_safety": {"violence": 4}, "overlap": 100},
    },
    "masking": {
        "method": "pseudonymization",
        "entities": ["profile-email", {"regex": "EMP-\\d+", "replacement": "EMPLOYEE_ID"}],
        "allowlist": ["SAP"],
    },
    "translation": {
        "input": {"source_language": "de-DE", "target_language": "en-US", "translate_messages_history": True},
        "output": {"target_language": "de-DE"},
    },
}


def test_profile_becomes_the_services_module_json() -> None:
    settings = parse_config(config({"profiles": {"strict": STRICT}, "default": "strict"})).orchestration
    assert settings.modules_for(None, "any-model") == {
        "filtering": {
            "input": {
                "filters": [
                    {
                        "type": "azure_content_safety",
                        "config": {
                            "hate": 0,
                            "self_harm": 0,
                            "sexual": 2,
                            "violence": 2,
                            "prompt_shield": True,
                        },
                    },
                    {"type": "llama_guard_3_8b", "config": {"violent_crimes": True, "privacy": True}},
                ]
            },
            "output": {
                "filters": [{"type": "azure_content_safety", "config": {"violence": 4}}],
                "stream_options": {"overlap": 100},
            },
        },
        "masking": {
            "providers": [
                {
                    "type": "sap_data_privacy_integration",
                    "method": "pseudonymization",
                    "entities": [
                        {"type": "profile-email"},
                        {
                            "regex": "EMP-\\d+",
                            "replacement_strategy": {"method": "constant", "value": "EMPLOYEE_ID"},
                        },
                    ],
                    "allowlist": ["SAP"],
                }
            ]
        },
        "translation": {
            "input": {
                "type": "sap_document_translation",
                "config": {"source_language": "de-DE", "target_language": "en-US"},
                "translate_messages_history": True,
            },
            "output": {"type": "sap_document_translation", "config": {"target_language": "de-DE"}},
        },
    }


def test_the_module_json_is_what_sap_sdk_accepts() -> None:
    """SAP's own pydantic models (gen_ai_hub.orchestration_v2) validate every module built."""
    models = pytest.importorskip("gen_ai_hub.orchestration_v2.models.config")
    modules = dict(
        parse_config(config({"profiles": {"strict": STRICT}, "default": "strict"})).orchestration.modules_for(
            None, "m"
        )
    )
    template = {"prompt": {"template": [{"role": "user", "content": "hi"}]}, "model": {"name": "gpt-4o"}}
    models.ModuleConfig.model_validate({"prompt_templating": template, **modules})


MASK = {"masking": {"method": "anonymization", "entities": ["profile-email"]}}
FILTER = {"filtering": {"input": {"azure_content_safety": {"violence": 0}}}}


def test_model_glob_then_default_then_client_key_per_module() -> None:
    tokens = ["sk-a", {"key": "sk-x", "name": "team-x", "orchestration_profile": "mask"}]
    raw = {
        "profiles": {"mask": MASK, "filter": FILTER, "both": {**MASK, **FILTER}},
        "models": {"mistralai--*": "filter", "exact": "both"},
    }
    settings = parse_config(config(raw, tokens)).orchestration
    assert set(settings.modules_for("key#1", "mistralai--mistral-large-instruct")) == {"filtering"}
    assert set(settings.modules_for("key#1", "gpt-4o")) == set()  # no default
    assert set(settings.modules_for("team-x", "gpt-4o")) == {"masking"}
    assert set(settings.modules_for("team-x", "mistralai--x")) == {"filtering", "masking"}
    assert settings.modules_for("team-x", "exact")["masking"] is settings.profiles["mask"].modules["masking"]
    with_default = parse_config(config({**raw, "default": "mask"}, tokens)).orchestration
    assert set(with_default.modules_for("key#1", "gpt-4o")) == {"masking"}


def test_no_section_no_modules() -> None:
    data = config({})
    del data["orchestration"]
    assert parse_config(data).orchestration.modules_for("key#1", "gpt-4o") == {}


def profile(**modules: Any) -> dict[str, Any]:
    return {"profiles": {"p": modules}, "default": "p"}


MISTAKES = [
    # (orchestration section, client tokens, key named, words in the fix)
    ([], None, "orchestration", "profiles"),
    ({"profile": {}}, None, "orchestration.profile", "profiles"),
    ({"profiles": {"p": {"masks": {}}}}, None, "orchestration.profiles.p.masks", "masking"),
    ({"profiles": {}, "default": "nope"}, None, "orchestration.default", "define it"),
    ({"profiles": {"p": {}}, "models": {"gpt-*": "q"}}, None, "orchestration.models.gpt-*", "p"),
    ({"profiles": {"p": {}}, "models": ["gpt-*"]}, None, "orchestration.models", "mistralai--*"),
    (
        {"profiles": {"p": {}}},
        ["sk-a", {"key": "sk-b", "orchestration_profile": "q"}],
        "secret_authentication_tokens[1].orchestration_profile",
        "p",
    ),
    (profile(filtering={}), None, "orchestration.profiles.p.filtering", "input"),
    (
        profile(filtering={"input": {}}),
        None,
        "orchestration.profiles.p.filtering.input",
        "azure_content_safety",
    ),
    (
        profile(filtering={"input": {"azure_content_safety": {"violence": 3}}}),
        None,
        "orchestration.profiles.p.filtering.input.azure_content_safety.violence",
        "0 (allow_safe), 2 (allow_safe_low), 4 (allow_safe_low_medium), 6 (allow_all)",
    ),
    (
        profile(filtering={"input": {"azure_content_safety": {"violence": True}}}),
        None,
        "orchestration.profiles.p.filtering.input.azure_content_safety.violence",
        "6 (allow_all)",
    ),
    (
        profile(filtering={"input": {"azure_content_safety": {"Violence": 2}}}),
        None,
        "orchestration.profiles.p.filtering.input.azure_content_safety.Violence",
        "violence",
    ),
    (
        profile(filtering={"input": {"azure_content_safety": {"protected_material_code": True}}}),
        None,
        "orchestration.profiles.p.filtering.input.azure_content_safety.protected_material_code",
        "prompt_shield",
    ),
    (
        profile(filtering={"output": {"azure_content_safety": {}, "overlap": -1}}),
        None,
        "orchestration.profiles.p.filtering.output.overlap",
        "100",
    ),
    (
        profile(filtering={"input": {"azure_content_safety": {}, "overlap": 5}}),
        None,
        "orchestration.profiles.p.filtering.input.overlap",
        "llama_guard_3_8b",
    ),
    (
        profile(filtering={"input": {"llama_guard_3_8b": []}}),
        None,
        "orchestration.profiles.p.filtering.input.llama_guard_3_8b",
        "violent_crimes",
    ),
    (
        profile(filtering={"input": {"llama_guard_3_8b": ["murder"]}}),
        None,
        "orchestration.profiles.p.filtering.input.llama_guard_3_8b[0]",
        "code_interpreter_abuse",
    ),
    (
        profile(masking={"entities": ["profile-email"]}),
        None,
        "orchestration.profiles.p.masking.method",
        "anonymization, pseudonymization",
    ),
    (
        profile(masking={"method": "hashing", "entities": ["profile-email"]}),
        None,
        "orchestration.profiles.p.masking.method",
        "pseudonymization",
    ),
    (
        profile(masking={"method": "anonymization"}),
        None,
        "orchestration.profiles.p.masking.entities",
        "profile-email",
    ),
    (
        profile(masking={"method": "anonymization", "entities": ["email"]}),
        None,
        "orchestration.profiles.p.masking.entities[0]",
        "profile-email",
    ),
    (
        profile(masking={"method": "anonymization", "entities": [{"regex": "(", "replacement": "X"}]}),
        None,
        "orchestration.profiles.p.masking.entities[0].regex",
        "pattern",
    ),
    (
        profile(masking={"method": "anonymization", "entities": [{"regex": "x"}]}),
        None,
        "orchestration.profiles.p.masking.entities[0].replacement",
        "EMPLOYEE_ID",
    ),
    (
        profile(masking={"method": "anonymization", "entities": ["profile-email"], "allowlist": "SAP"}),
        None,
        "orchestration.profiles.p.masking.allowlist",
        '["SAP"',
    ),
    (
        profile(translation={"input": {"source_language": "de-DE"}}),
        None,
        "orchestration.profiles.p.translation.input.target_language",
        "en-US",
    ),
    (
        profile(translation={"output": {"target_language": "German"}}),
        None,
        "orchestration.profiles.p.translation.output.target_language",
        "de-DE",
    ),
    (
        profile(translation={"output": {"target_language": "de", "translate_messages_history": True}}),
        None,
        "orchestration.profiles.p.translation.output.translate_messages_history",
        "target_language",
    ),
    (
        profile(translation={"input": {"target_language": "en", "translate_messages_history": "yes"}}),
        None,
        "orchestration.profiles.p.translation.input.translate_messages_history",
        "true or false",
    ),
]


@pytest.mark.parametrize(("section", "tokens", "key", "fix"), MISTAKES, ids=[m[2] for m in MISTAKES])
def test_every_mistake_names_file_key_and_fix(section: Any, tokens: Any, key: str, fix: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config(section, tokens), source="config.json")
    mistakes = caught.value.mistakes
    assert [m.key for m in mistakes] == [key], [str(m) for m in mistakes]
    assert mistakes[0].source == "config.json" and fix in mistakes[0].fix, str(mistakes[0])


def test_several_mistakes_reported_at_once() -> None:
    section = profile(
        masking={"method": "x", "entities": ["bad"]},
        filtering={"input": {"azure_content_safety": {"hate": 1}}},
    )
    with pytest.raises(ConfigError) as caught:
        parse_config(config(section))
    assert {m.key for m in caught.value.mistakes} == {
        "orchestration.profiles.p.masking.method",
        "orchestration.profiles.p.masking.entities[0]",
        "orchestration.profiles.p.filtering.input.azure_content_safety.hate",
    }
