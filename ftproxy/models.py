"""Which deployments serve a model, and which API each of them speaks.

Built once from the configuration; lookups are dict reads. The same model in several
subaccounts (or with several URLs) becomes one round-robin over all of them. A name that is not
a configured model may be an alias of one (`aliases.py`: config.json's `model_aliases`, and
Anthropic's public Claude ids built in); `get` answers for it with the target's deployments.
Models the AI API's catalog offers through a subaccount's orchestration deployment, and that no
subaccount deploys, are listed too, with route orchestration (`Subaccount.orchestration_models`).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase

from ftproxy.aliases import Alias, Aliases
from ftproxy.balancer import RoundRobin
from ftproxy.settings import Config
from ftproxy.wire.apis import UpstreamApi


class Family(StrEnum):
    GPT = "gpt"
    CLAUDE = "claude"
    GEMINI = "gemini"
    MISTRAL = "mistral"
    LLAMA = "llama"  # Meta Llama and the other open-source models (executable aicore-opensource)
    NOVA = "nova"
    IBM = "ibm"
    DEEPSEEK = "deepseek"
    PERPLEXITY = "perplexity"


@dataclass(frozen=True, slots=True)
class Deployment:
    model: str
    url: str
    subaccount: str
    family: Family
    api: UpstreamApi
    embeddings: bool = False


# Claude 3 and 3.5 on AI Core are reached through Bedrock's invoke API; newer Claude models
# through Converse (the reference proxies made the same split).
_CLAUDE_INVOKE = re.compile(r"claude-3(\.5)?-|claude-3-5-|claude-instant")
_EMBEDDINGS = re.compile(r"embed", re.IGNORECASE)
_MAX_ORCHESTRATED = 1024  # model names served through orchestration that keep their balancer

# SAP's model names → family and the API of a direct deployment (SAP AI Core "consume generative
# AI models"): the first pattern that matches the lower-cased name wins; any other name is GPT on
# Azure OpenAI. Mistral (aicore-mistralai), the open-source models (aicore-opensource), IBM
# (aicore-ibm), DeepSeek and Perplexity take the OpenAI-compatible `/chat/completions` with the
# model in the body; Nova is on Bedrock, through Converse like the newer Claude models.
_FAMILIES: tuple[tuple[re.Pattern[str], Family, UpstreamApi], ...] = (
    (re.compile(r"claude|^anthropic--"), Family.CLAUDE, UpstreamApi.BEDROCK_CONVERSE),
    (re.compile(r"gemini"), Family.GEMINI, UpstreamApi.VERTEX_GEMINI),
    (re.compile(r"^amazon--nova|^nova-"), Family.NOVA, UpstreamApi.BEDROCK_CONVERSE),
    (re.compile(r"^mistralai--|mistral|mixtral|pixtral"), Family.MISTRAL, UpstreamApi.OPENAI_COMPATIBLE_CHAT),
    (re.compile(r"deepseek"), Family.DEEPSEEK, UpstreamApi.OPENAI_COMPATIBLE_CHAT),
    (re.compile(r"^meta--|llama"), Family.LLAMA, UpstreamApi.OPENAI_COMPATIBLE_CHAT),
    (re.compile(r"^ibm--|granite"), Family.IBM, UpstreamApi.OPENAI_COMPATIBLE_CHAT),
    (re.compile(r"^(perplexity--)?sonar"), Family.PERPLEXITY, UpstreamApi.OPENAI_COMPATIBLE_CHAT),
)


def classify(model: str) -> tuple[Family, UpstreamApi, bool]:
    """(family, the API a direct deployment of `model` speaks, whether it is an embeddings model)."""
    name = model.lower()
    for pattern, family, api in _FAMILIES:
        if pattern.search(name):
            if family is Family.CLAUDE and _CLAUDE_INVOKE.search(name):
                api = UpstreamApi.BEDROCK_INVOKE
            return family, api, False
    return Family.GPT, UpstreamApi.AZURE_OPENAI_CHAT, bool(_EMBEDDINGS.search(name))


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One listed model as /v1/models and `ftproxy info` show it."""

    name: str
    family: Family
    route: str  # "direct" or "orchestration"
    subaccounts: tuple[str, ...]


def route_of(model: str, routes: tuple[tuple[str, str], ...]) -> str | None:
    """The route config.json `model_routes` names for `model` (the first matching glob), if any."""
    return next((route for pattern, route in routes if fnmatchcase(model, pattern)), None)


class ModelRegistry:
    def __init__(self, config: Config) -> None:
        grouped: dict[str, list[Deployment]] = {}
        for sub in config.subaccounts:
            for model, urls in sub.deployments.items():
                family, api, embeddings = classify(model)
                grouped.setdefault(model, []).extend(
                    Deployment(model, url, sub.name, family, api, embeddings) for url in urls
                )
        # (subaccount, orchestration deployment URL): they serve any other model name
        self._orchestration: tuple[tuple[str, str], ...] = tuple(
            (s.name, s.orchestration_url) for s in config.subaccounts if s.orchestration_url
        )
        self._orchestrated: dict[str, RoundRobin[Deployment]] = {}
        self._routes = config.model_routes
        self._balancers = {
            model: self._orchestrated_model(model)
            if self._orchestration and route_of(model, self._routes) == "orchestration"
            else RoundRobin(deps)
            for model, deps in grouped.items()
        }
        # The built-in Claude ids keep resolving among the configured and deployed models: a
        # catalog's orchestration-only Claude model does not take `sonnet` from a direct one.
        self._aliases = Aliases(tuple(self._balancers), config.model_aliases)
        self._balancers.update(self._listed_orchestrated(config, grouped))

    def entries(self) -> tuple[ModelEntry, ...]:
        """Every listed model with its family, route and the subaccounts that serve it."""
        out = []
        for name, balancer in self._balancers.items():
            first = balancer.items[0]
            route = "orchestration" if first.api is UpstreamApi.ORCHESTRATION else "direct"
            subs = tuple(dict.fromkeys(d.subaccount for d in balancer.items))
            out.append(ModelEntry(name, first.family, route, subs))
        return tuple(out)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._balancers)

    @property
    def aliases(self) -> tuple[Alias, ...]:
        """The aliases /v1/models lists (any public Claude id resolves too, listed or not)."""
        return self._aliases.listed()

    def target(self, model: str) -> str:
        """The configured model that serves `model` (itself, or the one it is an alias of)."""
        return self._aliases.resolve(model) or model

    @property
    def orchestration_subaccounts(self) -> tuple[str, ...]:
        """The subaccounts whose orchestration deployment serves any name not listed."""
        return tuple(sub for sub, _ in self._orchestration)

    def get(self, model: str) -> RoundRobin[Deployment] | None:
        found = self._balancers.get(model)
        if found is None:
            target = self._aliases.resolve(model)
            found = self._balancers.get(target) if target is not None else None
        if found is None and self._orchestration and route_of(model, self._routes) != "direct":
            found = self._orchestrated.get(model) or self._orchestrated_model(model)
        return found

    def _listed_orchestrated(
        self, config: Config, direct: Mapping[str, object]
    ) -> dict[str, RoundRobin[Deployment]]:
        """The models the catalog says a subaccount's orchestration deployment offers and that no
        subaccount deploys directly (a direct deployment, and `model_routes: direct`, win): listed
        as route orchestration, over the orchestration deployments of the subaccounts that offer
        them."""
        listed: dict[str, list[Deployment]] = {}
        for sub in config.subaccounts:
            if sub.orchestration_url is None:
                continue
            for model in sub.orchestration_models:
                if model in direct or route_of(model, self._routes) == "direct":
                    continue
                family, _, embeddings = classify(model)
                listed.setdefault(model, []).append(
                    Deployment(
                        model, sub.orchestration_url, sub.name, family, UpstreamApi.ORCHESTRATION, embeddings
                    )
                )
        return {model: RoundRobin(deps) for model, deps in listed.items()}

    def _orchestrated_model(self, model: str) -> RoundRobin[Deployment]:
        """A model with no direct deployment, through the subaccounts' orchestration deployments
        (round robin over them). Made once per name and kept, up to `_MAX_ORCHESTRATED` names, so
        that made-up names cannot grow the table without bound; a dict write needs no lock."""
        family, _, embeddings = classify(model)
        deployments = [
            Deployment(model, url, sub, family, UpstreamApi.ORCHESTRATION, embeddings)
            for sub, url in self._orchestration
        ]
        balancer = RoundRobin(deployments)
        if len(self._orchestrated) < _MAX_ORCHESTRATED:
            balancer = self._orchestrated.setdefault(model, balancer)
        return balancer


@dataclass(frozen=True, slots=True)
class _Table:
    generation: int  # 1 for the table built from the config, +1 per swap
    registry: ModelRegistry


class LiveModels:
    """The model table discovery refreshes: one immutable `_Table` behind one attribute.

    A registry is built whole, off to the side, and published by one reference assignment under
    the writer lock (which makes `generation` count every swap when refreshes overlap); readers
    read the attribute once per call and never lock, so a lookup sees the old table or the new
    one, never a mix. Balancers belong to a table: a swap restarts round-robin positions, which
    only moves where a model's next request starts.
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._current = _Table(1, ModelRegistry(config))
        self._lock = threading.Lock()

    @property
    def table(self) -> ModelRegistry:
        return self._current.registry

    @property
    def generation(self) -> int:
        return self._current.generation

    def swap(self, config: Config) -> ModelRegistry:
        """Builds the table of `config` and publishes it; returns the new table."""
        registry = ModelRegistry(config)
        with self._lock:
            self._current = _Table(self._current.generation + 1, registry)
        return registry

    @property
    def names(self) -> tuple[str, ...]:
        return self._current.registry.names

    @property
    def aliases(self) -> tuple[Alias, ...]:
        return self._current.registry.aliases

    def entries(self) -> tuple[ModelEntry, ...]:
        return self._current.registry.entries()

    def target(self, model: str) -> str:
        return self._current.registry.target(model)

    def get(self, model: str) -> RoundRobin[Deployment] | None:
        return self._current.registry.get(model)
