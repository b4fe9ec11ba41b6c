"""The path of a proxied request, top to bottom:

    resolve model → convert request → call upstream → convert answer back → respond

Endpoints parse and authenticate; everything after that is here and shared by every client API
and every model family.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

from ftproxy import convert
from ftproxy._json import dumps, loads
from ftproxy.convert import ClientApi, ClientRequestError, StreamFormat, Translator, UpstreamProtocolError
from ftproxy.errors import ApiError
from ftproxy.http import Response
from ftproxy.models import Deployment
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


def resolve(gateway: Gateway, model: str) -> Deployment:
    deployments = gateway.models.get(model)
    if deployments is None:
        raise ApiError(
            404,
            f"model '{model}' is not configured on this proxy; GET /v1/models lists the available ones",
            param="model",
            code="model_not_found",
        )
    return deployments.next()


def forward(
    gateway: Gateway, client_api: ClientApi, body: dict[str, Any], headers: dict[str, str] | None = None
) -> Response:
    model = requested_model(body)
    stream = requested_stream(body)
    deployment = resolve(gateway, model)
    if deployment.embeddings:
        raise ApiError(400, f"'{model}' is an embeddings model; call /v1/embeddings", param="model")
    try:
        upstream_request = convert.build_request(
            client_api, deployment.api, body, model=model, stream=stream, headers=headers
        )
        translator = convert.translator(client_api, deployment.api, model=model, body=body, stream=stream)
    except ClientRequestError as exc:
        raise ApiError(400, exc.message, param=exc.param) from None

    client = gateway.upstreams.get(deployment.subaccount)
    response = client.open(
        deployment.url + upstream_request.path, dumps(upstream_request.body), upstream_request.headers
    )
    if response.status_code >= 400:
        raise error_from_response(response, deployment.subaccount)
    if stream:
        return Response.event_stream(_relay(response, translator, upstream_request.stream_format))
    return Response.json(translator.complete(read_json(response)))


def read_json(response: httpx.Response) -> dict[str, Any]:
    try:
        raw = response.read()
    except httpx.TimeoutException:
        raise ApiError(504, "SAP AI Core did not finish its answer in time") from None
    except httpx.HTTPError as exc:
        raise ApiError(502, f"SAP AI Core's answer was cut off ({type(exc).__name__})") from None
    finally:
        response.close()
    try:
        data = loads(raw)
    except ValueError:
        raise ApiError(502, "SAP AI Core answered with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(502, "SAP AI Core answered with JSON that is not an object")
    return data


def _relay(response: httpx.Response, translator: Translator, stream_format: StreamFormat) -> Iterator[bytes]:
    """Upstream events in, client events out, one at a time; closing it closes the upstream."""
    try:
        try:
            for event in decode_stream(stream_format, response.iter_bytes()):
                yield from translator.stream_events(event)
        except UpstreamProtocolError as exc:
            yield translator.stream_error(502, f"SAP AI Core sent a malformed stream: {exc}")
            return
        except httpx.TimeoutException:
            yield translator.stream_error(504, "SAP AI Core stopped sending in the middle of the answer")
            return
        except httpx.HTTPError as exc:
            yield translator.stream_error(
                502, f"the stream from SAP AI Core broke off ({type(exc).__name__})"
            )
            return
        yield from translator.stream_end()
    finally:
        response.close()
