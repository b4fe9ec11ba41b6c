"""The simulator's mutable state: the deployment table, issued tokens, injected faults, counters.

One instance per worker. Under a GIL build with several workers each process has its own, so
faults, counters and revocation via the /_sim control API reach only the worker that answers:
use one worker (the default) for them. Tokens stay valid across workers (see `tokens`). On a
free-threaded build Granian's workers are threads sharing this object, hence the lock around
every change.

The deployment table (`Deployments`) is read on every inference call, so readers never lock:
the table is an immutable mapping, replaced whole by `create`/`delete` under the lock (copy,
change the copy, publish it with one assignment); a reader takes `deployments.table` once.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ftproxy.simulator.catalog import ModelSpec, deployment_id
from ftproxy.simulator.tokens import TokenBook


@dataclass(frozen=True, slots=True)
class Deployed:
    """One foundation-models deployment: its id, model, and place in creation order."""

    id: str
    spec: ModelSpec
    # 0 for the catalog's own deployment of the model, then 1, 2, … for each created one.
    generation: int
    # Creation order across the whole table (the listing's createdAt stamps follow it).
    serial: int


class Deployments:
    """The live deployment table: id → `Deployed`, swapped whole under a lock."""

    def __init__(self, models: tuple[ModelSpec, ...]) -> None:
        self._lock = threading.Lock()
        deployed = [m for m in models if m.deployed]
        ids = [deployment_id(m.name) for m in deployed]
        table = {dep: Deployed(dep, m, 0, i) for i, (dep, m) in enumerate(zip(ids, deployed, strict=True))}
        if len(table) != len(deployed):
            raise ValueError("two simulated models hash to the same deployment id; rename one")
        self.table: Mapping[str, Deployed] = MappingProxyType(table)
        # The next generation of each model, and the next serial; only written under the lock.
        self._generations = {m.name: 1 for m in deployed}
        self._serial = len(deployed)

    def create(self, spec: ModelSpec) -> Deployed:
        with self._lock:
            generation = self._generations.get(spec.name, 0)
            dep = deployment_id(spec.name, generation)
            while dep in self.table:  # a hash collision with a live id: take the next generation
                generation += 1
                dep = deployment_id(spec.name, generation)
            entry = Deployed(dep, spec, generation, self._serial)
            self._generations[spec.name] = generation + 1
            self._serial += 1
            self.table = MappingProxyType({**self.table, dep: entry})
            return entry

    def delete(self, dep: str) -> Deployed | None:
        with self._lock:
            table = dict(self.table)
            entry = table.pop(dep, None)
            if entry is not None:
                self.table = MappingProxyType(table)
            return entry


@dataclass(slots=True)
class Fault:
    deployment: str
    # Error status to answer with; None = only change behaviour (latency, cut, ...).
    status: int | None
    # Requests still to affect; None = until cleared.
    remaining: int | None
    # Knob values (directive spellings) applied to matching requests, status included.
    knobs: dict[str, Any]


@dataclass(slots=True)
class TokenFault:
    status: int | None
    remaining: int | None
    latency_ms: float
    retry_after: str | None
    body: str | None


@dataclass(slots=True)
class Stats:
    tokens_issued: int = 0
    token_requests: int = 0
    requests_total: int = 0
    open_streams: int = 0
    max_open_streams: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    streams_cut: int = 0
    streams_disconnected: int = 0
    faults_injected: int = 0
    by_path: Counter[str] = field(default_factory=Counter)
    by_deployment: Counter[str] = field(default_factory=Counter)
    by_status: Counter[str] = field(default_factory=Counter)


class State:
    def __init__(self, token_key: bytes | None = None, models: tuple[ModelSpec, ...] = ()) -> None:
        self._lock = threading.Lock()
        self.deployments = Deployments(models)
        self.tokens = TokenBook(token_key)
        self._faults: list[Fault] = []
        self._token_faults: list[TokenFault] = []
        self.stats = Stats()

    # -- tokens ---------------------------------------------------------------------------
    def issue_token(self, ttl: float) -> str:
        token = self.tokens.issue(ttl)
        with self._lock:
            self.stats.tokens_issued += 1
        return token

    def token_valid(self, token: str) -> bool:
        return self.tokens.valid(token)

    def revoke_tokens(self) -> int:
        return self.tokens.revoke_all()

    # -- faults ---------------------------------------------------------------------------
    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._token_faults.clear()

    def take_fault(self, deployment: str, *, wildcard: bool = True) -> Fault | None:
        """The first fault for `deployment` (or "*" unless `wildcard` is False), consuming one of
        its uses."""
        if not self._faults:
            return None
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.deployment == deployment or (wildcard and fault.deployment == "*"):
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining <= 0:
                            del self._faults[i]
                    self.stats.faults_injected += 1
                    return fault
        return None

    def faults(self) -> list[dict[str, Any]]:
        with self._lock:
            return [
                {"deployment": f.deployment, "status": f.status, "count": f.remaining, **f.knobs}
                for f in self._faults
            ]

    def add_token_fault(self, fault: TokenFault) -> None:
        with self._lock:
            self._token_faults.append(fault)

    def clear_token_faults(self) -> None:
        with self._lock:
            self._token_faults.clear()

    def take_token_fault(self) -> TokenFault | None:
        if not self._token_faults:
            return None
        with self._lock:
            if not self._token_faults:
                return None
            fault = self._token_faults[0]
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._token_faults[0]
            return fault

    # -- counters -------------------------------------------------------------------------
    def count_token_request(self) -> None:
        with self._lock:
            self.stats.token_requests += 1

    def count_request(self, path_kind: str, deployment: str | None, status: int) -> None:
        with self._lock:
            s = self.stats
            s.requests_total += 1
            s.by_path[path_kind] += 1
            s.by_status[str(status)] += 1
            if deployment is not None:
                s.by_deployment[deployment] += 1

    def stream_opened(self) -> None:
        with self._lock:
            s = self.stats
            s.open_streams += 1
            s.streams_started += 1
            s.max_open_streams = max(s.max_open_streams, s.open_streams)

    def stream_closed(self, outcome: str) -> None:
        """`outcome`: completed, cut or disconnected."""
        with self._lock:
            s = self.stats
            s.open_streams -= 1
            if outcome == "completed":
                s.streams_completed += 1
            elif outcome == "cut":
                s.streams_cut += 1
            else:
                s.streams_disconnected += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            s = self.stats
            return {
                "tokens_issued": s.tokens_issued,
                "token_requests": s.token_requests,
                "tokens_valid": self.tokens.count_valid(),
                "requests_total": s.requests_total,
                "requests_by_path": dict(s.by_path),
                "requests_by_deployment": dict(s.by_deployment),
                "responses_by_status": dict(s.by_status),
                "open_streams": s.open_streams,
                "max_open_streams": s.max_open_streams,
                "streams_started": s.streams_started,
                "streams_completed": s.streams_completed,
                "streams_cut": s.streams_cut,
                "streams_disconnected": s.streams_disconnected,
                "faults_injected": s.faults_injected,
                "faults_pending": len(self._faults),
            }

    def reset_stats(self) -> None:
        with self._lock:
            open_now = self.stats.open_streams
            self.stats = Stats(open_streams=open_now, max_open_streams=open_now)


__all__ = ["Deployed", "Deployments", "Fault", "State", "Stats", "TokenFault"]
