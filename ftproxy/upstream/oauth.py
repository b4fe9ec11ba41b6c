"""SAP's XSUAA client-credentials grant, over the transport: the fetch function a `TokenManager` calls."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from ftproxy._json import loads
from ftproxy.upstream.errors import UpstreamError, UpstreamTimeout
from ftproxy.upstream.tokens import FetchResult, TokenError
from ftproxy.upstream.transport import Transport

if TYPE_CHECKING:
    from ftproxy.settings import ServiceKey

_TOKEN_BODY_LIMIT = 256 * 1024


def oauth_fetcher(
    key: ServiceKey, transport: Transport, *, style: str = "basic"
) -> Callable[[], FetchResult]:
    """Credentials sent as HTTP Basic with `?grant_type=client_credentials` (SAP's default), or
    as a form body (`style="form"`); the request is built once, each fetch only sends it."""
    if style == "form":
        url = key.token_url
        form = {
            "grant_type": "client_credentials",
            "client_id": key.client_id,
            "client_secret": key.client_secret,
        }
        body = urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    else:
        separator = "&" if "?" in key.token_url else "?"
        url = f"{key.token_url}{separator}grant_type=client_credentials"
        basic = base64.b64encode(f"{key.client_id}:{key.client_secret}".encode()).decode("ascii")
        body = b""
        headers = {"Authorization": f"Basic {basic}", "Accept": "application/json"}

    def fetch() -> FetchResult:
        try:
            response = transport.request("POST", url, headers=headers, body=body)
            raw = response.read(limit=_TOKEN_BODY_LIMIT)
        except UpstreamTimeout:
            raise TokenError(f"token endpoint {key.token_url} timed out") from None
        except UpstreamError as exc:
            raise TokenError(f"token endpoint {key.token_url} unreachable: {exc}") from None
        if response.status != 200:
            raise TokenError(
                f"token endpoint {key.token_url} answered {response.status} for client id {key.client_id}",
                status=response.status,
            )
        try:
            data = loads(raw)
            value = data["access_token"]
            lifetime = float(data.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise TokenError(
                f"token endpoint {key.token_url} answered without a usable access_token"
            ) from None
        if not isinstance(value, str) or not value:
            raise TokenError(f"token endpoint {key.token_url} answered an empty access_token")
        return value, lifetime

    return fetch
