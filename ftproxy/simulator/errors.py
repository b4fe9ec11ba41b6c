"""Error replies in the shape each layer of the real service uses.

AI Core's own API (auth, resource group, unknown deployment) answers
`{"error":{"code","message","requestId","target"}}`; behind it Azure OpenAI, Bedrock and Vertex
each keep their own error bodies, which the proxy must tell apart and pass through. The models
SAP hosts itself (Mistral, open source, IBM, DeepSeek) sit behind an OpenAI-compatible server
that answers vLLM's `{"object":"error","message","type","param","code"}`; Perplexity answers
`{"error":{"message","type","code"}}`.
"""

from __future__ import annotations

import secrets

from ftproxy._json import JSONDecodeError, loads
from ftproxy.simulator.catalog import Family
from ftproxy.simulator.http import Headers, Reply, json_reply

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    424: "Failed Dependency",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_BEDROCK_TYPE = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}


def reason(status: int) -> str:
    return _REASONS.get(status, "Error")


def aicore_error(status: int, message: str, target: str = "", code: str | None = None) -> Reply:
    body = {
        "error": {
            "code": code or str(status),
            "message": message,
            "requestId": secrets.token_hex(16),
            "target": target,
        }
    }
    return json_reply(status, body)


def azure_error(
    status: int, message: str, *, type_: str | None = None, param: str | None = None, code: str | None = None
) -> Reply:
    if type_ is None:
        # Azure's own gateway errors (404, 429, 5xx) carry only code and message.
        return json_reply(status, {"error": {"code": code or str(status), "message": message}})
    return json_reply(status, {"error": {"message": message, "type": type_, "param": param, "code": code}})


def bedrock_error(status: int, message: str, error_type: str | None = None) -> Reply:
    kind = error_type or _BEDROCK_TYPE.get(status, "InternalServerException")
    return json_reply(
        status,
        {"message": message},
        [("x-amzn-errortype", f"{kind}:http://internal.amazon.com/coral/com.amazon.bedrock/")],
    )


def openai_compat_error(status: int, message: str, param: str | None = None) -> Reply:
    """vLLM's OpenAI-compatible server (SAP-hosted models): a flat error object."""
    kind = "NotFoundError" if status == 404 else "BadRequestError" if status < 500 else "InternalServerError"
    return json_reply(
        status, {"object": "error", "message": message, "type": kind, "param": param, "code": status}
    )


def perplexity_error(status: int, message: str) -> Reply:
    kind = "invalid_parameter" if status == 400 else "api_error"
    return json_reply(status, {"error": {"message": message, "type": kind, "code": status}})


_VLLM_FAMILIES = frozenset({"mistral", "llama", "ibm", "deepseek"})


def gemini_error(status: int, message: str) -> Reply:
    return json_reply(
        status,
        {"error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}},
    )


_DEFAULT_MESSAGES = {
    "gpt": {
        429: "Requests to the ChatCompletions_Create Operation under Azure OpenAI API version "
        "2024-12-01-preview have exceeded token rate limit of your current AIServices S0 pricing tier. "
        "Please retry after {retry} seconds.",
        400: "Invalid request (simulated).",
        500: "The server had an error while processing your request. Sorry about that!",
        503: "The service is temporarily unable to process your request. Please try again later.",
    },
    "claude": {
        429: "Too many requests, please wait before trying again.",
        400: "Malformed input request (simulated), please reformat your input and try again.",
        500: "The system encountered an unexpected error during processing. Try your request again.",
        503: "Bedrock is unable to process your request.",
    },
    "gemini": {
        429: "Resource exhausted. Please try again later.",
        400: "Request contains an invalid argument.",
        500: "Internal error encountered.",
        503: "The service is currently unavailable.",
    },
}


def family_error(family: Family | None, status: int, message: str) -> Reply:
    """An error with `message` in the shape the deployment's upstream uses."""
    if family == "gpt":
        return azure_error(status, message)
    if family in ("claude", "nova"):
        return bedrock_error(status, message)
    if family == "gemini":
        return gemini_error(status, message)
    if family in _VLLM_FAMILIES:
        return openai_compat_error(status, message)
    if family == "perplexity":
        return perplexity_error(status, message)
    return aicore_error(status, message)


def injected(family: Family | None, status: int, retry_after: str | None, body: str | None) -> Reply:
    """The reply for a fault from a directive or /_sim/faults, in `family`'s error shape."""
    extra: Headers = [("retry-after", retry_after)] if retry_after is not None else []
    if body is not None:
        try:
            loads(body)
            ctype = "application/json"
        except (JSONDecodeError, ValueError):
            ctype = "text/plain"
        return Reply(status, [("content-type", ctype), *extra], body.encode())
    if status == 401:
        reply = aicore_error(401, "Unauthorized: the access token is invalid or has expired (simulated).")
    else:
        messages = _DEFAULT_MESSAGES.get("claude" if family == "nova" else family or "", {})
        template = messages.get(status, f"{reason(status)} (simulated).")
        reply = family_error(family, status, template.format(retry=retry_after or "1"))
    reply.headers = reply.headers + extra
    return reply


__all__ = [
    "aicore_error",
    "azure_error",
    "bedrock_error",
    "family_error",
    "gemini_error",
    "injected",
    "openai_compat_error",
    "perplexity_error",
    "reason",
]
