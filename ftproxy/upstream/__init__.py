"""Everything ftproxy says to SAP AI Core goes through this package, and nothing else speaks HTTP upstream.

transport.py  HTTP/1.1 on stdlib sockets: connection pools, timeouts, TLS, proxies
response.py   an answer whose body is read as it arrives (sized, chunked, until close); interrupt()
http11.py     the message format: request head, response head, chunk sizes (pure functions)
errors.py     the four failures the transport can report (ConnectFailed, UpstreamTimeout, ...)
oauth.py      the XSUAA client-credentials fetch behind each subaccount's TokenManager
client.py     one subaccount: token, AI Core headers, one re-auth on 401; reading answers back;
              FAILURES: what the client is told when a call fails (client_error)
failover.py   `Upstreams`: failover, retries and circuit breakers across deployments
"""

from ftproxy.upstream.client import Stage, UpstreamClient, client_error, error_from_response, read_json
from ftproxy.upstream.errors import (
    ConnectFailed,
    ConnectionLost,
    ProtocolError,
    UpstreamError,
    UpstreamTimeout,
)
from ftproxy.upstream.failover import Upstreams
from ftproxy.upstream.response import WaitUntil
from ftproxy.upstream.transport import Transport, UpstreamResponse

__all__ = [
    "ConnectFailed",
    "ConnectionLost",
    "ProtocolError",
    "Stage",
    "Transport",
    "UpstreamClient",
    "UpstreamError",
    "UpstreamResponse",
    "UpstreamTimeout",
    "Upstreams",
    "WaitUntil",
    "client_error",
    "error_from_response",
    "read_json",
]
