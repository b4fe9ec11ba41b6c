"""The path of a proxied request, top to bottom:

    resolve model → convert request → call upstream (`upstream.Upstreams`: failover, retries)
    → convert answer back → respond (a JSON answer, or a stream relayed on this thread)

Endpoints parse and authenticate; everything after that is here and shared by every client API
and every model family.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ftproxy import convert
from ftproxy._json import dumps
from ftproxy.balancer import RoundRobin
from ftproxy.convert import ClientApi, ClientRequestError, StreamFormat, Translator, UpstreamProtocolError
from ftproxy.convert.limits import cap_output_tokens
from ftproxy.errors import ApiError
from ftproxy.models import Deployment
from ftproxy.observe import metrics
from ftproxy.observe.exchange import Exchange
from ftproxy.streaming import CONTENT_STARTS, IDLE, StreamOutcome
from ftproxy.upstream import ConnectionLost, UpstreamError, UpstreamTimeout, read_json
from ftproxy.upstream import Response as UpstreamResponse
from ftproxy.web.wsgi import Request, Response
from ftproxy.wire.upstream import decode_stream

if TYPE_CHECKING:
    from ftproxy.web.app import Gateway


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
    deployments = resolve(gateway, model)
    deployment = deployments.items[0]  # family and API are the model's: the same on every deployment
    # An alias is served, capped and counted as the configured model it names.
    body = cap_output_tokens(client_api, body, gateway.limits.max_output_tokens.get(deployment.model))
    exchange.model, exchange.family, exchange.stream = deployment.model, deployment.family.value, stream
    if model != deployment.model:
        exchange.alias = model
    if deployment.embeddings:
        raise ApiError(400, f"'{model}' is an embeddings model; call /v1/embeddings", param="model")
    try:
        upstream_request = convert.build_request(
            client_api, deployment.api, body, model=deployment.model, stream=stream, headers=headers
        )
        translator = convert.translator(client_api, deployment.api, model=model, body=body, stream=stream)
    except ClientRequestError as exc:
        raise ApiError(400, exc.message, param=exc.param) from None

    upstreams = gateway.upstreams
    call = (upstream_request.path, _encode(upstream_request.body), upstream_request.headers)
    if not stream:
        response = upstreams.open(exchange, deployments, *call)
        answer = translator.complete(read_json(response, exchange))
        _count_usage(exchange, translator)
        return Response.json(answer)

    slot = gateway.streams.acquire()  # a 503 here, before anything is sent upstream
    try:
        response = upstreams.open(exchange, deployments, *call)
    except BaseException:
        slot.release()
        raise

    def produce(wait: Callable[[], float]) -> Iterator[bytes | object]:
        return _relay(response, translator, upstream_request.stream_format, exchange, wait)

    streams_in_flight = metrics.child(metrics.STREAMS_IN_FLIGHT, exchange.family)

    def on_finish(outcome: StreamOutcome) -> None:
        response.close()  # already closed by the relay, unless the client left before it started
        streams_in_flight.dec()
        exchange.first_chunk_at, exchange.ended = outcome.first_chunk_at, outcome.ended
        _count_usage(exchange, translator)
        exchange.finish()

    streams_in_flight.inc()
    chunks = gateway.streams.open_stream(
        slot, produce, error_event=translator.stream_error, on_finish=on_finish
    )
    return Response.event_stream(chunks)  # the stream finishes the exchange (on_finish)


def _encode(body: dict[str, Any]) -> bytes:
    """The upstream body as JSON; a client body too deep for the encoder is the client's error
    (orjson parses 1024 levels but writes 254; the stdlib recurses per level)."""
    try:
        return dumps(body)
    except (TypeError, ValueError, RecursionError):
        raise ApiError(400, "request body is nested too deeply to forward") from None


def _count_usage(exchange: Exchange, translator: Translator) -> None:
    usage = translator.usage
    if usage is not None:
        exchange.input_tokens, exchange.output_tokens = usage.input_tokens, usage.output_tokens


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
    response: UpstreamResponse,
    translator: Translator,
    stream_format: StreamFormat,
    exchange: Exchange,
    wait: Callable[[], float],
) -> Iterator[bytes | object]:
    """Upstream events in, client events out, one at a time, on the serving thread (the
    stream's producer, see streaming.py). A broken upstream stream ends with the client's error
    event; closing the producer closes the upstream response."""
    announced = False
    try:
        for event in decode_stream(stream_format, _timed(response.iter_chunks(wait), exchange), IDLE):
            if event is IDLE:
                yield IDLE
                continue
            for chunk in translator.stream_events(event):
                if not announced and translator.content_started:
                    announced = True
                    yield CONTENT_STARTS
                yield chunk
    except UpstreamProtocolError as exc:
        yield translator.stream_error(502, f"SAP AI Core sent a malformed stream: {exc}")
        return
    except UpstreamTimeout:
        yield translator.stream_error(504, "SAP AI Core stopped sending in the middle of the answer")
        return
    except (ConnectionLost, UpstreamError) as exc:
        yield translator.stream_error(502, f"the stream from SAP AI Core broke off ({exc})")
        return
    finally:
        response.close()
    yield from translator.stream_end()
