"""LiveModels under forced preemption: readers see whole tables, every swap counts."""

from __future__ import annotations

import pytest
from contention import run_together
from preempt import preempting

from ftproxy import models
from ftproxy.models import LiveModels
from ftproxy.settings import Config, ServiceKey, Subaccount

pytestmark = pytest.mark.stress

THREADS = 8
ROUNDS = 15
_KEY = ServiceKey(client_id="c", client_secret="s", auth_url="https://auth", api_url="https://api")


def _config(*names: str) -> Config:
    deployments = {name: (f"https://api/v2/inference/deployments/{name}",) for name in names}
    return Config(subaccounts=(Subaccount("s", "default", _KEY, deployments),), clients=())


OLD = _config("gpt-4.1", "gpt-5", "gemini-2.5-pro")
NEW = _config("gpt-4.1", "anthropic--claude-4.5-sonnet", "anthropic--claude-4-opus", "gpt-4o")
WHOLE = {frozenset(OLD.models), frozenset(NEW.models)}


def test_readers_never_see_a_half_built_table() -> None:
    live = LiveModels(OLD)

    def work(i: int) -> list[str]:
        wrong = []
        for n in range(ROUNDS):
            if i % 2:
                live.swap(NEW if n % 2 else OLD)
                continue
            table = live.table
            names = frozenset(table.names)
            if names not in WHOLE or any(table.get(name) is None for name in names):
                wrong.append(f"{sorted(names)}")
        return wrong

    with preempting(models):
        seen = run_together(work, THREADS)
    assert [w for per_thread in seen for w in per_thread] == []  # type: ignore[attr-defined]


def test_every_swap_gets_its_own_generation() -> None:
    live = LiveModels(OLD)
    with preempting(models):
        run_together(lambda i: [live.swap(NEW) for _ in range(ROUNDS)], THREADS)
    assert live.generation == 1 + THREADS * ROUNDS
