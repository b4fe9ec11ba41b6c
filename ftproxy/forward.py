"""The path of a proxied request, top to bottom:

    resolve model → convert request → call upstream (failover, retries) → convert answer back → respond

Endpoints parse and authenticate; everything after that is here and shared by every client API
and every model family.
"""

from __future__ import annotations

import contextlib
import math
import socket
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ftproxy import convert, metrics
from ftproxy._json import dumps, loads
from ftproxy.balancer import RoundRobin
from ftproxy.convert import ClientApi, ClientRequestError, StreamFormat, Translator, UpstreamProtocolError
from ftproxy.errors import ApiError
from ftproxy.exchange import Exchange
from ftproxy.http import Request, Response
from ftproxy.limits import cap_output_tokens
from ftproxy.models import Deployment
from ftproxy.resilience import RETRY_STATUSES, RetryPolicy, attempt_order, retry_after_seconds
from ftproxy.streaming import CLIENT_GONE, CONTENT_STARTS, Cancellation, StreamOutcome
from ftproxy.upstream import error_from_response
from ftproxy.wire.upstream import decode_stream

if TYPE_CHECKING:
    from ftproxy.app import Gateway


def requested_model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise ApiError(400, "'model' is required and must be a non-empty string", param="model")
    return model.strip()


def requested_stream(body: dict[str, Any]) -> bool:
    stream = body.get("stream")
    if stream is None:
        return False  # absent means a JSON answer, in every API we speak
    if not isinstance(stream, bool):
        raise ApiError(400, "'stream' must be true or false", param="stream")
    return stream


def resolve(gateway: Gateway, model: str) -> RoundRobin[Deployment]:
    """The deployments serving `model` (all of one family and upstream API), or a 404."""
    deployments = gateway.models.get(model)
    if deployments is None:
        raise ApiError(
            404,
            f"model '{model}' is not configured on this proxy; GET /v1/models lists the available ones",
            param="model",
            code="model_not_found",
        )
    return deployments


def open_upstream(
    gateway: Gateway,
    exchange: Exchange,
    deployments: RoundRobin[Deployment],
    path: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """The upstream's answer (status < 400, body unread), after failover and retries
    (`resilience.py`); otherwise raises the last upstream error as the client should see it."""
    policy = gateway.retry_policy
    last: ApiError | None = None
    calls: dict[str, int] = {}  # deployment URL → calls made to it for this request
    for deployment in attempt_order(deployments.rotation(), policy.max_attempts):
        breaker = gateway.breakers[deployment.url]
        if deployment.url in calls:  # the same deployment again: back off first
            delay = _retry_delay(policy, last, calls[deployment.url] - 1)
            if delay is None or time.perf_counter() - exchange.started + delay > policy.max_total_s:
                break
            time.sleep(delay)  # bounded by max_retry_after_s / backoff_max_s; holds no lock
        if not breaker.allow():
            last = last or _all_open(gateway, deployments, exchange.model or "")
            continue
        if calls:
            metrics.UPSTREAM_RETRIES.labels(exchange.family, _retry_reason(last)).inc()
        calls[deployment.url] = calls.get(deployment.url, 0) + 1
        client = gateway.upstreams.get(deployment.subaccount)
        try:
            response = client.open(deployment.url + path, body, headers, exchange)
        except ApiError as exc:  # no HTTP answer: connection refused, reset, timeout
            breaker.failure()
            last = exc
            continue
        status = response.status_code
        if status < 400:
            breaker.success()
            return response
        error = error_from_response(response, deployment.subaccount)
        if status not in RETRY_STATUSES:
            breaker.success()  # a 4xx is a healthy deployment's verdict on this request
            raise error
        if status == 429:
            breaker.success()  # throttled, not broken: do not trip the breaker
        else:
            breaker.failure()
        last = error
    assert last is not None
    raise last


def _retry_delay(policy: RetryPolicy, last: ApiError | None, retry: int) -> float | None:
    """Seconds to wait before calling a deployment again, or None: hand the error to the client."""
    wanted = retry_after_seconds(last.headers.get("Retry-After")) if last is not None else None
    if wanted is not None and wanted > policy.max_retry_after_s:
        return None  # the upstream wants a long pause: the client decides (it gets Retry-After)
    return max(wanted or 0.0, policy.backoff(retry))


def _retry_reason(last: ApiError | None) -> str:
    if last is None:
        return "other"
    return (
        "throttled" if last.status == 429 else "unreachable" if last.status in (502, 504) else "upstream_5xx"
    )


def _all_open(gateway: Gateway, deployments: RoundRobin[Deployment], model: str) -> ApiError:
    wait = min(gateway.breakers[d.url].seconds_until_probe() for d in deployments.items)
    return ApiError(
        503,
        f"every deployment of '{model}' keeps failing and is paused by its circuit breaker; retry shortly",
        code="circuit_open",
        headers={"Retry-After": str(max(1, math.ceil(wait)))},
    )


def forward(
    gateway: Gateway,
    request: Request,
    client_api: ClientApi,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Response:
    exchange = request.exchange
    model = requested_model(body)
    stream = requested_stream(body)
    body = cap_output_tokens(client_api, body, gateway.limits.max_output_tokens.get(model))
    deployments = resolve(gateway, model)
    deployment = deployments.items[0]  # family and API are the model's: the same on every deployment
    exchange.model, exchange.family, exchange.stream = model, deployment.family.value, stream
    if deployment.embeddings:
        raise ApiError(400, f"'{model}' is an embeddings model; call /v1/embeddings", param="model")
    try:
        upstream_request = convert.build_request(
            client_api, deployment.api, body, model=model, stream=stream, headers=headers
        )
        translator = convert.translator(client_api, deployment.api, model=model, body=body, stream=stream)
    except ClientRequestError as exc:
        raise ApiError(400, exc.message, param=exc.param) from None

    call = (upstream_request.path, _encode(upstream_request.body), upstream_request.headers)
    if not stream:
        response = open_upstream(gateway, exchange, deployments, *call)
        answer = translator.complete(read_json(response, exchange))
        _count_usage(exchange, translator)
        return Response.json(answer)

    slot = gateway.streams.acquire()  # a 503 here, before anything is sent upstream
    try:
        response = open_upstream(gateway, exchange, deployments, *call)
    except BaseException:
        slot.release()
        raise
    cancellation = Cancellation()
    cancellation.on_cancel(lambda: _interrupt(response))

    def produce(cancellation: Cancellation) -> Iterator[bytes | object]:
        return _relay(response, translator, upstream_request.stream_format, cancellation, exchange)

    streams_in_flight = metrics.STREAMS_IN_FLIGHT.labels(exchange.family)

    def on_finish(outcome: StreamOutcome) -> None:
        streams_in_flight.dec()
        exchange.first_chunk_at, exchange.ended = outcome.first_chunk_at, outcome.ended
        _count_usage(exchange, translator)
        exchange.finish()

    streams_in_flight.inc()
    chunks = gateway.streams.open_stream(slot, produce, cancellation=cancellation, on_finish=on_finish)
    return Response.event_stream(chunks)  # the stream finishes the exchange (on_finish)


def _encode(body: dict[str, Any]) -> bytes:
    """The upstream body as JSON; a client body too deep for the encoder is the client's error
    (orjson parses 1024 levels but writes 254; the stdlib recurses per level)."""
    try:
        return dumps(body)
    except (TypeError, ValueError, RecursionError):
        raise ApiError(400, "request body is nested too deeply to forward") from None


def read_json(response: httpx.Response, exchange: Exchange) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        raw = response.read()
    except httpx.TimeoutException:
        raise ApiError(504, "SAP AI Core did not finish its answer in time") from None
    except httpx.HTTPError as exc:
        raise ApiError(502, f"SAP AI Core's answer was cut off ({type(exc).__name__})") from None
    finally:
        response.close()
        exchange.upstream_s += time.perf_counter() - started
    try:
        data = loads(raw)
    except ValueError:
        raise ApiError(502, "SAP AI Core answered with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(502, "SAP AI Core answered with JSON that is not an object")
    return data


def _count_usage(exchange: Exchange, translator: Translator) -> None:
    usage = translator.usage
    if usage is not None:
        exchange.input_tokens, exchange.output_tokens = usage.input_tokens, usage.output_tokens


def _interrupt(response: httpx.Response) -> None:
    """Wakes the producer blocked reading this response: shutting the socket down makes its
    recv return at once (closing it from another thread would not, on Linux). The producer
    then closes the response itself, so httpcore's state is only ever touched by one thread."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


def _timed(chunks: Iterator[bytes], exchange: Exchange) -> Iterator[bytes]:
    """The upstream's chunks, adding the time spent waiting for each to the exchange."""
    while True:
        started = time.perf_counter()
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        finally:
            exchange.upstream_s += time.perf_counter() - started
        yield chunk


def _relay(
    response: httpx.Response,
    translator: Translator,
    stream_format: StreamFormat,
    cancellation: Cancellation,
    exchange: Exchange,
) -> Iterator[bytes | object]:
    """Upstream events in, client events out, one at a time (the StreamingProcessor's producer).

    A stream cancelled by a timeout ends with the client's error event for that reason; one
    whose client left just ends. Closing it closes the upstream response.
    """
    announced = False
    try:
        try:
            for event in decode_stream(stream_format, _timed(response.iter_bytes(), exchange)):
                if cancellation.cancelled:
                    break
                for chunk in translator.stream_events(event):
                    if not announced and translator.content_started:
                        announced = True
                        yield CONTENT_STARTS
                    yield chunk
        except UpstreamProtocolError as exc:
            if not cancellation.cancelled:
                yield translator.stream_error(502, f"SAP AI Core sent a malformed stream: {exc}")
                return
        except httpx.TimeoutException:
            if not cancellation.cancelled:
                yield translator.stream_error(504, "SAP AI Core stopped sending in the middle of the answer")
                return
        except httpx.HTTPError as exc:
            if not cancellation.cancelled:
                yield translator.stream_error(
                    502, f"the stream from SAP AI Core broke off ({type(exc).__name__})"
                )
                return
        if cancellation.reason is not None:
            status, message = cancellation.reason
            if status != CLIENT_GONE:
                yield translator.stream_error(status, message)
            return
        yield from translator.stream_end()
    finally:
        response.close()
