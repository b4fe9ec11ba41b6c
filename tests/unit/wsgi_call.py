"""Calling the gateway's WSGI callable in process, as a server would (PEP 3333 environ)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ftproxy.config import load_config
from ftproxy.demo import DEMO_KEY, write_demo_config
from ftproxy.observe.logs import ACCESS_LOG
from ftproxy.simulator.testing import running_simulator
from ftproxy.web.app import Gateway, create_app


def wsgi_text(text: str) -> str:
    """What a WSGI server puts in the environ for these bytes on the wire (PEP 3333: latin-1)."""
    return text.encode("utf-8", "surrogatepass").decode("latin-1")


def environ(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """The environ a server builds for this request (a JSON body; `headers` as sent)."""
    env: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "PATH_INFO": wsgi_text(path),
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "3001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/json",
    }
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        env[key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key] = wsgi_text(value)
    return env


def post(app: Any, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    """POSTs `body` (JSON) to `path` with the demo key; the status, headers (lower-case) and the
    whole answer, read to its end."""
    request = environ("POST", path, body, {"Authorization": f"Bearer {DEMO_KEY}"})
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: object = None) -> None:
        seen["status"], seen["headers"] = int(status.split()[0]), {k.lower(): v for k, v in headers}

    chunks = app(request, start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return seen["status"], seen["headers"], data


@contextmanager
def gateway_on_simulator(folder: Path, **simulator: object) -> Iterator[Gateway]:
    """The demo configuration's gateway (one upstream attempt) against a fresh simulator, with
    the access log off so that no JSON lines reach pytest's output."""
    saved = ACCESS_LOG.enabled
    ACCESS_LOG.enabled = False
    try:
        with running_simulator(**simulator) as base_url, _demo_gateway(folder, base_url) as gateway:
            yield gateway
    finally:
        ACCESS_LOG.enabled = saved


# The discard port: nothing listens, so every upstream connection is refused at once.
DEAD_UPSTREAM = "http://127.0.0.1:9"


@contextmanager
def gateway_on_dead_upstream(folder: Path, **config: object) -> Iterator[Gateway]:
    """The demo configuration's gateway with no upstream behind it (one attempt, refused at once,
    no backoff), for tests of what is answered before or without SAP AI Core; `config`: extra
    top-level keys."""
    with _demo_gateway(folder, DEAD_UPSTREAM, **config) as gateway:
        yield gateway


@contextmanager
def _demo_gateway(folder: Path, upstream: str, **config: object) -> Iterator[Gateway]:
    """The demo configuration's gateway on `upstream`, one attempt per request."""
    path = write_demo_config(folder, upstream, host="127.0.0.1", port=3001)
    data = {**json.loads(path.read_text()), "retries": {"max_attempts": 1}, **config}
    path.write_text(json.dumps(data))
    gateway = create_app(load_config(path))
    try:
        yield gateway
    finally:
        gateway.close()
