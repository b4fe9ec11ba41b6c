"""The XSUAA client-credentials fetch (ftproxy/upstream/oauth.py) over ftproxy's own transport.

Against the real SAP AI Core simulator for the grant itself, and against a scripted loopback
server (tests/unit/raw_http.py) for token endpoints that answer something unusable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from raw_http import RawServer, keep_answering, response

from ftproxy.settings import ServiceKey
from ftproxy.simulator.testing import running_simulator
from ftproxy.upstream.oauth import oauth_fetcher
from ftproxy.upstream.tokens import TokenError
from ftproxy.upstream.transport import Transport

CLIENT_ID = "sb-ftproxy!b540|aicore!b540"  # XSUAA ids carry '!' and '|'
SECRET = "s3cr3t-$with=special&chars+/"
WRONG_SECRET = "wrong-Secret-0f-distinct-text"


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    with running_simulator(client_id=CLIENT_ID, client_secret=SECRET, token_ttl=1234) as base_url:
        yield base_url


@pytest.fixture
def transport() -> Iterator[Transport]:
    transport = Transport(proxies={}, verify=False, connect_timeout=5.0, read_timeout=5.0)
    yield transport
    transport.close()


def key(base_url: str, secret: str = SECRET) -> ServiceKey:
    return ServiceKey(client_id=CLIENT_ID, client_secret=secret, auth_url=base_url + "/", api_url=base_url)


@pytest.mark.parametrize("style", ["basic", "form"])
def test_a_token_from_the_simulator(simulator: str, transport: Transport, style: str) -> None:
    fetch = oauth_fetcher(key(simulator), transport, style=style)
    first, lifetime = fetch()
    second, _ = fetch()  # the same prepared request, sent again
    assert first and second and first != second
    assert lifetime == 1234.0


@pytest.mark.parametrize("style", ["basic", "form"])
def test_a_wrong_secret_is_a_401_token_error_without_the_secret(
    simulator: str, transport: Transport, style: str
) -> None:
    fetch = oauth_fetcher(key(simulator, WRONG_SECRET), transport, style=style)
    with pytest.raises(TokenError) as caught:
        fetch()
    assert caught.value.status == 401
    shown = f"{caught.value} {caught.value!r} {caught.value.args}"
    assert CLIENT_ID in shown  # says which credentials were refused ...
    assert WRONG_SECRET not in shown  # ... without showing the secret
    assert "token endpoint" in shown


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        pytest.param(response(200, b"<html>login</html>"), "usable access_token", id="not JSON"),
        pytest.param(response(200, b'{"token_type": "bearer"}'), "usable access_token", id="no access_token"),
        pytest.param(response(200, b'{"access_token": ""}'), "empty access_token", id="empty access_token"),
        pytest.param(response(200, b'{"access_token": 7}'), "empty access_token", id="access_token not text"),
        pytest.param(
            response(200, b'{"access_token": "t", "expires_in": "soon"}'),
            "usable access_token",
            id="bad lifetime",
        ),
        pytest.param(response(503, b'{"error": "busy"}'), "answered 503", id="server error"),
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "unreachable", id="not HTTP"),
    ],
)
def test_unusable_token_answers_are_token_errors(transport: Transport, answer: bytes, message: str) -> None:
    with RawServer(keep_answering(answer)) as server:
        fetch = oauth_fetcher(key(server.url("")), transport)
        with pytest.raises(TokenError, match=message) as caught:
            fetch()
    assert SECRET not in str(caught.value)


def test_an_unreachable_token_endpoint_is_a_token_error(transport: Transport) -> None:
    with RawServer(keep_answering(response(200))) as server:
        url = server.url("")
    # the server has stopped: nothing listens on its port any more
    fetch: Callable[[], object] = oauth_fetcher(key(url), transport)
    with pytest.raises(TokenError, match="unreachable") as caught:
        fetch()
    assert caught.value.status is None
    assert SECRET not in str(caught.value)


def test_the_request_on_the_wire(transport: Transport) -> None:
    body = b'{"access_token": "tok", "expires_in": 60}'
    with RawServer(keep_answering(response(200, body))) as server:
        assert oauth_fetcher(key(server.url("")), transport)() == ("tok", 60.0)
        assert oauth_fetcher(key(server.url("")), transport, style="form")() == ("tok", 60.0)
    basic, form = server.requests
    assert (basic.method, basic.target) == ("POST", "/oauth/token?grant_type=client_credentials")
    assert basic.headers["authorization"].startswith("Basic ")
    assert basic.body == b""
    assert (form.method, form.target) == ("POST", "/oauth/token")
    assert form.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in form.headers
    assert b"grant_type=client_credentials" in form.body
    assert server.accepts == 1  # both fetches on one kept-alive connection
