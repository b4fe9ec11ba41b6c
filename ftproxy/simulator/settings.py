"""Simulator settings and the command-line flags that fill them.

The flags are shared by `ftproxy simulate` and `python -m ftproxy.simulator`, so both are wired
through `add_arguments` + `settings_from_args` and stay identical.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class SimulatorSettings:
    host: str = "127.0.0.1"
    port: int = 8090
    # Faults, token store and stats live in the worker's memory: with more than one worker
    # (GIL build: processes) the /_sim control API only reaches the worker that answers it.
    workers: int = 1
    client_id: str = "sim-client"
    client_secret: str = "sim-secret"
    # SAP's SDK refreshes when < 60 min remain (SPEC §10): the real XSUAA value is 12 h - 1 s.
    token_ttl: int = 43199
    resource_groups: tuple[str, ...] = ("default",)
    latency_ms: float = 0.0
    ttft_ms: float = 0.0
    tokens_per_second: float = 0.0
    response_tokens: int = 16
    python_literal_lines: bool = False
    log_level: str = "warning"
    # Connections queued by the kernel; benchmarks open 1,000+ streams at once.
    backlog: int = 4096

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be 1..65535, got {self.port}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        if self.token_ttl < 1:
            raise ValueError(f"token_ttl must be >= 1 s, got {self.token_ttl}")
        if not self.resource_groups:
            raise ValueError("at least one resource group is required")
        if min(self.latency_ms, self.ttft_ms, self.tokens_per_second) < 0:
            raise ValueError("latency_ms, ttft_ms and tokens_per_second must be >= 0")
        if self.response_tokens < 0:
            raise ValueError(f"response_tokens must be >= 0, got {self.response_tokens}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the simulator flags to `parser` (defaults come from `SimulatorSettings`)."""
    d = SimulatorSettings()
    add = parser.add_argument
    add("--host", default=d.host, help=f"bind address (default {d.host}; keep it on loopback)")
    add("--port", type=int, default=d.port, help=f"port (default {d.port})")
    add("--workers", type=int, default=d.workers, help="Granian workers (faults/stats are per worker)")
    add("--client-id", default=d.client_id, help="OAuth client id accepted by /oauth/token")
    add("--client-secret", default=d.client_secret, help="OAuth client secret accepted by /oauth/token")
    add("--token-ttl", type=int, default=d.token_ttl, help="expires_in of issued tokens, seconds")
    add(
        "--resource-group",
        dest="resource_groups",
        action="append",
        default=None,
        help="resource group that holds the deployments (repeatable; default: default)",
    )
    add("--latency-ms", type=float, default=d.latency_ms, help="delay before a response's first byte")
    add("--ttft-ms", type=float, default=d.ttft_ms, help="extra delay before a stream's first content chunk")
    add(
        "--tokens-per-second",
        type=float,
        default=d.tokens_per_second,
        help="pace of stream content chunks (0 = as fast as possible)",
    )
    add("--response-tokens", type=int, default=d.response_tokens, help="words (chunks) per answer")
    add(
        "--python-literal-lines",
        action="store_true",
        default=d.python_literal_lines,
        help="send Converse stream lines as Python dict literals, as real AI Core sometimes does",
    )
    add("--log-level", default=d.log_level, choices=["debug", "info", "warning", "error", "critical"])
    add("--backlog", type=int, default=d.backlog, help="listen backlog; also Granian's connection limit")


def settings_from_args(ns: argparse.Namespace) -> SimulatorSettings:
    """Build settings from parsed flags; attributes the namespace lacks keep their defaults."""
    known = {f.name for f in fields(SimulatorSettings)}
    values = {k: v for k, v in vars(ns).items() if k in known and v is not None}
    if "resource_groups" in values:
        values["resource_groups"] = tuple(dict.fromkeys(values["resource_groups"]))
    return SimulatorSettings(**values)
