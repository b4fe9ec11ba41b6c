"""config.json `orchestration`: the Orchestration Service modules (content filtering, data
masking, translation) put on every request that takes the orchestration route.

    "orchestration": {
      "profiles": {
        "strict": {
          "filtering": {
            "input": {"azure_content_safety": {"hate": 0, "self_harm": 0, "sexual": 0, "violence": 2,
                                               "prompt_shield": true},
                      "llama_guard_3_8b": ["violent_crimes", "privacy"]},
            "output": {"azure_content_safety": {"hate": 2, "violence": 4}, "overlap": 100}
          },
          "masking": {"method": "pseudonymization", "entities": ["profile-email", "profile-person",
                      {"regex": "EMP-\\\\d+", "replacement": "EMPLOYEE_ID"}], "allowlist": ["SAP"]},
          "translation": {"input": {"source_language": "de-DE", "target_language": "en-US"},
                          "output": {"target_language": "de-DE"}}
        }
      },
      "models": {"mistralai--*": "strict"},
      "default": "strict"
    }

and `"orchestration_profile": "strict"` on a `secret_authentication_tokens` object. A request
gets its model's profile (the first `models` entry, exact name or glob, that matches; else
`default`) and then, module by module, its client key's profile on top (settings.py:
`OrchestrationSettings.modules_for`).

Every profile is turned here, once, into the JSON SAP's service takes (the schema of SAP's SDK,
`gen_ai_hub.orchestration_v2.models`: `FilteringModuleConfig`, `MaskingModuleConfig`,
`TranslationModuleConfig`), so a request only places ready dicts. Unlike the rest of the file,
an unknown key in this section is an error, not a warning: a misspelt safety setting must not
leave a request unfiltered or unmasked without anyone noticing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ftproxy.errors import ConfigError, ConfigErrors
from ftproxy.settings import ClientKey, OrchestrationProfile, OrchestrationSettings

__all__ = ["parse_orchestration"]

_TOP = "orchestration"
_MODULES = ("filtering", "masking", "translation")
# Azure Content Safety: the highest severity let through (AzureThreshold in SAP's SDK).
THRESHOLDS = {"allow_safe": 0, "allow_safe_low": 2, "allow_safe_low_medium": 4, "allow_all": 6}
AZURE_CATEGORIES = ("hate", "self_harm", "sexual", "violence")
_AZURE_FLAGS = {"input": "prompt_shield", "output": "protected_material_code"}
LLAMA_GUARD_CATEGORIES = (
    "violent_crimes",
    "non_violent_crimes",
    "sex_crimes",
    "child_exploitation",
    "defamation",
    "specialized_advice",
    "privacy",
    "intellectual_property",
    "indiscriminate_weapons",
    "hate",
    "self_harm",
    "sexual_content",
    "elections",
    "code_interpreter_abuse",
)
# SAP Data Privacy Integration's standard entities (SAPMaskingProfileEntity in SAP's SDK).
MASKING_ENTITIES = tuple(
    f"profile-{e}"
    for e in [
        "person",
        "org",
        "university",
        "location",
        "email",
        "phone",
        "address",
        "sapids-internal",
        "sapids-public",
        "url",
        "username-password",
        "nationalid",
        "iban",
        "ssn",
        "credit-card-number",
        "passport",
        "driverlicense",
        "nationality",
        "religious-group",
        "political-group",
        "pronouns-gender",
        "gender",
        "sexual-orientation",
        "trade-union",
        "sensitive-data",
        "ethnicity",
    ]
)
MASKING_METHODS = ("anonymization", "pseudonymization")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
_REPLACEMENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


class _Reader:
    """One pass over the section: every mistake is collected, each naming file, key and fix."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.mistakes: list[ConfigError] = []

    def fail(self, key: str, problem: str, fix: str) -> None:
        self.mistakes.append(ConfigError(self.source, key, problem, fix))

    def obj(self, raw: Any, key: str, known: Sequence[str], example: str) -> dict[str, Any] | None:
        """`raw` if it is an object of known keys only; else the mistakes and None."""
        if not isinstance(raw, dict):
            self.fail(key, "must be an object", f"use {example}")
            return None
        for name in raw:
            if name not in known:
                self.fail(f"{key}.{name}", "is not a setting here", f"use one of: {', '.join(known)}")
        return raw

    def choice(self, raw: Any, key: str, allowed: Sequence[str]) -> str | None:
        if isinstance(raw, str) and raw in allowed:
            return raw
        self.fail(key, f"must be one of the allowed values, not {raw!r}", f"use one of: {', '.join(allowed)}")
        return None

    def flag(self, raw: Any, key: str) -> bool | None:
        if isinstance(raw, bool):
            return raw
        self.fail(key, f"must be true or false, not {raw!r}", "write true or false without quotes")
        return None


def parse_orchestration(raw: Any, clients: Sequence[ClientKey], *, source: str) -> OrchestrationSettings:
    """The `orchestration` section (absent: no modules) and the clients' `orchestration_profile`
    names checked against it; raises every mistake found."""
    read = _Reader(source)
    section = read.obj(raw, _TOP, ("profiles", "models", "default"), '{"profiles": {"strict": {…}}}')
    profiles: dict[str, OrchestrationProfile] = {}
    models: list[tuple[str, str]] = []
    default = None
    if section is not None:
        profiles = _profiles(read, section.get("profiles", {}))
        models = _model_profiles(read, section.get("models", {}), profiles)
        if "default" in section:
            default = _profile_name(read, section["default"], f"{_TOP}.default", profiles)
    own: dict[str, str] = {}
    for i, client in enumerate(clients):
        if client.orchestration_profile is not None:
            key = f"secret_authentication_tokens[{i}].orchestration_profile"
            name = _profile_name(read, client.orchestration_profile, key, profiles)
            if name is not None:
                own[client.name] = name
    if len(read.mistakes) == 1:
        raise read.mistakes[0]
    if read.mistakes:
        raise ConfigErrors(read.mistakes)
    return OrchestrationSettings(profiles, tuple(models), default, own)


def _profile_name(read: _Reader, raw: Any, key: str, profiles: dict[str, OrchestrationProfile]) -> str | None:
    if isinstance(raw, str) and raw in profiles:
        return raw
    known = ", ".join(profiles) or "(none defined)"
    read.fail(
        key,
        f"names no profile of {_TOP}.profiles: {raw!r}",
        f"use one of: {known}, or define it under {_TOP}.profiles",
    )
    return None


def _model_profiles(
    read: _Reader, raw: Any, profiles: dict[str, OrchestrationProfile]
) -> list[tuple[str, str]]:
    key = f"{_TOP}.models"
    if not isinstance(raw, dict):
        read.fail(
            key, "must be an object of model name (or glob) → profile name", 'use {"mistralai--*": "strict"}'
        )
        return []
    out = []
    for model, profile in raw.items():
        name = _profile_name(read, profile, f"{key}.{model}", profiles)
        if name is not None:
            out.append((model, name))
    return out


def _profiles(read: _Reader, raw: Any) -> dict[str, OrchestrationProfile]:
    key = f"{_TOP}.profiles"
    if not isinstance(raw, dict):
        read.fail(key, "must be an object of named profiles", 'use {"strict": {"masking": {…}}}')
        return {}
    out = {}
    for name, body in raw.items():
        where = f"{key}.{name}"
        profile = read.obj(body, where, _MODULES, '{"filtering": {…}, "masking": {…}, "translation": {…}}')
        if profile is None:
            continue
        modules: dict[str, dict[str, Any]] = {}
        for module, build in (
            ("filtering", _filtering),
            ("masking", _masking),
            ("translation", _translation),
        ):
            if module in profile:
                built = build(read, profile[module], f"{where}.{module}")
                if built is not None:
                    modules[module] = built
        out[name] = OrchestrationProfile(name, modules)
    return out


# --- filtering -----------------------------------------------------------------------------------


def _filtering(read: _Reader, raw: Any, key: str) -> dict[str, Any] | None:
    section = read.obj(raw, key, ("input", "output"), '{"input": {"azure_content_safety": {…}}}')
    if section is None:
        return None
    if not section:
        read.fail(key, "configures no filter", 'add "input" or "output", or remove "filtering"')
        return None
    out: dict[str, Any] = {}
    for direction in ("input", "output"):
        if direction in section:
            built = _filters(read, section[direction], f"{key}.{direction}", direction)
            if built is not None:
                out[direction] = built
    return out


def _filters(read: _Reader, raw: Any, key: str, direction: str) -> dict[str, Any] | None:
    known = ("azure_content_safety", "llama_guard_3_8b") + (("overlap",) if direction == "output" else ())
    section = read.obj(raw, key, known, '{"azure_content_safety": {"hate": 2, "violence": 4}}')
    if section is None:
        return None
    filters = []
    if "azure_content_safety" in section:
        config = _azure(read, section["azure_content_safety"], f"{key}.azure_content_safety", direction)
        if config is not None:
            filters.append({"type": "azure_content_safety", "config": config})
    if "llama_guard_3_8b" in section:
        config = _llama_guard(read, section["llama_guard_3_8b"], f"{key}.llama_guard_3_8b")
        if config is not None:
            filters.append({"type": "llama_guard_3_8b", "config": config})
    if "azure_content_safety" not in section and "llama_guard_3_8b" not in section:
        read.fail(key, "names no filter", 'add "azure_content_safety" or "llama_guard_3_8b"')
    if not filters:
        return None
    out: dict[str, Any] = {"filters": filters}
    if "overlap" in section:
        overlap = section["overlap"]
        if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap <= 10000:
            read.fail(
                f"{key}.overlap", f"must be an integer from 0 to 10000, not {overlap!r}", "use e.g. 100"
            )
        else:
            out["stream_options"] = {"overlap": overlap}
    return out


def _azure(read: _Reader, raw: Any, key: str, direction: str) -> dict[str, Any] | None:
    flag = _AZURE_FLAGS[direction]
    section = read.obj(
        raw, key, (*AZURE_CATEGORIES, flag), '{"hate": 2, "self_harm": 0, "sexual": 2, "violence": 4}'
    )
    if section is None:
        return None
    config: dict[str, Any] = {}
    for category in AZURE_CATEGORIES:
        if category in section:
            threshold = _threshold(read, section[category], f"{key}.{category}")
            if threshold is not None:
                config[category] = threshold
    if flag in section:
        value = read.flag(section[flag], f"{key}.{flag}")
        if value is not None:
            config[flag] = value
    return config  # empty: the service's default thresholds


def _threshold(read: _Reader, raw: Any, key: str) -> int | None:
    if not isinstance(raw, bool) and raw in THRESHOLDS.values():
        return int(raw)
    if isinstance(raw, str) and raw.lower() in THRESHOLDS:
        return THRESHOLDS[raw.lower()]
    names = ", ".join(f"{v} ({k})" for k, v in THRESHOLDS.items())
    read.fail(key, f"must be an Azure Content Safety threshold, not {raw!r}", f"use one of: {names}")
    return None


def _llama_guard(read: _Reader, raw: Any, key: str) -> dict[str, bool] | None:
    if not isinstance(raw, list) or not raw:
        read.fail(
            key,
            "must be a non-empty list of categories",
            f'use e.g. ["violent_crimes", "privacy"] from: {", ".join(LLAMA_GUARD_CATEGORIES)}',
        )
        return None
    config = {}
    for i, category in enumerate(raw):
        name = read.choice(category, f"{key}[{i}]", LLAMA_GUARD_CATEGORIES)
        if name is not None:
            config[name] = True
    return config or None


# --- masking -------------------------------------------------------------------------------------


def _masking(read: _Reader, raw: Any, key: str) -> dict[str, Any] | None:
    example = '{"method": "anonymization", "entities": ["profile-email"]}'
    section = read.obj(raw, key, ("method", "entities", "allowlist"), example)
    if section is None:
        return None
    method = read.choice(section.get("method"), f"{key}.method", MASKING_METHODS)
    entities = _entities(read, section.get("entities"), f"{key}.entities")
    provider: dict[str, Any] = {
        "type": "sap_data_privacy_integration",
        "method": method,
        "entities": entities,
    }
    if "allowlist" in section:
        allow = section["allowlist"]
        if not isinstance(allow, list) or not all(isinstance(v, str) and v for v in allow):
            read.fail(
                f"{key}.allowlist", "must be a list of non-empty strings", 'use e.g. ["SAP", "Walldorf"]'
            )
        else:
            provider["allowlist"] = list(allow)
    if method is None or not entities:
        return None
    return {"providers": [provider]}


def _entities(read: _Reader, raw: Any, key: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        read.fail(
            key, "must be a non-empty list of entity types", 'use e.g. ["profile-email", "profile-person"]'
        )
        return []
    out: list[dict[str, Any]] = []
    for i, entity in enumerate(raw):
        where = f"{key}[{i}]"
        if isinstance(entity, str):
            name = read.choice(entity, where, MASKING_ENTITIES)
            if name is not None:
                out.append({"type": name})
            continue
        custom = read.obj(
            entity, where, ("regex", "replacement"), '{"regex": "EMP-\\\\d+", "replacement": "EMPLOYEE_ID"}'
        )
        if custom is None:
            continue
        pattern, replacement = custom.get("regex"), custom.get("replacement")
        try:
            valid = isinstance(pattern, str) and bool(pattern) and re.compile(pattern) is not None
        except re.error as exc:
            read.fail(f"{where}.regex", f"is not a valid regular expression ({exc})", "fix the pattern")
            continue
        if not valid:
            read.fail(f"{where}.regex", "must be a non-empty regular expression", 'use e.g. "EMP-\\\\d+"')
        elif not isinstance(replacement, str) or not _REPLACEMENT.match(replacement):
            read.fail(
                f"{where}.replacement",
                "must name what replaces a match (letters, digits, _)",
                'use e.g. "EMPLOYEE_ID"',
            )
        else:
            out.append(
                {"regex": pattern, "replacement_strategy": {"method": "constant", "value": replacement}}
            )
    return out


# --- translation ---------------------------------------------------------------------------------


def _translation(read: _Reader, raw: Any, key: str) -> dict[str, Any] | None:
    section = read.obj(raw, key, ("input", "output"), '{"input": {"target_language": "en-US"}}')
    if section is None:
        return None
    if not section:
        read.fail(key, "configures no translation", 'add "input" or "output", or remove "translation"')
        return None
    out: dict[str, Any] = {}
    for direction in ("input", "output"):
        if direction not in section:
            continue
        where = f"{key}.{direction}"
        known = ("source_language", "target_language") + (
            ("translate_messages_history",) if direction == "input" else ()
        )
        part = read.obj(section[direction], where, known, '{"target_language": "en-US"}')
        if part is None:
            continue
        config: dict[str, Any] = {}
        for name in ("source_language", "target_language"):
            if name in part or name == "target_language":
                value = part.get(name)
                if isinstance(value, str) and _LANGUAGE.match(value):
                    config[name] = value
                else:
                    read.fail(
                        f"{where}.{name}",
                        f"must be a language code, not {value!r}",
                        'use e.g. "en-US" or "de-DE"',
                    )
        module: dict[str, Any] = {"type": "sap_document_translation", "config": config}
        if "translate_messages_history" in part:
            history = read.flag(part["translate_messages_history"], f"{where}.translate_messages_history")
            if history is not None:
                module["translate_messages_history"] = history
        out[direction] = module
    return out
