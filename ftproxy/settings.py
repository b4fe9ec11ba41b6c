"""Settings as plain frozen value types: what config.json says, read by `config.py`, used below it.

This module imports nothing of ftproxy's, so the modules that *use* a setting (the upstream
transport, the streaming relay) and the one that *reads* it (`config.py`) both depend on it, and
never on each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    # LLM answers can take minutes between bytes while thinking; connecting should not.
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    max_idle_per_origin: int = 256  # keep-alive connections kept per SAP AI Core host
    token_style: str = "basic"  # or "form": how client credentials reach the token endpoint
    verify: bool | str = True  # TLS verification, or the path of a CA bundle


@dataclass(frozen=True, slots=True)
class StreamSettings:
    # per worker; None: derived from Granian's blocking threads (`default_max_streams`)
    max_streams: int | None = None
    keepalive_s: float = 10.0  # below the 60 s idle cut of common load balancers
    first_token_timeout_s: float = 300.0  # thinking models can take minutes
    idle_timeout_s: float = 300.0  # between two chunks once the answer flows
    total_timeout_s: float = 3600.0
    retry_after_s: int = 2  # told to clients refused for lack of stream slots
