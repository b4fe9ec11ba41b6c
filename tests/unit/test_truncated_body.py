"""A body shorter than its Content-Length (the client sent FIN early) is a 400, never forwarded."""

import io

import pytest

from ftproxy.web.wsgi import ApiError, Request


def test_body_shorter_than_content_length_is_400() -> None:
    request = Request({"CONTENT_LENGTH": "100", "wsgi.input": io.BytesIO(b"{")})
    with pytest.raises(ApiError) as caught:
        request.body()
    assert caught.value.status == 400


def test_complete_body_is_read() -> None:
    request = Request({"CONTENT_LENGTH": "2", "wsgi.input": io.BytesIO(b"{}")})
    assert request.body() == b"{}"
