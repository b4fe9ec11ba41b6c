"""Model aliases: other names for configured models.

Two sources, the first that knows a name wins:

1. `model_aliases` in config.json: alias → configured model, exactly as written.
2. Built in: Anthropic's public Claude ids and family names, which Claude Code and the Anthropic
   SDKs send (`claude-sonnet-4-5-20250929`, `claude-haiku-4-5`, `claude-3-7-sonnet-latest`,
   `claude-opus-4-1`, `sonnet`, `opus[1m]` …), resolve to a configured SAP AI Core Claude model:
   the same family and version when it is configured, else the newest configured model of that
   family, else the newest of the nearest family (opus → sonnet → haiku for opus; sonnet → opus →
   haiku for sonnet; haiku → sonnet → opus for haiku). So Claude Code works with no model
   settings, its background (small/fast, haiku) model included. A configured model name is never
   an alias; an alias in config.json overrides the built-in answer for that name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

FAMILIES = ("opus", "sonnet", "haiku")
_NEAREST = {
    "opus": ("opus", "sonnet", "haiku"),
    "sonnet": ("sonnet", "opus", "haiku"),
    "haiku": ("haiku", "sonnet", "opus"),
}
_VERSION = r"\d+(?:[.-]\d(?!\d))?"
# Anthropic's public ids: claude-<family>-<version> (4.x+) or claude-<version>-<family> (3.x),
# with an optional snapshot date, -latest, a Bedrock-style -v1:0 and Claude Code's [1m] marker.
_PUBLIC = re.compile(
    rf"^(?:claude-(?:(?P<f1>opus|sonnet|haiku)-(?P<v1>{_VERSION})|(?P<v2>{_VERSION})-(?P<f2>opus|sonnet|haiku))"
    rf"(?:-\d{{8}})?(?:-latest)?(?:-v\d+:\d+)?|(?P<f3>opus|sonnet|haiku))(?:\[1m\])?$"
)
# A configured SAP AI Core Claude model: anthropic--claude-4.5-sonnet, anthropic--claude-3-opus …
_CONFIGURED = re.compile(
    rf"claude-(?:(?P<f1>opus|sonnet|haiku)-(?P<v1>{_VERSION})|(?P<v2>{_VERSION})-(?P<f2>opus|sonnet|haiku))"
)


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    target: str
    builtin: bool  # a built-in Claude id or family name, not from config.json


def _version(text: str) -> tuple[int, int]:
    major, _, minor = text.replace(".", "-").partition("-")
    return int(major), int(minor or 0)


def _family_version(match: re.Match[str]) -> tuple[str, tuple[int, int] | None]:
    family = match.group("f1") or match.group("f2") or match.groupdict().get("f3") or ""
    version = match.group("v1") or match.group("v2")
    return family, _version(version) if version else None


class Aliases:
    """Resolves names that are not configured models; immutable once built, safe to share."""

    def __init__(self, configured: Iterable[str], explicit: Mapping[str, str]) -> None:
        self._configured = frozenset(configured)
        self._explicit = dict(explicit)
        # family → [(version, model)], newest first
        self._claude: dict[str, list[tuple[tuple[int, int], str]]] = {}
        for model in self._configured:
            match = _CONFIGURED.search(model.lower())
            if match:
                family, version = _family_version(match)
                self._claude.setdefault(family, []).append((version or (0, 0), model))
        for models in self._claude.values():
            models.sort(reverse=True)

    def resolve(self, name: str) -> str | None:
        """The configured model `name` stands for, or None (a configured name is not an alias)."""
        if name in self._configured:
            return None
        target = self._explicit.get(name)
        return target if target is not None else self.builtin(name)

    def builtin(self, name: str) -> str | None:
        match = _PUBLIC.match(name.strip().lower())
        if not match or not self._claude:
            return None
        family, version = _family_version(match)
        for candidate in _NEAREST[family]:
            models = self._claude.get(candidate)
            if not models:
                continue
            if candidate == family and version is not None:
                exact = next((m for v, m in models if v == version), None)
                if exact is not None:
                    return exact
            return models[0][1]
        return None

    def listed(self) -> tuple[Alias, ...]:
        """What /v1/models shows: the config's aliases, then the family names built in."""
        out = [Alias(name, target, False) for name, target in self._explicit.items()]
        for family in FAMILIES:
            target = self.builtin(family)
            if target is not None and family not in self._explicit and family not in self._configured:
                out.append(Alias(family, target, True))
        return tuple(out)


__all__ = ["FAMILIES", "Alias", "Aliases"]
