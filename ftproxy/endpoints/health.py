"""Liveness: the process answers, and says what it runs on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftproxy import __version__, runtime
from ftproxy.http import Request, Response

if TYPE_CHECKING:
    from ftproxy.app import Gateway


def health(gateway: Gateway, request: Request) -> Response:
    facts = runtime.current()
    return Response.json(
        {
            "status": "ok",
            "version": __version__,
            "python": facts.version,
            "free_threaded_build": facts.free_threaded_build,
            "gil_enabled": facts.gil_enabled,
        }
    )
