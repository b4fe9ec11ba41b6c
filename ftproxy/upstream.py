"""Calls to SAP AI Core: one `UpstreamClient` per subaccount, kept in the client pool.

Each client owns an httpx connection pool, the subaccount's token manager and the headers every
inference call carries (`AI-Resource-Group`, `AI-Tenant-Id`). `open()` returns the response
with its body still unread so that streams flow through without being gathered in memory.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from ftproxy import __version__, metrics
from ftproxy.errors import ApiError, upstream_message
from ftproxy.pool import ClientPool
from ftproxy.tokens import TokenError, TokenManager, oauth_fetcher

if TYPE_CHECKING:
    from ftproxy.config import Config, Subaccount
    from ftproxy.exchange import Exchange

_ERROR_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class UpstreamSettings:
    # LLM answers can take minutes between bytes while thinking; connecting should not.
    connect_timeout: float = 10.0
    read_timeout: float = 600.0
    max_connections: int = 1024  # per subaccount
    max_keepalive: int = 256
    token_style: str = "basic"  # or "form": how client credentials reach the token endpoint
    verify: bool | str = True  # TLS verification, or the path of a CA bundle

    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(connect=self.connect_timeout, read=self.read_timeout, write=60.0, pool=30.0)

    def limits(self) -> httpx.Limits:
        return httpx.Limits(
            max_connections=self.max_connections,
            max_keepalive_connections=self.max_keepalive,
            keepalive_expiry=60.0,
        )


class UpstreamClient:
    def __init__(self, subaccount: Subaccount, settings: UpstreamSettings) -> None:
        self.subaccount = subaccount
        self.http = httpx.Client(
            timeout=settings.timeout(),
            limits=settings.limits(),
            verify=settings.verify,
            follow_redirects=False,
        )
        self.tokens = TokenManager(
            subaccount.name, oauth_fetcher(subaccount.service_key, self.http, style=settings.token_style)
        )
        headers = {
            "AI-Resource-Group": subaccount.resource_group,
            "Content-Type": "application/json",
            "User-Agent": f"ftproxy/{__version__}",
        }
        if subaccount.service_key.tenant_id:
            headers["AI-Tenant-Id"] = subaccount.service_key.tenant_id
        self._headers = headers

    def open(
        self, url: str, body: bytes, headers: Mapping[str, str] | None, exchange: Exchange
    ) -> httpx.Response:
        """Sends a POST and returns the response unread; the caller must close it.

        A 401 means our token was revoked or expired early: fetch a new one and try once more.
        Raises ApiError for failures that never reached an HTTP answer. The time until the
        answer's headers arrived is added to the exchange's upstream time.
        """
        for attempt in (1, 2):
            token = self._token()
            request = self.http.build_request(
                "POST",
                url,
                content=body,
                headers={**self._headers, **(headers or {}), "Authorization": f"Bearer {token}"},
            )
            started = time.perf_counter()
            try:
                response = self.http.send(request, stream=True)
            except httpx.TimeoutException:
                raise ApiError(504, "SAP AI Core did not answer in time") from None
            except httpx.HTTPError as exc:
                raise ApiError(502, f"SAP AI Core could not be reached ({type(exc).__name__})") from None
            finally:
                exchange.upstream_s += time.perf_counter() - started
            exchange.upstream_status = response.status_code
            metrics.UPSTREAM_RESPONSES.labels(
                exchange.family, metrics.status_label(response.status_code)
            ).inc()
            if response.status_code == 401 and attempt == 1:
                response.close()
                self.tokens.invalidate(token)
                continue
            return response
        raise AssertionError("unreachable")

    def _token(self) -> str:
        try:
            return self.tokens.get()
        except TokenError as exc:
            raise ApiError(
                502, f"cannot authenticate to SAP AI Core (subaccount {self.subaccount.name}): {exc}"
            ) from None

    def close(self) -> None:
        self.http.close()


def error_from_response(response: httpx.Response, subaccount: str) -> ApiError:
    """Reads (a bounded part of) an upstream error and turns it into the client's error.

    Statuses pass through unchanged, with one exception: a 401/403 that survived re-authentication
    concerns ftproxy's SAP credentials, not the client's key, so it becomes a 502 that says so.
    """
    body = b""
    try:
        for chunk in response.iter_raw():
            body += chunk
            if len(body) >= _ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass
    finally:
        response.close()
    status = response.status_code
    message = upstream_message(body) or f"SAP AI Core answered HTTP {status}"
    headers = {}
    if status in (401, 403):
        return ApiError(502, f"SAP AI Core rejected the credentials of subaccount {subaccount}: {message}")
    retry_after = response.headers.get("retry-after")
    if retry_after and status in (429, 503):
        headers["Retry-After"] = retry_after
    return ApiError(status, message, code=str(status), headers=headers)


class Upstreams:
    """The pool of per-subaccount clients, keyed by subaccount name."""

    def __init__(self, config: Config, settings: UpstreamSettings | None = None) -> None:
        settings = settings or config.upstream
        by_name = {sub.name: sub for sub in config.subaccounts}
        self._pool: ClientPool[UpstreamClient] = ClientPool(
            lambda name: UpstreamClient(by_name[name], settings), close=UpstreamClient.close
        )

    def get(self, subaccount: str) -> UpstreamClient:
        return self._pool.get(subaccount)

    def close(self) -> None:
        self._pool.close()
