"""One subaccount's calls: its OAuth token, the headers SAP AI Core wants, one re-auth on a 401.

Also the two ways an answer is read back: `read_json` for a whole JSON answer and
`error_from_response` for an error answer, both bounded, both closing the response; and what
the client is told when a call fails without an error answer (`FAILURES`, `client_error`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Protocol

from ftproxy import __version__
from ftproxy._json import loads
from ftproxy.errors import ApiError, upstream_filtered, upstream_message
from ftproxy.observe import metrics
from ftproxy.settings import UpstreamSettings
from ftproxy.upstream.errors import (
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    UpstreamError,
    UpstreamTimeout,
)
from ftproxy.upstream.oauth import oauth_fetcher
from ftproxy.upstream.tokens import TokenError, TokenManager
from ftproxy.upstream.transport import Transport, UpstreamResponse
from ftproxy.wire.apis import UpstreamProtocolError

if TYPE_CHECKING:
    from ftproxy.settings import Subaccount

_ERROR_BODY_LIMIT = 64 * 1024


class Meter(Protocol):
    """What a call to SAP AI Core reads and adds to: the request's own value (`proxy.Call`).

    The failover loop reads its start (the deadline) and model; every attempt adds the time
    spent waiting on SAP AI Core and on a token, and the status it answered."""

    started: float  # time.perf_counter() when the request arrived
    model: str | None
    family: str  # the metrics label
    upstream_s: float
    auth_s: float
    upstream_status: int | None


class Stage(IntEnum):
    """How far a call to SAP AI Core got when it failed: the client's words depend on it."""

    CALL = 0  # before the answer's headers (token, connect, send, wait for the head)
    ANSWER = 1  # reading or reading back a whole answer
    STREAM = 2  # inside a stream the client is already reading


class Told(NamedTuple):
    """What the client is told: a status, a message ({exc}: the failure's own words,
    {subaccount}: the subaccount called) and an error code."""

    status: int
    message: str
    code: str | None = None


_UNREACHABLE = (
    Told(502, "SAP AI Core could not be reached ({exc})"),
    Told(502, "SAP AI Core's answer was cut off ({exc})"),
    Told(502, "the stream from SAP AI Core broke off ({exc})"),
)
_NO_TOKEN = Told(
    502, "cannot authenticate to SAP AI Core (subaccount {subaccount}): {exc}", "upstream_auth_failed"
)
# Every failure the upstream layer reports without an HTTP error answer → what the client is
# told, one column per Stage. Looked up along the failure's MRO (a new UpstreamError subclass
# gets its base's row); the unit test insists that every subclass has its own row.
FAILURES: Final[Mapping[type[Exception], tuple[Told, Told, Told]]] = {
    UpstreamTimeout: (
        Told(504, "SAP AI Core did not answer in time"),
        Told(504, "SAP AI Core did not finish its answer in time"),
        Told(504, "SAP AI Core stopped sending in the middle of the answer"),
    ),
    ConnectFailed: _UNREACHABLE,
    ConnectionLost: _UNREACHABLE,
    ProtocolError: _UNREACHABLE,
    UpstreamError: _UNREACHABLE,
    # valid framing, but not what the API promises (no choices, no candidates, no output)
    UpstreamProtocolError: (
        Told(502, "SAP AI Core sent an answer that cannot be read: {exc}"),
        Told(502, "SAP AI Core sent an answer that cannot be read: {exc}"),
        Told(502, "SAP AI Core sent a malformed stream: {exc}"),
    ),
    # the token endpoint, not the deployment: the failover loop does not count it against it
    TokenError: (_NO_TOKEN, _NO_TOKEN, _NO_TOKEN),
}


def client_error(exc: Exception, stage: Stage, subaccount: str = "") -> ApiError:
    """The client's error for a failure of the upstream call (`FAILURES`); a failure the table
    does not know is a 502 in the same words as an unknown UpstreamError."""
    row = next((FAILURES[k] for k in type(exc).__mro__ if k in FAILURES), _UNREACHABLE)
    told = row[stage]
    return ApiError(told.status, told.message.format(exc=exc, subaccount=subaccount), code=told.code)


class UpstreamClient:
    def __init__(self, subaccount: Subaccount, transport: Transport, settings: UpstreamSettings) -> None:
        self.subaccount = subaccount
        self._transport = transport
        self.tokens = TokenManager(
            subaccount.name, oauth_fetcher(subaccount.service_key, transport, style=settings.token_style)
        )
        headers = {
            "AI-Resource-Group": subaccount.resource_group,
            "Content-Type": "application/json",
            "User-Agent": f"ftproxy/{__version__}",
        }
        if subaccount.service_key.tenant_id:
            headers["AI-Tenant-Id"] = subaccount.service_key.tenant_id
        self._headers = headers

    def send(
        self, url: str, body: bytes, headers: Mapping[str, str] | None, meter: Meter
    ) -> UpstreamResponse:
        """Sends a POST and returns the answer with its body unread; the caller must close it.

        A 401 means our token was revoked or expired early: fetch a new one and try once more.
        Raises ApiError for failures that never reached an HTTP answer. Time spent getting a
        token counts as `meter.auth_s`, time until the answer's headers as `upstream_s`.
        """
        for attempt in (1, 2):
            token = self._token(meter)
            request_headers = {**self._headers, **headers} if headers else dict(self._headers)
            request_headers["Authorization"] = f"Bearer {token}"
            started = time.perf_counter()
            try:
                response = self._transport.request("POST", url, headers=request_headers, body=body)
            except UpstreamError as exc:
                raise client_error(exc, Stage.CALL) from None
            finally:
                meter.upstream_s += time.perf_counter() - started
            meter.upstream_status = response.status
            metrics.upstream_response(meter.family, response.status)
            if response.status == 401 and attempt == 1:
                response.close()
                self.tokens.invalidate(token)
                continue
            return response
        raise AssertionError("unreachable")

    def _token(self, meter: Meter) -> str:
        started = time.perf_counter()
        try:
            return self.tokens.get()
        except TokenError as exc:
            raise client_error(exc, Stage.CALL, self.subaccount.name) from None
        finally:
            meter.auth_s += time.perf_counter() - started


def read_json(response: UpstreamResponse, meter: Meter) -> dict[str, Any]:
    """The whole answer as a JSON object; the response is closed (its connection reused)."""
    started = time.perf_counter()
    try:
        raw = response.read()
    except UpstreamError as exc:
        raise client_error(exc, Stage.ANSWER) from None
    finally:
        meter.upstream_s += time.perf_counter() - started
    try:
        data = loads(raw)
    except ValueError:
        raise ApiError(502, "SAP AI Core answered with a body that is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(502, "SAP AI Core answered with JSON that is not an object")
    return data


def error_from_response(response: UpstreamResponse, subaccount: str) -> ApiError:
    """Reads (a bounded part of) an upstream error and turns it into the client's error.

    Statuses pass through unchanged, with one exception: a 401/403 that survived re-authentication
    concerns ftproxy's SAP credentials, not the client's key, so it becomes a 502 that says so.
    """
    try:
        body = response.read(limit=_ERROR_BODY_LIMIT)
    except UpstreamError:
        body = b""
    status = response.status
    message = upstream_message(body) or f"SAP AI Core answered HTTP {status}"
    if status in (401, 403):
        return ApiError(
            502,
            f"SAP AI Core rejected the credentials of subaccount {subaccount}: {message}",
            code="upstream_auth_failed",
        )
    headers = {}
    retry_after = response.headers.get("retry-after")
    if retry_after and status in (429, 503):
        headers["Retry-After"] = retry_after
    code = "content_filter" if status == 400 and upstream_filtered(body) else str(status)
    return ApiError(status, message, code=code, headers=headers)
