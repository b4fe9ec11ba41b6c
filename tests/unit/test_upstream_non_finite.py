"""An upstream that sends NaN (JSON has none; the simulator's `nan=1` directive puts it in the
usage and in every stream chunk) is an invalid answer with either JSON backend: a 502 in the
client's error shape, or in a stream an error event, never a NaN relayed to a strict client.
orjson refused it already; the stdlib parser (free-threaded builds) accepted it and the GPT
passthrough re-encoded it verbatim (issue 21 item 7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from wsgi_call import gateway_on_simulator, post

from ftproxy import _json
from ftproxy.web.app import Gateway

# The modules that decode upstream answers bind the backend's `loads` at import.
DECODERS = ["ftproxy.wire.upstream", "ftproxy.upstream.client", "ftproxy.convert.events", "ftproxy.errors"]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_on_simulator(tmp_path_factory.mktemp("nan")) as gateway:
        yield gateway


@pytest.fixture(params=["fast", "stdlib"])
def patched_loads(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "stdlib":
        stdlib = getattr(_json, "_stdlib_loads", json.loads)  # json.loads: the backend before the fix
        monkeypatch.setattr(_json, "loads", stdlib)
        for module in DECODERS:
            monkeypatch.setattr(f"{module}.loads", stdlib)
    return request.param


def strict(data: bytes) -> Any:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} relayed to the client: {data[:300]!r}")

    return json.loads(data, parse_constant=refuse)


def call(app: Gateway, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
    status, _, data = post(app, path, json.dumps(body).encode())
    return status, data


HI = [{"role": "user", "content": "hi [[sim:nan=1]]"}]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", {"model": "gpt-4.1", "messages": HI}),
        ("/v1/messages", {"model": "gpt-4.1", "max_tokens": 8, "messages": HI}),
        ("/v1/responses", {"model": "gpt-4.1", "input": "hi [[sim:nan=1]]"}),
    ],
)
def test_an_upstream_nan_is_a_502_never_relayed(
    app: Gateway, patched_loads: str, path: str, body: dict
) -> None:
    status, data = call(app, path, body)
    assert status == 502, (status, data[:300])
    error = strict(data)
    assert error["error"]["type"] in ("api_error", "upstream_error", "server_error", "bad_gateway"), error


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/v1/chat/completions",
            {"model": "gpt-4.1", "messages": HI, "stream_options": {"include_usage": True}},
        ),
        ("/v1/messages", {"model": "gpt-4.1", "max_tokens": 8, "messages": HI}),
        ("/v1/responses", {"model": "gpt-4.1", "input": "hi [[sim:nan=1]]"}),
    ],
)
def test_an_upstream_nan_in_a_stream_is_an_error_event(
    app: Gateway, patched_loads: str, path: str, body: dict
) -> None:
    status, data = call(app, path, {**body, "stream": True})
    lines = [line[6:] for line in data.split(b"\n") if line.startswith(b"data: ") and line != b"data: [DONE]"]
    events = [strict(line) for line in lines]
    assert status in (200, 502), (status, data[:300])
    assert events and ("error" in events[-1] or events[-1].get("type") in ("error", "response.failed")), data[
        -500:
    ]
