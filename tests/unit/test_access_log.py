"""The request log writer: one line per request, in order, whatever the fields hold."""

from __future__ import annotations

import io
import json
import logging

import pytest

from ftproxy.observe.logs import AccessLog


class Stream(io.StringIO):
    """A text stream with a binary buffer, like sys.stderr."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()


def test_lines_are_written_in_order_and_flushed_at_exit() -> None:
    stream = Stream()
    log = AccessLog(lambda: stream)
    log.start()
    for i in range(1000):
        log.write({"event": "request", "n": i})
    log.flush()
    lines = [json.loads(x) for x in stream.buffer.getvalue().decode().splitlines()]
    assert [x["n"] for x in lines] == list(range(1000))


def test_a_value_json_cannot_encode_is_escaped_not_fatal() -> None:
    stream = Stream()
    log = AccessLog(lambda: stream)
    log.start()
    log.write({"model": "x\ud800"})  # a lone surrogate (orjson refuses it)
    log.write({"model": "after"})
    log.flush()
    lines = [json.loads(x) for x in stream.buffer.getvalue().decode().splitlines()]
    assert [x["model"] for x in lines] == ["x\ud800", "after"]


def test_nothing_is_queued_before_start() -> None:
    stream = Stream()
    log = AccessLog(lambda: stream)
    log.write({"n": 1})
    log.start()
    log.write({"n": 2})
    log.flush()
    assert [json.loads(x)["n"] for x in stream.buffer.getvalue().decode().splitlines()] == [2]


def test_a_field_no_encoder_takes_costs_its_line_not_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    stream = Stream()
    log = AccessLog(lambda: stream)
    log.start()
    ours = logging.getLogger("ftproxy")  # a served process's logger does not propagate to root
    ours.addHandler(caplog.handler)
    try:
        log.write({"n": 1, "bad": object()})  # a bug of ours: the request that logs it goes on
    finally:
        ours.removeHandler(caplog.handler)
    log.write({"n": 2})
    log.flush()
    assert [json.loads(x)["n"] for x in stream.buffer.getvalue().decode().splitlines()] == [2]
    assert "could not be encoded" in caplog.text
