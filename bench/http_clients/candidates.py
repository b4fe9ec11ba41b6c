"""The HTTP clients under test. Each factory returns `call() -> (status, body)`, safe to call from
many threads."""

from __future__ import annotations

import platform
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass

from bench.http_clients import REPO
from bench.http_clients.exchange import HEADERS, REQUEST_BODY

Call = Callable[[], tuple[int, bytes]]


@dataclass(frozen=True)
class Candidate:
    name: str
    setup: str  # how it is used, for the report
    dist: str | None  # the package to install; None: stdlib or this checkout
    module: str  # what must import for the candidate to run


CANDIDATES = (
    Candidate("httpx", "one shared Client, pool sized to the threads", "httpx", "httpx"),
    Candidate("urllib3", "one PoolManager, maxsize = threads", "urllib3", "urllib3"),
    Candidate("http.client", "one HTTPConnection per thread", None, "http.client"),
    Candidate("pycurl", "one Curl handle per thread", "pycurl", "pycurl"),
    Candidate("pyreqwest", "one SyncClient (defaults)", "pyreqwest", "pyreqwest"),
    Candidate("httpr", "one Client", "httpr", "httpr"),
    Candidate(
        "ftproxy", "one shared ftproxy.upstream.transport.Transport", None, "ftproxy.upstream.transport"
    ),
)
BY_NAME = {c.name: c for c in CANDIDATES}


def make_client(name: str, url: str, threads: int) -> Call:  # one branch per candidate
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, https = parts.hostname or "", parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    if name == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
        client = httpx.Client(limits=limits, timeout=30)

        def call_httpx() -> tuple[int, bytes]:
            r = client.post(url, content=REQUEST_BODY, headers=HEADERS)
            return r.status_code, r.content

        return call_httpx
    if name == "urllib3":
        import urllib3

        manager = urllib3.PoolManager(maxsize=threads, block=True, retries=False, timeout=30)

        def call_urllib3() -> tuple[int, bytes]:
            r = manager.request("POST", url, body=REQUEST_BODY, headers=HEADERS)
            return r.status, r.data

        return call_urllib3
    if name == "http.client":
        import http.client

        local = threading.local()
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection_class = http.client.HTTPSConnection if https else http.client.HTTPConnection

        def call_http_client() -> tuple[int, bytes]:
            conn = getattr(local, "conn", None)
            if conn is None:
                conn = local.conn = connection_class(host, port, timeout=30)
            try:
                conn.request("POST", path, body=REQUEST_BODY, headers=HEADERS)
                r = conn.getresponse()
                return r.status, r.read()
            except Exception:
                conn.close()
                local.conn = None
                raise

        return call_http_client
    if name == "pycurl":
        import io

        import pycurl

        local = threading.local()
        # "Expect:" stops curl from waiting for a 100 Continue on larger bodies.
        curl_headers = [f"{k}: {v}" for k, v in HEADERS.items()] + ["Expect:"]

        def call_pycurl() -> tuple[int, bytes]:
            handle = getattr(local, "handle", None)
            if handle is None:
                handle = local.handle = pycurl.Curl()
                handle.setopt(pycurl.URL, url)
                handle.setopt(pycurl.NOSIGNAL, 1)  # required with threads
                handle.setopt(pycurl.TIMEOUT, 30)
                handle.setopt(pycurl.HTTPHEADER, curl_headers)
                handle.setopt(pycurl.POSTFIELDS, REQUEST_BODY)
            sink = io.BytesIO()
            handle.setopt(pycurl.WRITEDATA, sink)
            handle.perform()
            return handle.getinfo(pycurl.RESPONSE_CODE), sink.getvalue()

        return call_pycurl
    if name == "pyreqwest":
        from pyreqwest.client import SyncClientBuilder

        client = SyncClientBuilder().build()

        def call_pyreqwest() -> tuple[int, bytes]:
            r = client.post(url).headers(HEADERS).body_bytes(REQUEST_BODY).build().send()
            return r.status, bytes(r.bytes())

        return call_pyreqwest
    if name == "httpr":
        import httpr

        client = httpr.Client(timeout=30, cookie_store=False, referer=False)

        def call_httpr() -> tuple[int, bytes]:
            r = client.post(url, content=REQUEST_BODY, headers=HEADERS)
            return r.status_code, r.content

        return call_httpr
    if name == "ftproxy":
        from ftproxy.upstream.transport import Transport

        transport = Transport()

        def call_ftproxy() -> tuple[int, bytes]:
            r = transport.request("POST", url, headers=HEADERS, body=REQUEST_BODY)
            try:
                return r.status, r.read()
            finally:
                r.close()

        return call_ftproxy
    raise SystemExit(f"unknown candidate {name!r}; known: {', '.join(BY_NAME)}")


def candidate_version(name: str) -> str:
    import importlib.metadata as metadata

    if name == "http.client":
        return platform.python_version()
    if name == "ftproxy":
        try:
            rev = subprocess.run(
                ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
            ).stdout.strip()
            # The transport measured is the working tree's, which may be ahead of HEAD.
            dirty = subprocess.run(
                ["git", "-C", str(REPO), "status", "--porcelain", "--", "ftproxy/upstream"],
                capture_output=True,
                text=True,
            ).stdout.strip()
            rev += "+dirty" if rev and dirty else ""
        except OSError:
            rev = ""
        return f"{metadata.version('ftproxy')}" + (f"@{rev}" if rev else "")
    return metadata.version(BY_NAME[name].dist or name)
