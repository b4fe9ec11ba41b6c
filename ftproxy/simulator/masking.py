"""The Orchestration Service's data masking (SAP Data Privacy Integration), simply.

The request's `config.modules.masking.providers` (or the deprecated `masking_providers`) name
entity types; the simulator finds those it lists, and only those, with plain regular
expressions (e-mail addresses, phone numbers, "Firstname Lastname" pairs for persons; other
standard types mask nothing) plus the request's custom regexes, skips the allow-list, and
replaces each with `MASKED_<TYPE>` (anonymization) or `MASKED_<TYPE>_<n>`, one number per
distinct value (pseudonymization); a constant replacement strategy's value stands for the type.
With pseudonymization the answer is unmasked again before it leaves the service, as the real
one does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ftproxy.simulator.answer import as_dict, as_list

# entity type → (placeholder name, pattern)
_ENTITIES: dict[str, tuple[str, re.Pattern[str]]] = {
    "profile-email": ("EMAIL", re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")),
    "profile-phone": ("PHONE_NUMBER", re.compile(r"\+?\d[\d -]{7,}\d")),
    "profile-person": ("PERSON", re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b")),
}


@dataclass(slots=True)
class Masker:
    patterns: list[tuple[str, re.Pattern[str]]]
    allow: frozenset[str]
    pseudonymize: bool
    # placeholder → original value (pseudonymization only)
    originals: dict[str, str] = field(default_factory=dict)
    _numbers: dict[str, int] = field(default_factory=dict)

    def mask(self, text: str) -> str:
        for name, pattern in self.patterns:
            text = pattern.sub(lambda m, n=name: self._placeholder(n, m.group(0)), text)
        return text

    def _placeholder(self, name: str, value: str) -> str:
        if value in self.allow:
            return value
        if not self.pseudonymize:
            return f"MASKED_{name}"
        for placeholder, original in self.originals.items():
            if original == value and placeholder.startswith(f"MASKED_{name}_"):
                return placeholder
        number = self._numbers[name] = self._numbers.get(name, 0) + 1
        placeholder = f"MASKED_{name}_{number}"
        self.originals[placeholder] = value
        return placeholder

    def unmask(self, text: str) -> str:
        for placeholder, original in self.originals.items():
            text = text.replace(placeholder, original)
        return text

    def mask_messages(self, messages: list[Any]) -> list[Any]:
        return map_texts(messages, self.mask)


def map_texts(messages: list[Any], change: Callable[[str], str]) -> list[Any]:
    """`messages` with `change` applied to every text (string contents and text parts)."""
    out = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            message = {**message, "content": change(content)}
        elif isinstance(content, list):
            parts = [
                {**p, "text": change(p["text"])}
                if isinstance(p, dict) and isinstance(p.get("text"), str)
                else p
                for p in content
            ]
            message = {**message, "content": parts}
        out.append(message)
    return out


def masker(modules: dict[str, Any]) -> Masker | None:
    """The masking the request configures, or None (no masking module)."""
    masking = as_dict(modules.get("masking"))
    providers = as_list(masking.get("providers") or masking.get("masking_providers"))
    patterns: list[tuple[str, re.Pattern[str]]] = []
    allow: set[str] = set()
    pseudonymize = False
    for provider in providers:
        provider = as_dict(provider)
        pseudonymize = pseudonymize or provider.get("method") == "pseudonymization"
        allow.update(v for v in as_list(provider.get("allowlist")) if isinstance(v, str))
        for entity in as_list(provider.get("entities")):
            entity = as_dict(entity)
            known = _ENTITIES.get(str(entity.get("type")))
            value = as_dict(entity.get("replacement_strategy")).get("value")
            if known is not None:
                # a constant replacement strategy names the placeholder instead of the type
                patterns.append((str(value).upper(), known[1]) if value else known)
            elif isinstance(entity.get("regex"), str):
                try:
                    patterns.append((str(value or "CUSTOM").upper(), re.compile(entity["regex"])))
                except re.error:
                    continue  # the real service answers 400; a bad pattern just masks nothing here
    if not providers:
        return None
    # Entity types the simulator cannot find (profile-iban…) mask nothing, but the module still ran.
    return Masker(patterns, frozenset(allow), pseudonymize)


__all__ = ["Masker", "map_texts", "masker"]
