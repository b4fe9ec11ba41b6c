"""The path of a proxied request, top to bottom:

    resolve model → convert request → call upstream (`upstream.Upstreams`: failover, retries)
    → convert answer back → answer (a JSON object, or a stream relayed on this thread)

A request's life is one `Call`: `web/app.py` starts it, the path fills it in (model, route,
upstream times, the stream slot and the upstream answer a stream reads), and `web/app.py` ends
it once — after a JSON answer is sent, or when a stream's chunks end or the server closes them.
`Call.end` gives back the slots (concurrency and stream) and closes the upstream answer, then
hands the finished value to `observe.exchange.record` (metrics and the log line).

The web layer parses, authenticates and turns the answer into HTTP; everything between is here
and shared by every client API and every model family, embeddings included. What the path
needs that lives as long as the process comes in one explicit `Services` value.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ftproxy import convert
from ftproxy._json import dumps
from ftproxy.balancer import RoundRobin
from ftproxy.convert import (
    ClientApi,
    StreamFormat,
    Translator,
    UpstreamApi,
    UpstreamProtocolError,
    orchestration,
)
from ftproxy.convert.limits import cap_output_tokens
from ftproxy.errors import ApiError
from ftproxy.models import Deployment, LiveModels, ModelRegistry
from ftproxy.observe import metrics
from ftproxy.observe.exchange import overhead_s, record
from ftproxy.settings import Config
from ftproxy.streaming import CONTENT_STARTS, IDLE, Producer, Slot, StreamOutcome, StreamSlots
from ftproxy.upstream import (
    Stage,
    UpstreamError,
    UpstreamResponse,
    Upstreams,
    WaitUntil,
    client_error,
    read_json,
)
from ftproxy.upstream.refresh import Refresher
from ftproxy.wire.sse import IDLE as WIRE_IDLE
from ftproxy.wire.upstream import decode_stream

# Azure OpenAI's embeddings endpoint under a deployment URL.
EMBEDDINGS_PATH = "/embeddings?api-version=2023-05-15"

# A JSON answer, or the chunks of a stream (the web layer ends the Call when they end).
ProxiedAnswer = dict[str, Any] | Iterable[bytes]


class Call:
    """One request, from the door to its last byte: what it asked, what it holds, how it went.

    Owned by the thread that serves it (a stream is relayed on that thread too), so nothing here
    needs a lock. `end()` runs once: the slots come back and the upstream answer is closed
    whatever happened before (an exception, a client that left, a drain deadline), and only then
    is the record written.
    """

    __slots__ = (
        "_done",
        "alias",
        "auth_s",
        "client",
        "concurrency",
        "ended",
        "endpoint",
        "error_code",
        "family",
        "first_chunk_at",
        "input_tokens",
        "method",
        "model",
        "outcome",
        "output_tokens",
        "path",
        "request_id",
        "route",
        "started",
        "status",
        "stream",
        "stream_slot",
        "streams_gauge",
        "upstream",
        "upstream_s",
        "upstream_status",
    )

    def __init__(self, request_id: str, method: str, path: str, endpoint: str) -> None:
        self.request_id, self.method, self.path, self.endpoint = request_id, method, path, endpoint
        self.started = time.perf_counter()  # the request's deadline counts from here
        self.client: str | None = None  # the client key's name (never the key)
        self.family = "none"
        self.model: str | None = None  # the configured model that serves the request
        self.alias: str | None = None  # the name the client asked for, when an alias of `model`
        self.route = "direct"  # or "orchestration"
        self.stream = False
        self.upstream_s = 0.0  # waiting on SAP AI Core (headers, body, stream reads)
        self.auth_s = 0.0  # getting an OAuth token
        self.upstream_status: int | None = None
        self.status = 0
        self.error_code: str | None = None  # the ApiError's code, or the readiness state
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.first_chunk_at: float | None = None
        self.ended = "complete"
        # What the call holds until it ends:
        self.concurrency: Callable[[], None] | None = None  # gives back the concurrency slot
        self.stream_slot: Slot | None = None
        self.streams_gauge: Any = None  # the in-flight streams gauge child, once a stream is open
        self.upstream: UpstreamResponse | None = None  # the answer a stream reads
        self.outcome: StreamOutcome | None = None  # how the stream went
        self._done = False

    def overhead_ms(self) -> float:
        """Time spent in ftproxy itself so far (the x-ftproxy-overhead-ms header)."""
        return overhead_s(self.started, self.upstream_s, self.auth_s, time.perf_counter()) * 1000.0

    def end(self) -> None:
        """Gives back what the call holds, then records it; later calls do nothing."""
        if self._done:
            return
        self._done = True
        now = time.perf_counter()
        try:
            if self.upstream is not None:
                self.upstream.close()  # already closed by the relay, unless it never started
            outcome = self.outcome
            if outcome is not None:
                self.first_chunk_at, self.ended = outcome.first_chunk_at, outcome.ended
        finally:
            try:
                if self.stream_slot is not None:
                    self.stream_slot.release()
                if self.streams_gauge is not None:
                    self.streams_gauge.dec()
            finally:
                if self.concurrency is not None:
                    self.concurrency()
        record(self, now)


@dataclass(frozen=True, slots=True)
class Services:
    """What the request path uses, built once per process and handed to every handler.

    Immutable itself; its parts that change (the client pool, tokens, breakers, stream slots)
    each own their lock.
    """

    config: Config
    models: ModelRegistry | LiveModels
    upstreams: Upstreams
    streams: StreamSlots
    discovery: Refresher | None = None  # set when the table is (also) discovered

    @classmethod
    def build(cls, config: Config, *, blocking_threads: int) -> Services:
        """`blocking_threads`: the server's threads per worker, which bound the streams."""
        models = LiveModels(config) if config.discovers else ModelRegistry(config)
        upstreams = Upstreams(config, config.deployment_urls)
        discovery = None
        if isinstance(models, LiveModels):
            # Before serving: a failure leaves the explicit table (or /ready's not_ready), never a crash.
            discovery = Refresher(models, upstreams)
            discovery.refresh()
            discovery.start()
            upstreams.on_missing_deployment = discovery.missing
        streams = StreamSlots(config.streaming, blocking_threads=blocking_threads)
        return cls(config, models, upstreams, streams, discovery)

    def close(self) -> None:
        if self.discovery is not None:
            self.discovery.stop()
        self.upstreams.close()


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


def resolve(services: Services, model: str) -> RoundRobin[Deployment]:
    """The deployments serving `model` (all of one family and upstream API), or a 404."""
    deployments = services.models.get(model)
    if deployments is None:
        raise ApiError(
            404,
            f"model '{model}' is not configured on this proxy; GET /v1/models lists the available ones",
            param="model",
            code="model_not_found",
        )
    return deployments


def _route(services: Services, call: Call, model: str) -> RoundRobin[Deployment]:
    """Resolves the model and notes it: an alias is served and counted as the model it names."""
    deployments = resolve(services, model)
    deployment = deployments.items[0]  # family and API are the model's: the same on every deployment
    call.model, call.family = deployment.model, deployment.family.value
    call.route = "orchestration" if deployment.api is UpstreamApi.ORCHESTRATION else "direct"
    if model != deployment.model:
        call.alias = model
    return deployments


def forward(
    services: Services,
    call: Call,
    client_api: ClientApi,
    body: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> ProxiedAnswer:
    """A chat-style request (chat completions, Messages, Responses) to its model and back."""
    model = requested_model(body)
    stream = requested_stream(body)
    deployments = _route(services, call, model)
    deployment = deployments.items[0]
    call.stream = stream
    if deployment.embeddings:
        raise ApiError(400, f"'{model}' is an embeddings model; call /v1/embeddings", param="model")
    body = cap_output_tokens(client_api, body, services.config.limits.max_output_tokens.get(deployment.model))
    # A body the converters refuse raises ClientRequestError, which the web layer answers with a 400.
    upstream_request = convert.build_request(
        client_api, deployment.api, body, model=deployment.model, stream=stream, headers=headers
    )
    if deployment.api is UpstreamApi.ORCHESTRATION:  # config.json `orchestration` modules
        modules = services.config.orchestration.modules_for(call.client, deployment.model)
        upstream_request = orchestration.with_modules(upstream_request, modules)
    translator = convert.translator(client_api, deployment.api, model=model, body=body, headers=headers)

    upstreams = services.upstreams
    sent = (upstream_request.path, _encode(upstream_request.body), upstream_request.headers)
    if not stream:
        response = upstreams.call(call, deployments, *sent)
        try:
            answer = translator.complete(read_json(response, call))
        except UpstreamProtocolError as exc:
            raise client_error(exc, Stage.ANSWER) from None
        _count_usage(call, translator)
        return answer

    call.stream_slot = services.streams.acquire()  # a 503 here, before anything is sent upstream
    response = call.upstream = upstreams.call(call, deployments, *sent)
    until = WaitUntil()
    relay = _relay(response, translator, upstream_request.stream_format, call, until)
    chunks = services.streams.open(relay, until, translator.stream_error)
    call.outcome = chunks.outcome
    call.streams_gauge = metrics.child(metrics.STREAMS_IN_FLIGHT, call.family)
    call.streams_gauge.inc()
    return chunks


def embed(services: Services, call: Call, body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI embeddings, passed through to an Azure OpenAI embeddings deployment."""
    model = requested_model(body)
    text = body.get("input")
    if not (isinstance(text, str) or (isinstance(text, list) and text)):
        raise ApiError(400, "'input' must be a string or a non-empty list", param="input")
    deployments = _route(services, call, model)
    deployment = deployments.items[0]
    if not deployment.embeddings:
        raise ApiError(400, f"'{model}' is not an embeddings model", param="model")
    answer: dict[str, Any]
    if deployment.api is UpstreamApi.ORCHESTRATION:
        answer = _embed_orchestrated(services, call, deployments, body, deployment.model)
    else:
        response = services.upstreams.call(call, deployments, EMBEDDINGS_PATH, _encode(body))
        answer = read_json(response, call)
    usage = answer.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("prompt_tokens"), int):
        call.input_tokens, call.output_tokens = usage["prompt_tokens"], 0
    answer["model"] = model  # the name the client asked for, not the deployment's versioned one
    return answer


def _embed_orchestrated(
    services: Services,
    call: Call,
    deployments: RoundRobin[Deployment],
    body: dict[str, Any],
    model: str,
) -> dict[str, Any]:
    """Embeddings through the Orchestration Service's `/v2/embeddings`, answered as OpenAI's."""
    request = orchestration.build_embeddings_request(body, model=model)
    modules = services.config.orchestration.modules_for(call.client, model)
    request = orchestration.embeddings_with_masking(request, modules)
    path = orchestration.EMBEDDINGS_PATH
    response = services.upstreams.call(call, deployments, path, _encode(request))
    try:
        return orchestration.embeddings_answer(read_json(response, call))
    except UpstreamProtocolError as exc:
        raise client_error(exc, Stage.ANSWER) from None


def _encode(body: dict[str, Any]) -> bytes:
    """The upstream body as JSON; a client body too deep for the encoder is the client's error
    (orjson parses 1024 levels but writes 254; the stdlib recurses per level)."""
    try:
        return dumps(body)
    except (TypeError, ValueError, RecursionError):
        raise ApiError(400, "request body is nested too deeply to forward") from None


def _count_usage(call: Call, translator: Translator) -> None:
    usage = translator.usage
    if usage is not None:
        call.input_tokens, call.output_tokens = usage.input_tokens, usage.output_tokens


def _timed(chunks: Iterator[bytes], call: Call) -> Iterator[bytes]:
    """The upstream's chunks, adding the time spent waiting for each to the call."""
    while True:
        started = time.perf_counter()
        try:
            chunk = next(chunks)
        except StopIteration:
            return
        finally:
            call.upstream_s += time.perf_counter() - started
        yield chunk


def _relay(
    response: UpstreamResponse,
    translator: Translator,
    stream_format: StreamFormat,
    call: Call,
    until: WaitUntil,
) -> Producer:
    """Upstream events in, client events out, one at a time, on the serving thread (the
    stream's producer, see streaming.py). A broken upstream stream ends with the client's error
    event; closing the producer closes the upstream response and counts the tokens so far."""
    announced = False
    try:
        for event in decode_stream(stream_format, _timed(response.iter_chunks(until), call), idle=True):
            if event is WIRE_IDLE:
                yield IDLE
                continue
            for chunk in translator.stream_events(event):
                if not announced and translator.content_started:
                    announced = True
                    yield CONTENT_STARTS
                yield chunk
    except (UpstreamProtocolError, UpstreamError) as exc:
        error = client_error(exc, Stage.STREAM)
        yield translator.stream_error(error.status, error.message)
        return
    finally:
        response.close()
        _count_usage(call, translator)
    yield from translator.stream_end()
