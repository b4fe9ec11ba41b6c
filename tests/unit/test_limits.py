"""Rate limits, concurrency limits and output-token caps (an injected clock; no sleeping)."""

from __future__ import annotations

import pytest

from ftproxy.convert import ClientApi
from ftproxy.convert.limits import cap_output_tokens
from ftproxy.errors import ApiError
from ftproxy.settings import RateLimit
from ftproxy.web.guards import ConcurrencyLimit, RateLimiter, TokenBucket

CHAT, MESSAGES, RESPONSES = ClientApi.OPENAI_CHAT, ClientApi.ANTHROPIC_MESSAGES, ClientApi.OPENAI_RESPONSES


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_the_burst_then_refills_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(RateLimit(requests_per_minute=60, burst=3), clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(1.0)  # one token a second
    clock.now += 0.5
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0
    clock.now += 3600  # a long pause refills to the burst, not beyond
    assert [bucket.take() for _ in range(4)][-1] > 0


def test_rate_limiter_answers_429_with_retry_after_for_its_key_only() -> None:
    clock = Clock()
    limiter = RateLimiter({"team-a": RateLimit(6, 1), "team-b": None}, clock)
    limiter.check("team-a")
    with pytest.raises(ApiError) as refused:
        limiter.check("team-a")
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "10"}
    for _ in range(100):
        limiter.check("team-b")  # no limit configured
        limiter.check("unknown")


def test_concurrency_limit_refuses_beyond_the_limit_and_releases() -> None:
    limit = ConcurrencyLimit(2)
    first, _second = limit.acquire(), limit.acquire()
    with pytest.raises(ApiError) as refused:
        limit.acquire()
    assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "1"
    first()
    assert limit.acquire() is not None
    assert ConcurrencyLimit(None).acquire() is None


@pytest.mark.parametrize(
    ("client", "body", "cap", "expected"),
    [
        (CHAT, {}, None, {}),
        (CHAT, {}, 100, {"max_tokens": 100}),
        (CHAT, {"max_tokens": 500}, 100, {"max_tokens": 100}),
        (CHAT, {"max_completion_tokens": 500}, 100, {"max_completion_tokens": 100}),
        (CHAT, {"max_tokens": 50}, 100, {"max_tokens": 50}),
        (CHAT, {"max_tokens": "lots"}, 100, {"max_tokens": "lots"}),  # the converters answer 400
        (MESSAGES, {"max_tokens": 4096}, 1024, {"max_tokens": 1024}),
        (MESSAGES, {}, 1024, {"max_tokens": 1024}),
        (RESPONSES, {"max_output_tokens": 9999}, 1000, {"max_output_tokens": 1000}),
        (RESPONSES, {}, 1000, {"max_output_tokens": 1000}),
    ],
)
def test_output_token_caps(client: ClientApi, body: dict, cap: int | None, expected: dict) -> None:
    assert cap_output_tokens(client, body, cap) == expected
