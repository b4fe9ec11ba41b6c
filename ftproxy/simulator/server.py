"""Serve the simulator with Granian's RSGI interface (one asyncio loop per worker)."""

from __future__ import annotations

import secrets
import sys
from functools import partial

from ftproxy.simulator.app import SimulatorApp
from ftproxy.simulator.catalog import DEFAULT_MODELS, deployment_id
from ftproxy.simulator.settings import SimulatorSettings


def build_app(settings: SimulatorSettings, token_key: bytes | None = None) -> SimulatorApp:
    """Granian's target loader; a module-level function so it pickles into spawned workers."""
    return SimulatorApp(settings, token_key=token_key)


def banner(settings: SimulatorSettings) -> str:
    base = f"http://{settings.host}:{settings.port}"
    lines = [
        f"ftproxy simulator: SAP AI Core on {base} (token URL {base}/oauth/token, "
        f"client id {settings.client_id!r}, resource groups {', '.join(settings.resource_groups)})",
    ]
    lines += [
        f"  {m.name:<32} {base}/v2/inference/deployments/{deployment_id(m.name)}" for m in DEFAULT_MODELS
    ]
    return "\n".join(lines)


def serve(settings: SimulatorSettings) -> None:
    """Serve until SIGINT/SIGTERM (Granian installs the handlers)."""
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    print(banner(settings), file=sys.stderr, flush=True)
    server = Server(
        # Only names the process; the app comes from the loader below.
        "ftproxy.simulator.server:build_app",
        address=settings.host,
        port=settings.port,
        interface=Interfaces.RSGI,
        workers=settings.workers,
        http=HTTPModes.http1,
        websockets=False,
        backlog=settings.backlog,
        log_level=LogLevels(settings.log_level),
    )
    # One key for all workers, made before they are spawned.
    server.serve(target_loader=partial(build_app, settings, secrets.token_bytes(32)), wrap_loader=False)


__all__ = ["banner", "build_app", "serve"]
