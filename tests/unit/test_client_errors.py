"""Upstream failures become the client's errors in one table (`upstream.client.FAILURES`, issue 23).

Every UpstreamError subclass (walked recursively, so one added later is seen), the wire's
UpstreamProtocolError and the token manager's TokenError need their own row; the words of each
row at each stage are pinned here, as the clients and the fault matrix see them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from ftproxy.upstream import errors as upstream_errors
from ftproxy.upstream.client import FAILURES, Stage, client_error
from ftproxy.upstream.errors import (
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    UpstreamError,
    UpstreamTimeout,
)
from ftproxy.upstream.tokens import TokenError
from ftproxy.wire.apis import UpstreamProtocolError


def subclasses(root: type[Exception]) -> Iterator[type[Exception]]:
    yield root
    for sub in root.__subclasses__():
        yield from subclasses(sub)


def without_a_row() -> list[str]:
    raised = [*subclasses(UpstreamError), *subclasses(UpstreamProtocolError), *subclasses(TokenError)]
    return sorted({kind.__qualname__ for kind in raised if kind not in FAILURES})


def test_every_upstream_failure_has_its_own_row() -> None:
    assert without_a_row() == []
    assert {ConnectFailed, UpstreamTimeout, ConnectionLost, ProtocolError} <= set(FAILURES)


def test_a_new_subclass_without_a_row_is_found() -> None:
    class Novel(upstream_errors.ConnectionLost):
        pass

    assert without_a_row() == ["test_a_new_subclass_without_a_row_is_found.<locals>.Novel"]
    # the running proxy still answers it, with its base's words
    assert client_error(Novel("x"), Stage.CALL).message == "SAP AI Core could not be reached (x)"
    del Novel
    gc.collect()  # __subclasses__ holds weak references: gone for the other tests
    assert without_a_row() == []


def test_every_row_speaks_for_every_stage() -> None:
    for kind, row in FAILURES.items():
        assert len(row) == len(Stage), kind
        for told in row:
            assert told.status in (502, 504), (kind, told)


@pytest.mark.parametrize(
    ("failure", "stage", "status", "message", "code"),
    [
        (UpstreamTimeout("t"), Stage.CALL, 504, "SAP AI Core did not answer in time", None),
        (UpstreamTimeout("t"), Stage.ANSWER, 504, "SAP AI Core did not finish its answer in time", None),
        (UpstreamTimeout("t"), Stage.STREAM, 504,
         "SAP AI Core stopped sending in the middle of the answer", None),
        (ConnectFailed("refused"), Stage.CALL, 502, "SAP AI Core could not be reached (refused)", None),
        (ConnectionLost("reset"), Stage.ANSWER, 502, "SAP AI Core's answer was cut off (reset)", None),
        (ProtocolError("bad chunk"), Stage.STREAM, 502,
         "the stream from SAP AI Core broke off (bad chunk)", None),
        (UpstreamProtocolError("no choices"), Stage.ANSWER, 502,
         "SAP AI Core sent an answer that cannot be read: no choices", None),
        (UpstreamProtocolError("garbage"), Stage.STREAM, 502,
         "SAP AI Core sent a malformed stream: garbage", None),
        (TokenError("HTTP 503"), Stage.CALL, 502,
         "cannot authenticate to SAP AI Core (subaccount demo): HTTP 503", "upstream_auth_failed"),
    ],
)  # fmt: skip
def test_what_the_client_is_told(
    failure: Exception, stage: Stage, status: int, message: str, code: str | None
) -> None:
    error = client_error(failure, stage, "demo")
    assert (error.status, error.message, error.code) == (status, message, code)
