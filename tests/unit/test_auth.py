import io

import pytest

from ftproxy.errors import ApiError
from ftproxy.web.auth import ClientAuth
from ftproxy.web.wsgi import Request


def request(**headers: str) -> Request:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/v1/chat/completions", "wsgi.input": io.BytesIO()}
    environ.update({"HTTP_" + k.upper(): v for k, v in headers.items()})
    return Request(environ)


AUTH = ClientAuth(["sk-alpha", "sk-beta"])


@pytest.mark.parametrize(
    ("headers", "label"),
    [
        ({"authorization": "Bearer sk-alpha"}, "key#1"),
        ({"authorization": "bearer   sk-beta "}, "key#2"),
        ({"x_api_key": "sk-beta"}, "key#2"),
        ({"authorization": "Bearer wrong", "x_api_key": "sk-alpha"}, "key#1"),
    ],
)
def test_accepted(headers: dict[str, str], label: str) -> None:
    assert AUTH.authenticate(request(**headers)) == label


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer"},
        {"authorization": "Basic sk-alpha"},
        {"authorization": "Bearer sk-alph"},  # prefix
        {"authorization": "Bearer sk-alphaX"},  # superstring (the reference proxies matched substrings)
        {"authorization": "Bearer xsk-alpha"},
        {"x_api_key": ""},
        {"x_api_key": "SK-ALPHA"},
    ],
)
def test_rejected_with_401(headers: dict[str, str]) -> None:
    with pytest.raises(ApiError) as caught:
        AUTH.authenticate(request(**headers))
    assert caught.value.status == 401
    assert "sk-alpha" not in caught.value.message


def test_open_only_when_explicitly_configured() -> None:
    assert ClientAuth([], allow_unauthenticated=True).authenticate(request()) == "anonymous"
    with pytest.raises(ApiError):
        ClientAuth([], allow_unauthenticated=False).authenticate(request())
    with pytest.raises(ApiError):  # keys configured: they are required even if open was asked for
        ClientAuth(["k"], allow_unauthenticated=True).authenticate(request())
