"""The simulator's live deployment table under forced preemption: no create or delete is lost.

`Deployments.create`/`delete` copy the table, change the copy and publish it (a read-modify-write
of `table` and of the per-model generation); readers on the inference path read `table` once,
without the lock, and must always find every deployment nobody deleted.
"""

from __future__ import annotations

import pytest
from contention import run_together
from preempt import preempting

from ftproxy.simulator import state
from ftproxy.simulator.catalog import DEFAULT_MODELS, deployment_id, find
from ftproxy.simulator.state import Deployments

pytestmark = pytest.mark.stress

THREADS = 8
ROUNDS = 12
MODELS = ("gpt-4.1", "sonar", "amazon--nova-pro", "anthropic--claude-4.5-sonnet")
STEADY = deployment_id("gpt-4o")  # never deleted: every reader must always find it


def test_concurrent_creates_and_deletes_lose_nothing() -> None:
    table = Deployments(DEFAULT_MODELS)
    initial = set(table.table)

    def work(i: int) -> tuple[list[str], list[str]]:
        spec = find(MODELS[i % len(MODELS)])
        assert spec is not None
        kept: list[str] = []
        missing: list[str] = []
        for n in range(ROUNDS):
            entry = table.create(spec)
            if n % 3 == 2:  # delete some of ours again: deletes race the creates too
                assert table.delete(entry.id) is entry
            else:
                kept.append(entry.id)
            if table.table.get(STEADY) is None:
                missing.append(f"round {n}")
        return kept, missing

    with preempting(state):
        results = run_together(work, THREADS)
    kept = [dep for ids, _ in results for dep in ids]  # type: ignore[misc]
    assert [m for _, missing in results for m in missing] == []  # type: ignore[misc]
    assert len(set(kept)) == len(kept)  # no id handed out twice
    assert set(table.table) == initial | set(kept)  # every create kept, every delete done
    for model in MODELS:
        generations = sorted(
            e.generation for e in table.table.values() if e.spec.name == model and e.generation
        )
        assert len(set(generations)) == len(generations)
