"""One request's record: what it asked, where it went, how long each part took, how it ended.

`record(exchange)` writes it, once, when the request has ended: its metrics and the one
structured log line. `Exchange` is what it reads, the request's own value (`proxy.Call`, which
`web/app.py` starts and ends); the record holds no resource and nothing here changes the request.
It runs on the thread that served the request, so nothing here needs a lock.

The log line carries no body, no key, no token: only ids, names, numbers and outcomes.
"""

from __future__ import annotations

import time
from typing import Protocol

from ftproxy.observe import metrics
from ftproxy.observe.logs import ACCESS_LOG

_ERROR_KINDS = {
    400: "bad_request",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "rate_limited",
    500: "internal",
    502: "upstream_unreachable",
    503: "unavailable",
    504: "upstream_timeout",
}
# ApiError codes (and the readiness states) that say more than the status: a 502 from a rejected
# client secret is not an unreachable upstream, a /ready 503 is not an overload.
_CODE_KINDS = {
    "upstream_auth_failed": "upstream_auth_failed",
    "circuit_open": "circuit_open",
    "too_many_requests": "overloaded",
    "too_many_streams": "overloaded",
    "rate_limit_exceeded": "rate_limited",
    "model_not_found": "model_not_found",
    "draining": "draining",
    "not_ready": "not_ready",
}


class Exchange(Protocol):
    """What the record reads of an ended request (`proxy.Call` is one)."""

    @property
    def request_id(self) -> str: ...
    @property
    def method(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def endpoint(self) -> str: ...  # bounded label (metrics.endpoint_label)
    @property
    def started(self) -> float: ...  # time.perf_counter() when the request arrived
    @property
    def family(self) -> str: ...
    @property
    def model(self) -> str | None: ...  # the configured model that served the request
    @property
    def alias(self) -> str | None: ...  # the name the client asked for, when an alias of `model`
    @property
    def route(self) -> str: ...  # "direct" or "orchestration": the deployment kind that served it
    @property
    def stream(self) -> bool: ...
    @property
    def upstream_s(self) -> float: ...  # waiting on SAP AI Core (headers, body, stream reads)
    @property
    def auth_s(self) -> float: ...  # getting an OAuth token (a fetch, or waiting for another's)
    @property
    def upstream_status(self) -> int | None: ...
    @property
    def status(self) -> int: ...
    @property
    def first_chunk_at(self) -> float | None: ...
    @property
    def ended(self) -> str: ...
    @property
    def input_tokens(self) -> int | None: ...
    @property
    def output_tokens(self) -> int | None: ...
    @property
    def client(self) -> str | None: ...  # the client key's name (never the key)
    @property
    def error_code(self) -> str | None: ...  # the ApiError's code, or the readiness state


def overhead_s(started: float, upstream_s: float, auth_s: float, now: float) -> float:
    """Time spent in ftproxy itself: elapsed minus waiting on SAP AI Core (its token endpoint
    included: a first request's token fetch is not proxy overhead)."""
    return max(0.0, now - started - upstream_s - auth_s)


def record(exchange: Exchange, now: float | None = None) -> None:
    """The ended request's metrics and its log line; call it once per request."""
    x = exchange
    now = time.perf_counter() if now is None else now
    elapsed = now - x.started
    overhead = overhead_s(x.started, x.upstream_s, x.auth_s, now)
    series = metrics.request_series(x.endpoint, x.status, x.family, x.route, x.model)
    series.in_flight(-1)
    series.requests(1)
    kind = error_kind(x)
    if kind is not None:
        metrics.child(metrics.ERRORS, kind).inc()
        if kind == "client_disconnected":
            metrics.CLIENT_DISCONNECTS.inc()
    if x.model is not None:
        series.latency(elapsed)
        series.overhead(overhead)
        series.model_requests(1)
        if x.input_tokens:
            series.tokens_in(x.input_tokens)
        if x.output_tokens:
            series.tokens_out(x.output_tokens)
    if x.first_chunk_at is not None:
        series.first_token(x.first_chunk_at - x.started)
    if ACCESS_LOG.enabled:
        ACCESS_LOG.write(_log_fields(x, elapsed, overhead, kind))


def error_kind(x: Exchange) -> str | None:
    """A bounded name for what went wrong, or None."""
    if x.stream and x.ended != "complete":
        return x.ended  # client_disconnected, timeout_first_token, timeout_idle, timeout_total
    if x.status < 400:
        return None
    named = _CODE_KINDS.get(x.error_code) if x.error_code else None
    if named is not None:
        return named
    if x.upstream_status is not None and x.upstream_status >= 400:
        return "upstream_4xx" if x.upstream_status < 500 else "upstream_5xx"
    return _ERROR_KINDS.get(x.status, "client_error" if x.status < 500 else "gateway_error")


def _log_fields(x: Exchange, elapsed: float, overhead: float, kind: str | None) -> dict[str, object]:
    fields: dict[str, object] = {
        "event": "request",
        "request_id": x.request_id,
        "method": x.method,
        "path": x.endpoint if x.endpoint != "other" else x.path[:200],
        "status": x.status,
        "duration_ms": round(elapsed * 1000.0, 3),
        "overhead_ms": round(overhead * 1000.0, 3),
    }
    if x.client is not None:
        fields["client"] = x.client
    if x.model is not None:
        fields.update(model=x.model[:200], family=x.family, route=x.route, stream=x.stream)
        if x.alias is not None:
            fields["alias"] = x.alias[:200]
        fields["upstream_status"] = x.upstream_status
        fields["upstream_ms"] = round(x.upstream_s * 1000.0, 3)
    if x.auth_s >= 0.0005:  # only when a token was fetched (or awaited), not a cache read
        fields["auth_ms"] = round(x.auth_s * 1000.0, 3)
    if x.first_chunk_at is not None:
        fields["ttft_ms"] = round((x.first_chunk_at - x.started) * 1000.0, 3)
    if x.stream:
        fields["ended"] = x.ended
    if kind is not None:
        fields["error"] = kind
    if x.input_tokens is not None:
        fields.update(input_tokens=x.input_tokens, output_tokens=x.output_tokens)
    return fields
