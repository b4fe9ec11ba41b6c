"""The floor for a WSGI app under Granian (issue 25): read the body, answer a fixed JSON.

The per-core scenario serves this with the same Granian settings as ftproxy (one worker, the same
blocking threads, HTTP/1.1, pinned to the same core), so "ftproxy / trivial app" shows what the
proxy's own work costs above what Granian and the kernel take for any request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

ANSWER = (
    b'{"id":"chatcmpl-trivial","object":"chat.completion","created":0,"model":"trivial",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}'
)
_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(ANSWER)))]


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", _HEADERS)
    return [ANSWER]
