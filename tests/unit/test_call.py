"""A request's `Call` ends once, and its end gives back what it holds whatever happened before:
the concurrency slot, the stream slot, the upstream answer; only then is the record written.
In process, the gateway against the simulator, a stream ended each way a server ends it."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from wsgi_call import gateway_on_simulator

from ftproxy import proxy
from ftproxy.demo import DEMO_KEY
from ftproxy.observe import metrics
from ftproxy.proxy import Call
from ftproxy.streaming import StreamSettings, StreamSlots
from ftproxy.web.app import Gateway

STREAM = json.dumps(
    {"model": "gpt-4.1", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
).encode()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    with gateway_on_simulator(tmp_path_factory.mktemp("call")) as gateway:
        yield gateway


def start(app: Gateway, body: bytes) -> tuple[Any, list[int]]:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/chat/completions",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"Bearer {DEMO_KEY}",
    }
    seen: list[int] = []
    return app(environ, lambda status, headers, exc_info=None: seen.append(int(status[:3]))), seen


def held(app: Gateway) -> tuple[int, float]:
    """Stream slots taken and requests in flight (0, 0 when every call has ended)."""
    streams = app.services.streams
    in_flight = metrics.REGISTRY.get_sample_value(
        "ftproxy_requests_in_flight", {"endpoint": "/v1/chat/completions"}
    )
    return streams.max_streams - streams._slots._value, in_flight or 0.0  # type: ignore[attr-defined]


@pytest.mark.parametrize("how", ["read to the end", "closed unread", "closed mid-stream"])
def test_a_stream_ends_its_call_once_however_the_server_ends_it(
    app: Gateway, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded: list[Call] = []
    real = proxy.record
    monkeypatch.setattr(proxy, "record", lambda call, now: (recorded.append(call), real(call, now)))
    body, seen = start(app, STREAM)
    assert seen == [200] and held(app) == (1, 1.0)
    if how == "read to the end":
        assert b"".join(body).endswith(b"data: [DONE]\n\n")
        assert held(app) == (0, 0.0)  # ended before close(): the chunks ended
    elif how == "closed mid-stream":
        next(iter(body))
    body.close()
    body.close()  # a second close (or the chunks' own end before it) ends nothing twice
    assert held(app) == (0, 0.0)
    assert len(recorded) == 1
    ended = "complete" if how == "read to the end" else "client_disconnected"
    assert recorded[0].ended == ended and recorded[0].status == 200


def test_the_slots_come_back_even_when_the_record_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    slots = StreamSlots(StreamSettings(max_streams=1))
    released: list[bool] = []
    call = Call("id", "POST", "/v1/chat/completions", "/v1/chat/completions")
    call.concurrency = lambda: released.append(True)
    call.stream_slot = slots.acquire()

    def broken(call: Call, now: float) -> None:
        raise RuntimeError("a metric backend that fails")

    monkeypatch.setattr(proxy, "record", broken)
    with pytest.raises(RuntimeError):
        call.end()
    assert released == [True]
    slots.acquire().release()  # the stream slot came back
    call.end()  # ended already: nothing is given back twice
    assert released == [True]
