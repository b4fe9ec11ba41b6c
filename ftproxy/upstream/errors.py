"""What can go wrong talking to SAP AI Core before an HTTP answer exists, in our own words.

The transport maps every socket, TLS and framing failure onto these four types once, at the
seam; nothing above `ftproxy.upstream` sees an `OSError`, an `ssl.SSLError` or a parser error.
Messages are safe to show to a client: no URL credentials, no tokens.
"""

from __future__ import annotations


class UpstreamError(Exception):
    """Base: the call did not produce a complete HTTP answer."""


class ConnectFailed(UpstreamError):
    """No connection: name resolution, refused, TLS handshake or proxy tunnel failed."""


class UpstreamTimeout(UpstreamError):
    """Connecting or waiting for bytes took longer than the configured timeout."""


class ConnectionLost(UpstreamError):
    """The connection broke, was closed early, or was interrupted from another thread."""


class ProtocolError(UpstreamError):
    """The upstream's bytes are not valid HTTP/1.1 (status line, headers or chunked framing)."""
