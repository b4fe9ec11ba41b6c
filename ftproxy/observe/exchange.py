"""One request's record: what it asked, where it went, how long each part took, how it ended.

An `Exchange` is created by the gateway for every request, filled in along the path (the
endpoint sets the model and family, the upstream client adds the time spent waiting on SAP AI
Core), and *finished* exactly once: for a JSON answer when it is returned, for a stream when
its last byte is sent or the client leaves. Finishing records the metrics and writes the one
structured log line of the request. It belongs to one request and one thread: a stream is
relayed on the thread that serves it (`streaming.py`), so the upstream time its chunks add and
the finish at its end happen on that thread too, and nothing here needs a lock.

The log line carries no body, no key, no token: only ids, names, numbers and outcomes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

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


@dataclass(slots=True)
class Exchange:
    request_id: str
    method: str
    path: str
    endpoint: str  # bounded label (metrics.endpoint_label)
    started: float = field(default_factory=time.perf_counter)
    family: str = "none"
    model: str | None = None  # the configured model that served the request
    alias: str | None = None  # the name the client asked for, when it was an alias of `model`
    route: str = "direct"  # or "orchestration": the deployment kind that served `model`
    stream: bool = False
    upstream_s: float = 0.0  # time spent waiting on SAP AI Core (headers, body, stream reads)
    auth_s: float = 0.0  # time spent getting an OAuth token (a fetch, or waiting for another's)
    upstream_status: int | None = None
    status: int = 0
    first_chunk_at: float | None = None
    ended: str = "complete"
    input_tokens: int | None = None
    output_tokens: int | None = None
    client: str | None = None  # the client key's name (never the key)
    release: Callable[[], None] | None = None  # gives back the request's concurrency slot
    error_code: str | None = None  # the ApiError's code, or the readiness state (error_kind)
    _finished: bool = False

    def overhead_ms(self, now: float | None = None) -> float:
        """Time spent in ftproxy itself so far: elapsed minus waiting on SAP AI Core (its token
        endpoint included: a first request's token fetch is not proxy overhead)."""
        now = time.perf_counter() if now is None else now
        return max(0.0, (now - self.started - self.upstream_s - self.auth_s) * 1000.0)

    def finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        if self.release is not None:
            self.release()
        now = time.perf_counter()
        elapsed = now - self.started
        overhead = self.overhead_ms(now) / 1000.0
        child = metrics.child
        child(metrics.REQUESTS_IN_FLIGHT, self.endpoint).dec()
        child(metrics.REQUESTS, self.endpoint, metrics.status_label(self.status)).inc()
        kind = self.error_kind()
        if kind is not None:
            child(metrics.ERRORS, kind).inc()
            if kind == "client_disconnected":
                metrics.CLIENT_DISCONNECTS.inc()
        if self.model is not None:
            child(metrics.REQUEST_LATENCY, self.endpoint, self.family).observe(elapsed)
            child(metrics.PROXY_OVERHEAD, self.endpoint, self.family).observe(overhead)
            child(metrics.MODEL_REQUESTS, self.family, self.route).inc()
            model = metrics.model_label(self.model)
            if self.input_tokens:
                child(metrics.TOKENS, model, "in").inc(self.input_tokens)
            if self.output_tokens:
                child(metrics.TOKENS, model, "out").inc(self.output_tokens)
        if self.first_chunk_at is not None:
            child(metrics.TIME_TO_FIRST_TOKEN, self.family).observe(self.first_chunk_at - self.started)
        if ACCESS_LOG.enabled:
            ACCESS_LOG.write(self._log_fields(elapsed, overhead))

    def error_kind(self) -> str | None:
        """A bounded name for what went wrong, or None."""
        if self.stream and self.ended != "complete":
            return self.ended  # client_disconnected, timeout_first_token, timeout_idle, timeout_total
        if self.status < 400:
            return None
        named = _CODE_KINDS.get(self.error_code) if self.error_code else None
        if named is not None:
            return named
        if self.upstream_status is not None and self.upstream_status >= 400:
            return "upstream_4xx" if self.upstream_status < 500 else "upstream_5xx"
        return _ERROR_KINDS.get(self.status, "client_error" if self.status < 500 else "gateway_error")

    def _log_fields(self, elapsed: float, overhead: float) -> dict[str, object]:
        fields: dict[str, object] = {
            "event": "request",
            "request_id": self.request_id,
            "method": self.method,
            "path": self.endpoint if self.endpoint != "other" else self.path[:200],
            "status": self.status,
            "duration_ms": round(elapsed * 1000.0, 3),
            "overhead_ms": round(overhead * 1000.0, 3),
        }
        if self.client is not None:
            fields["client"] = self.client
        if self.model is not None:
            fields.update(model=self.model[:200], family=self.family, route=self.route, stream=self.stream)
            if self.alias is not None:
                fields["alias"] = self.alias[:200]
            fields["upstream_status"] = self.upstream_status
            fields["upstream_ms"] = round(self.upstream_s * 1000.0, 3)
        if self.auth_s >= 0.0005:  # only when a token was fetched (or awaited), not a cache read
            fields["auth_ms"] = round(self.auth_s * 1000.0, 3)
        if self.first_chunk_at is not None:
            fields["ttft_ms"] = round((self.first_chunk_at - self.started) * 1000.0, 3)
        if self.stream:
            fields["ended"] = self.ended
        kind = self.error_kind()
        if kind is not None:
            fields["error"] = kind
        if self.input_tokens is not None:
            fields.update(input_tokens=self.input_tokens, output_tokens=self.output_tokens)
        return fields
