"""The WSGI application: route → authenticate → handler → respond.

Every request is one `proxy.Call` (its id, slots, timings and outcome), started here and ended
here: after a JSON answer is handed over, or when a stream's chunks end or the server closes
them (`_Streamed`). Ending it gives back its slots, then writes its metrics and its one log line.
Every answer carries `x-request-id` and `x-ftproxy-overhead-ms`.

`Gateway` holds what lives as long as the process: the guards (client keys, rate and
concurrency limits) and the `Services` the handlers get (`proxy.py`: configuration, model table,
upstreams, stream slots). Granian's threads share one `Gateway`; its shared mutable parts (the
pool, token managers, balancers, buckets) each own their lock.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from random import getrandbits
from typing import Any

from ftproxy.config_env import load
from ftproxy.convert import ClientRequestError
from ftproxy.environment import FTPROXY_BLOCKING_THREADS, FTPROXY_CONFIG
from ftproxy.errors import ApiError
from ftproxy.observe import logs, metrics
from ftproxy.proxy import Call, Services
from ftproxy.settings import Config
from ftproxy.web.auth import ClientAuth
from ftproxy.web.guards import ConcurrencyLimit, RateLimiter
from ftproxy.web.routes import ROUTES, speaks_anthropic
from ftproxy.web.wsgi import Request, Response, status_line

log = logging.getLogger("ftproxy")

# FTPROXY_BLOCKING_THREADS (set by the launcher): Granian's blocking threads per worker, which
# bound the streams (streaming.py); this is its value when unset.
DEFAULT_BLOCKING_THREADS = 128

StartResponse = Callable[..., Any]


class Gateway:
    def __init__(self, config: Config, *, blocking_threads: int = DEFAULT_BLOCKING_THREADS) -> None:
        self.config = config
        self.auth = ClientAuth(
            config.client_keys,
            names=[c.name for c in config.clients],
            allow_unauthenticated=config.allow_unauthenticated,
        )
        self.max_body = config.limits.max_body_bytes
        self.rate_limiter = RateLimiter({c.name: c.rate for c in config.clients})
        self.concurrency = ConcurrencyLimit(config.limits.max_concurrent_requests)
        self.services = Services.build(config, blocking_threads=blocking_threads)
        metrics.set_known_models(self.services.models.names)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ, max_body=self.max_body)
        request_id = _request_id(request)
        call = Call(request_id, request.method, request.path, metrics.endpoint_label(request.path))
        metrics.request_started(call.endpoint)
        handed_to_stream = False
        # Whatever happens below (a handler, an error reply that cannot render, start_response
        # refusing a header), the call ends here: slots given back, upstream closed, record
        # written. Only a stream handed to the server ends later, through `_Streamed`.
        try:
            response = self._respond(request, call)
            call.status = response.status
            headers = [
                ("Content-Type", response.content_type),
                ("x-request-id", request_id),
                ("x-ftproxy-overhead-ms", f"{call.overhead_ms():.3f}"),
                *response.headers,
            ]
            if isinstance(response.body, bytes):
                headers.append(("Content-Length", str(len(response.body))))
                refused = _start(start_response, response.status, headers, call)
                return [response.body if refused is None else refused]
            refused = _start(start_response, response.status, headers, call)
            if refused is not None:
                _close(response.body)
                return [refused]
            handed_to_stream = True
            return _Streamed(response.body, call)
        finally:
            if not handed_to_stream:
                if call.status == 0:  # something escaped: the server answers 500
                    call.status = 500
                call.end()

    def _respond(self, request: Request, call: Call) -> Response:
        """The route's answer, or the error reply in the shape of the API the client speaks."""
        methods = ROUTES.get(request.path)
        route = methods.get(request.method) if methods else None
        anthropic = route.anthropic if route else speaks_anthropic(request)
        try:
            if methods is None:
                raise ApiError(404, f"no endpoint {request.path}; see GET /v1/models and the README")
            if route is None:
                allowed = ", ".join(methods)
                raise ApiError(
                    405,
                    f"{request.method} is not allowed on {request.path}; use {allowed}",
                    headers={"Allow": allowed},
                )
            if not route.public:
                call.client = self.auth.authenticate(request)
                self.rate_limiter.check(call.client)
                call.concurrency = self.concurrency.acquire()
            return route.handler(self.services, call, request)
        except ApiError as exc:
            call.error_code = exc.code
            return _error_response(exc, anthropic)
        except ClientRequestError as exc:  # a converter's verdict on the client's body
            call.error_code = exc.code
            return _error_response(ApiError(400, exc.message, param=exc.param, code=exc.code), anthropic)
        except Exception:
            log.exception(
                "unexpected error on %s %s (request %s)",
                request.method,
                request.path[:200],
                call.request_id,
            )
            return _error_response(
                ApiError(500, f"internal error in ftproxy (request id {call.request_id})"), anthropic
            )

    def close(self) -> None:
        self.services.close()


class _Streamed:
    """A stream's WSGI body: its chunks, and the end of its call when they end or when the
    server closes the body (done, or the client left; PEP 3333 has it call `close()` even
    before iterating). Ending twice is harmless: `Call.end` runs once."""

    __slots__ = ("_call", "_chunks")

    def __init__(self, chunks: Iterable[bytes], call: Call) -> None:
        self._chunks = chunks
        self._call = call

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._chunks
        finally:
            self.close()

    def close(self) -> None:
        try:
            _close(self._chunks)
        finally:
            self._call.end()


def _error_response(error: ApiError, anthropic: bool) -> Response:
    """Never raises: an error that cannot be rendered becomes a plain 500 in the same shape."""
    try:
        body = error.anthropic_body() if anthropic else error.openai_body()
        return Response(error.status, body, headers=list(error.headers.items()))
    except Exception:
        log.exception("cannot render the error reply %s", error.status)
        return Response(500, _RENDER_FAILED_ANTHROPIC if anthropic else _RENDER_FAILED_OPENAI)


_RENDER_FAILED_OPENAI = (
    b'{"error":{"message":"internal error in ftproxy while rendering an error reply",'
    b'"type":"server_error","param":null,"code":null}}'
)
_RENDER_FAILED_ANTHROPIC = (
    b'{"type":"error","error":{"type":"api_error",'
    b'"message":"internal error in ftproxy while rendering an error reply"}}'
)


def _start(
    start_response: StartResponse, status: int, headers: list[tuple[str, str]], call: Call
) -> bytes | None:
    """Starts the reply; None when done as asked, else the body of the 500 that was sent instead."""
    try:
        start_response(status_line(status), headers)
        return None
    except Exception:
        # A header the server refuses (e.g. a value that is not latin-1): answer a 500 without
        # them; exc_info lets a WSGI server replace headers it has not sent yet.
        log.exception("the server refused the reply's headers (request %s)", call.request_id)
        call.status = 500
        body = _RENDER_FAILED_OPENAI
        start_response(
            "500 Internal Server Error",
            [
                ("Content-Type", "application/json"),
                ("x-request-id", call.request_id),
                ("Content-Length", str(len(body))),
            ],
            sys.exc_info(),
        )
        return body


def _close(body: object) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            log.exception("closing an unsent stream failed")


def _request_id(request: Request) -> str:
    given = request.header("x-request-id")
    if given and len(given) <= 128 and given.isascii() and given.isprintable():
        return given
    # 128 random bits, as uuid4 has, without building a UUID object per request; `random`
    # reseeds itself in forked workers, so workers never repeat each other's ids.
    return f"{getrandbits(128):032x}"


def create_app(config: Config, *, blocking_threads: int = DEFAULT_BLOCKING_THREADS) -> Gateway:
    return Gateway(config, blocking_threads=blocking_threads)


_process_gateway: Gateway | None = None
_process_gateway_lock = threading.Lock()


def from_environment() -> Gateway:
    """The server's factory target: this process's gateway, built from $FTPROXY_CONFIG (and the
    server's threads per worker, $FTPROXY_BLOCKING_THREADS, which the launcher sets).

    Granian calls it once per worker. Process workers (GIL builds) each build their own; the
    thread workers of a free-threaded build share one, so they share one client pool, one token
    per subaccount, one set of stream slots and breakers (double-checked under a lock).
    """
    global _process_gateway
    gateway = _process_gateway
    if gateway is not None:
        return gateway
    with _process_gateway_lock:
        if _process_gateway is None:
            path = os.environ.get(FTPROXY_CONFIG)
            if not path:
                raise RuntimeError(f"{FTPROXY_CONFIG} is not set; start ftproxy with `ftproxy serve`")
            logs.configure()
            threads = int(os.environ.get(FTPROXY_BLOCKING_THREADS) or DEFAULT_BLOCKING_THREADS)
            # A path, or config_env.ENVIRONMENT: the service key in this process's environment.
            _process_gateway = create_app(load(path), blocking_threads=threads)
        return _process_gateway
