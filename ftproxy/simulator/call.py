"""One inference call after routing, authentication and fault selection: what handlers get."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ftproxy.simulator.catalog import ModelSpec
from ftproxy.simulator.http import Reply, Request, StreamReply
from ftproxy.simulator.knobs import Knobs
from ftproxy.simulator.settings import SimulatorSettings
from ftproxy.simulator.state import State


@dataclass(slots=True)
class Call:
    request: Request
    spec: ModelSpec
    deployment: str
    body: dict[str, Any]
    knobs: Knobs
    settings: SimulatorSettings
    state: State
    # The path after the deployment id, e.g. "chat/completions" or "models/gemini-2.5-pro:generateContent".
    route: str


Handler = Callable[[Call], Reply | StreamReply]
# Finds the text of the final message when it is the user's (where directives are read).
LastUserText = Callable[[dict[str, Any]], str | None]


@dataclass(frozen=True, slots=True)
class Route:
    # Stable label for /_sim/stats (e.g. "chat", "chat_stream").
    kind: str
    handler: Handler
    last_user_text: LastUserText


__all__ = ["Call", "Handler", "LastUserText", "Route"]
