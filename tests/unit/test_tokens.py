import itertools

import pytest

from ftproxy.upstream.tokens import TokenError, TokenManager


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Fetcher:
    def __init__(self, lifetime: float = 43199, fail: bool = False) -> None:
        self.lifetime = lifetime
        self.fail = fail
        self.counter = itertools.count(1)
        self.calls = 0

    def __call__(self) -> tuple[str, float]:
        self.calls += 1
        if self.fail:
            raise TokenError("token endpoint down")
        return f"token-{next(self.counter)}", self.lifetime


def make(lifetime: float = 43199) -> tuple[TokenManager, Fetcher, Clock]:
    fetch, clock = Fetcher(lifetime), Clock()
    return TokenManager("sub", fetch, clock=clock), fetch, clock


def test_token_is_cached_until_refresh_window() -> None:
    manager, fetch, clock = make()
    assert manager.get() == "token-1"
    clock.now += 43199 - 301  # just before the 5-minute refresh window
    assert manager.get() == "token-1"
    assert fetch.calls == 1 == manager.fetch_count


def test_refresh_ahead_replaces_token_before_expiry() -> None:
    manager, fetch, clock = make()
    manager.get()
    clock.now += 43199 - 200  # inside the refresh window, still valid
    assert manager.get() == "token-2"
    assert fetch.calls == 2


def test_failed_refresh_ahead_keeps_the_valid_token() -> None:
    manager, fetch, clock = make()
    manager.get()
    clock.now += 43199 - 200
    fetch.fail = True
    assert manager.get() == "token-1"


def test_expired_token_is_fetched_again() -> None:
    manager, _fetch, clock = make(lifetime=100)
    manager.get()
    clock.now += 100
    assert manager.get() == "token-2"


def test_no_valid_token_and_fetch_fails_raises() -> None:
    manager, fetch, _ = make()
    fetch.fail = True
    with pytest.raises(TokenError):
        manager.get()


def test_invalidate_only_forgets_the_rejected_token() -> None:
    manager, fetch, _ = make()
    first = manager.get()
    manager.invalidate("some-older-token")
    assert manager.get() == first
    manager.invalidate(first)
    assert manager.get() == "token-2"
    assert fetch.calls == 2


def test_short_lifetimes_refresh_at_a_tenth_left() -> None:
    manager, _fetch, clock = make(lifetime=10)
    manager.get()
    clock.now += 8.9
    assert manager.get() == "token-1"
    clock.now += 0.2  # 9.1 s: inside the last tenth
    assert manager.get() == "token-2"
