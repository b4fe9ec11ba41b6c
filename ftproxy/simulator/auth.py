"""XSUAA-style OAuth token endpoint and the checks every AI Core API call passes first."""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
from urllib.parse import parse_qsl, unquote_plus

from ftproxy.simulator.errors import aicore_error
from ftproxy.simulator.http import Reply, Request, json_reply
from ftproxy.simulator.settings import SimulatorSettings
from ftproxy.simulator.state import State
from ftproxy.simulator.streaming import pause

_SCOPE = "uaa.resource aicore!b540.aicore.read aicore!b540.aicore.write"


def _oauth_error(status: int, error: str, description: str) -> Reply:
    return json_reply(status, {"error": error, "error_description": description})


def _basic(header: str | None) -> tuple[str | None, str | None]:
    if not header or header[:6].lower() != "basic ":
        return None, None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None, None
    return user, password


def _same(given: str | None, expected: str) -> bool:
    if given is None:
        return False
    # XSUAA ids and secrets hold '!', '|', '$'; some clients URL-encode them in Basic credentials.
    return hmac.compare_digest(given.encode(), expected.encode()) or hmac.compare_digest(
        unquote_plus(given).encode(), expected.encode()
    )


async def token(req: Request, settings: SimulatorSettings, state: State) -> Reply:
    state.count_token_request()
    fault = state.take_token_fault()
    if fault is not None:
        await pause(fault.latency_ms)
        if fault.status is not None:
            headers = [("retry-after", fault.retry_after)] if fault.retry_after else []
            if fault.body is not None:
                return Reply(
                    fault.status, [("content-type", "application/json"), *headers], fault.body.encode()
                )
            reply = _oauth_error(fault.status, "server_error", "Simulated token endpoint failure")
            reply.headers = reply.headers + headers
            return reply
    if req.method != "POST":
        return _oauth_error(405, "method_not_allowed", "Request method 'GET' is not supported")
    form = dict(parse_qsl(req.body.decode(errors="replace"))) if req.body else {}
    grant_type = form.get("grant_type") or req.query.get("grant_type")
    client_id, secret = _basic(req.header("authorization"))
    if client_id is None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
    if grant_type != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", f"Unsupported grant type: {grant_type}")
    if not (_same(client_id, settings.client_id) and _same(secret, settings.client_secret)):
        return _oauth_error(401, "unauthorized", "Bad credentials")
    access_token = state.issue_token(settings.token_ttl)
    return json_reply(
        200,
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": settings.token_ttl,
            "scope": _SCOPE,
            "jti": secrets.token_hex(16),
        },
    )


def check_bearer(req: Request, state: State) -> Reply | None:
    """None when the request carries a valid, unexpired token issued by this simulator."""
    header = req.header("authorization")
    if not header or header[:7].lower() != "bearer ":
        return aicore_error(401, "Unauthorized: no bearer token in the Authorization header", req.path)
    if not state.token_valid(header[7:].strip()):
        return aicore_error(401, "Unauthorized: the access token is invalid or has expired", req.path)
    return None


def check_resource_group(req: Request, settings: SimulatorSettings, deployment: str | None) -> Reply | None:
    group = req.header("ai-resource-group")
    if group is None:
        return aicore_error(400, "Missing header parameter 'AI-Resource-Group'", req.path, code="01000000")
    if group not in settings.resource_groups:
        what = f"Deployment {deployment}" if deployment else "Resource group"
        return aicore_error(404, f"{what} not found in resource group '{group}'", req.path, code="01010001")
    return None


__all__ = ["check_bearer", "check_resource_group", "token"]
