"""Liveness, readiness and metrics: what load balancers, orchestrators and Prometheus ask."""

from __future__ import annotations

import platform

from ftproxy import __version__, runtime
from ftproxy.observe import metrics
from ftproxy.proxy import Call, Services
from ftproxy.upstream.tokens import TokenError
from ftproxy.web.wsgi import Request, Response


def health(services: Services, call: Call, request: Request) -> Response:
    """Liveness: the process answers, and says what it runs on."""
    return Response.json({"status": "ok", "version": __version__, **_runtime()})


def ready(services: Services, call: Call, request: Request) -> Response:
    """Readiness: 200 `ready`, or 503 `draining` (shutting down: send no new requests) or
    `not_ready` (a subaccount cannot get an OAuth token, so its models would fail, or discovery
    has found no model yet). Open circuit
    breakers keep it 200 (the instance is fine; other deployments or the half-open probe serve)
    and are listed under `open_breakers` so an operator sees the degradation."""
    if runtime.draining():
        call.error_code = "draining"  # logged as what it is, not as an overload
        return Response.json({"status": "draining", **_runtime()}, status=503)
    problems = {}
    for sub in services.config.subaccounts:
        try:
            services.upstreams.get(sub.name).tokens.get()  # cached; fetched at most once a lifetime
        except TokenError as exc:
            problems[sub.name] = str(exc)
    discovery = _discovery(services)
    if problems or (discovery is not None and not services.models.names):
        call.error_code = "not_ready"
        body: dict[str, object] = {"status": "not_ready", **_runtime()}
        if problems:
            body["subaccounts"] = problems
        if discovery is not None:
            body["discovery"] = discovery  # no model yet: discovery has not read a listing
        return Response.json(body, status=503)
    body = {"status": "ready", "version": __version__, **_runtime()}
    if discovery is not None:
        body["discovery"] = discovery
    open_breakers = services.upstreams.breakers.open_urls()
    if open_breakers:
        body["open_breakers"] = open_breakers
    return Response.json(body)


def _discovery(services: Services) -> dict[str, object] | None:
    """Whether the discovered table is current: a failing listing keeps the last good table."""
    if services.discovery is None:
        return None
    status = services.discovery.status()
    return {"stale": not status.ok, "last_success_age_s": status.last_success_age_s, "error": status.error}


def metrics_endpoint(services: Services, call: Call, request: Request) -> Response:
    """Prometheus exposition (OpenMetrics when the scraper asks for it)."""
    body, content_type = metrics.render(request.header("accept"))
    return Response(200, body, content_type=content_type)


# What cannot change while the process lives, read once; the GIL's state is live (an import can
# switch it on), and reading it is one call that reads interpreter state.
_PYTHON = platform.python_version()
_FREE_THREADED_BUILD = runtime.is_free_threaded_build()


def _runtime() -> dict[str, object]:
    return {
        "python": _PYTHON,
        "free_threaded_build": _FREE_THREADED_BUILD,
        "gil_enabled": runtime.is_gil_enabled(),
    }
