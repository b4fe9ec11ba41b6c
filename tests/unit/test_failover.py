"""The failover loop (`upstream.failover.Upstreams.call`) with an injected transport and clock.

The transport is scripted per deployment URL (an HTTP status, with headers, or a transport
failure); the clock is a number that only `sleep` moves, so backoffs, Retry-After, the request
deadline and the breakers' cooldowns are exact. The end-to-end side (real simulator, real
proxy) is tests/e2e/test_failover.py.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from ftproxy.balancer import RoundRobin
from ftproxy.errors import ApiError
from ftproxy.models import Deployment, Family
from ftproxy.proxy import Call
from ftproxy.settings import ClientKey, Config, RetryPolicy, ServiceKey, Subaccount
from ftproxy.upstream.errors import ConnectFailed, UpstreamTimeout
from ftproxy.upstream.failover import Upstreams
from ftproxy.wire.apis import UpstreamApi

AUTH = "http://auth.test"
D1, D2 = "http://one.test/v2/inference/deployments/d1", "http://two.test/v2/inference/deployments/d2"
PATH = "/chat/completions"
TOKEN = b'{"access_token": "token", "expires_in": 3600}'


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"error": {"message": "scripted"}}'

    def read(self, limit: int | None = None) -> bytes:
        return self.body if limit is None else self.body[:limit]

    def close(self) -> None:
        pass


Outcome = int | tuple[int, Mapping[str, str]] | Exception


class Transport:
    """Answers the token endpoint with a token and each deployment from its script, in order."""

    def __init__(self, clock: Clock, scripts: Mapping[str, list[Outcome]], token: Outcome = 200) -> None:
        self.clock = clock
        self.scripts = {url: deque(outcomes) for url, outcomes in scripts.items()}
        self.token = token
        self.calls: list[tuple[str, float]] = []  # (deployment URL, clock)

    def request(self, method: str, url: str, *, headers: Mapping[str, str], body: bytes = b"") -> Any:
        if url.startswith(AUTH):
            return _answer(self.token, TOKEN)
        deployment = url.removesuffix(PATH)
        self.calls.append((deployment, self.clock.now))
        return _answer(self.scripts[deployment].popleft(), b"{}")

    def close(self) -> None:
        pass


def _answer(outcome: Outcome, body: bytes) -> Answer:
    if isinstance(outcome, Exception):
        raise outcome
    if isinstance(outcome, tuple):
        return Answer(outcome[0], dict(outcome[1]))
    return Answer(outcome, body=body if outcome == 200 else b'{"error": {"message": "scripted"}}')


def config(**policy: Any) -> Config:
    key = ServiceKey("id", "secret", AUTH, "http://api.test")
    subaccount = Subaccount("demo", "default", key, {"gpt-4.1": (D1, D2)})
    return Config((subaccount,), (ClientKey("k", "client"),), retries=RetryPolicy(**policy))


def deployments(*urls: str) -> RoundRobin[Deployment]:
    return RoundRobin(
        [Deployment("gpt-4.1", url, "demo", Family.GPT, UpstreamApi.AZURE_OPENAI_CHAT) for url in urls]
    )


@dataclass
class Loop:
    clock: Clock
    transport: Transport
    upstreams: Upstreams

    def open(self, *urls: str) -> Answer:
        call = Call("id", "POST", "/v1/chat/completions", "/v1/chat/completions")
        call.started, call.model, call.family = self.clock.now, "gpt-4.1", "gpt"
        return self.upstreams.call(call, deployments(*urls), PATH, b"{}")  # type: ignore[return-value]

    def fails(self, *urls: str) -> ApiError:
        with pytest.raises(ApiError) as caught:
            self.open(*urls)
        return caught.value

    def called(self) -> list[str]:
        return [url for url, _ in self.transport.calls]


def loop(scripts: Mapping[str, list[Outcome]], token: Outcome = 200, **policy: Any) -> Loop:
    clock = Clock()
    transport = Transport(clock, scripts, token)
    upstreams = Upstreams(config(**policy), [D1, D2], transport, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    return Loop(clock, transport, upstreams)


def test_a_failing_deployment_fails_over_to_the_next_at_once() -> None:
    for failure in (503, ConnectFailed("refused"), UpstreamTimeout("slow")):
        run = loop({D1: [failure], D2: [200]})
        assert run.open(D1, D2).status == 200
        assert run.called() == [D1, D2]
        assert run.clock.slept == []  # another deployment: no backoff


def test_the_same_deployment_again_after_a_backoff_under_its_ceiling() -> None:
    run = loop({D1: [503, 502, 200]}, backoff_base_s=1.0, backoff_max_s=1.5)
    assert run.open(D1).status == 200
    assert run.called() == [D1, D1, D1]
    first, second = run.clock.slept
    assert 0.0 <= first <= 1.0 and 0.0 <= second <= 1.5  # full jitter under a doubling ceiling
    assert [at for _, at in run.transport.calls] == [1000.0, 1000.0 + first, 1000.0 + first + second]


def test_a_short_retry_after_is_waited_for() -> None:
    run = loop({D1: [(429, {"retry-after": "1.5"}), 200]}, backoff_base_s=0.0, breaker_failures=1)
    assert run.open(D1).status == 200
    assert run.clock.slept == [1.5]
    assert run.upstreams.breakers[D1].state == "closed"  # throttled is not broken


def test_a_long_retry_after_goes_to_the_client_at_once() -> None:
    run = loop({D1: [(429, {"retry-after": "30"})]}, max_retry_after_s=2.0)
    error = run.fails(D1)
    assert (error.status, error.headers.get("Retry-After")) == (429, "30")
    assert run.called() == [D1] and run.clock.slept == []


def test_a_client_error_is_not_retried() -> None:
    run = loop({D1: [400], D2: [200]})
    assert run.fails(D1, D2).status == 400
    assert run.called() == [D1]
    assert run.upstreams.breakers[D1].state == "closed"


def test_no_retry_starts_after_the_deadline() -> None:
    # Retry-After 2 s each time, 5 s in all: calls at 0, 2 and 4 s; a fourth would start at 6 s.
    run = loop({D1: [(503, {"retry-after": "2"})] * 5}, max_attempts=5, max_total_s=5.0, backoff_base_s=0.0)
    error = run.fails(D1)
    assert error.status == 503
    assert [at - 1000.0 for _, at in run.transport.calls] == [0.0, 2.0, 4.0]
    assert run.clock.slept == [2.0, 2.0]


def test_the_breaker_opens_then_lets_one_probe_through_after_its_cooldown() -> None:
    run = loop(
        {D1: [ConnectFailed("refused")] * 2 + [503, 200]},
        max_attempts=1,
        breaker_failures=2,
        breaker_cooldown_s=10.0,
    )
    for _ in range(2):
        assert run.fails(D1).status == 502
    assert run.upstreams.breakers[D1].state == "open"
    paused = run.fails(D1)
    assert (paused.status, paused.code, paused.headers["Retry-After"]) == (503, "circuit_open", "10")
    assert len(run.transport.calls) == 2  # the open breaker kept the call from the deployment

    run.clock.now += 10.0
    assert run.upstreams.breakers[D1].state == "half-open"
    assert run.fails(D1).status == 503  # the probe went through and failed: open again
    assert len(run.transport.calls) == 3 and run.fails(D1).code == "circuit_open"

    run.clock.now += 10.0
    assert run.open(D1).status == 200  # the next probe succeeds: closed
    assert run.upstreams.breakers[D1].state == "closed" and len(run.transport.calls) == 4


def test_an_open_breaker_sends_the_request_to_the_other_deployment() -> None:
    run = loop({D1: [503], D2: [200, 200]}, max_attempts=2, breaker_failures=1)
    assert run.open(D1, D2).status == 200
    assert run.upstreams.breakers[D1].state == "open"
    assert run.open(D1, D2).status == 200
    assert run.called() == [D1, D2, D2]


def test_a_failing_token_endpoint_does_not_count_against_the_deployment() -> None:
    run = loop({D1: []}, token=503, max_attempts=1, breaker_failures=1)
    for _ in range(3):
        error = run.fails(D1)
        assert (error.status, error.code) == (502, "upstream_auth_failed")
    assert run.upstreams.breakers[D1].state == "closed" and run.called() == []


def test_a_half_open_probe_answered_404_is_released_when_discovery_answers_for_it() -> None:
    # Discovery's hook answers a discovered deployment's 404 with its own retryable 503; the
    # probe that met the 404 must still close the breaker, or no request would probe again.
    run = loop({D1: [503, 404, 200]}, max_attempts=1, breaker_failures=1, breaker_cooldown_s=10.0)
    missing: list[str] = []

    def answer_missing(url: str) -> None:
        missing.append(url)
        raise ApiError(503, "refreshing", code="deployment_missing")

    run.upstreams.on_missing_deployment = answer_missing
    assert run.fails(D1).status == 503
    assert run.upstreams.breakers[D1].state == "open"
    run.clock.now += 10.0
    assert run.fails(D1).code == "deployment_missing"
    assert missing == [D1]
    assert run.upstreams.breakers[D1].state == "closed"  # the deployment answered: not broken
    assert run.open(D1).status == 200
