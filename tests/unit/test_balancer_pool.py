import pytest

from ftproxy.balancer import RoundRobin
from ftproxy.upstream.pool import ClientPool


def test_round_robin_cycles_in_order() -> None:
    rr = RoundRobin(["a", "b", "c"])
    assert [rr.next() for _ in range(7)] == ["a", "b", "c", "a", "b", "c", "a"]


def test_rotation_starts_at_next_and_advances() -> None:
    rr = RoundRobin(["a", "b", "c"])
    assert rr.rotation() == ("a", "b", "c")
    assert rr.rotation() == ("b", "c", "a")
    assert rr.next() == "c"


def test_single_item_and_empty() -> None:
    assert RoundRobin(["only"]).next() == "only"
    with pytest.raises(ValueError):
        RoundRobin([])


def test_pool_creates_once_per_key_and_closes() -> None:
    created: list[str] = []
    closed: list[str] = []
    pool: ClientPool[str] = ClientPool(lambda k: created.append(k) or f"client-{k}", close=closed.append)
    assert pool.get("a") == "client-a" and pool.get("a") == "client-a" and pool.get("b") == "client-b"
    assert created == ["a", "b"] and len(pool) == 2
    pool.close()
    assert sorted(closed) == ["client-a", "client-b"] and len(pool) == 0


def test_pool_factory_may_reenter_the_pool() -> None:
    pool: ClientPool[str] = ClientPool(lambda k: k if k == "base" else pool.get("base") + "+" + k)
    assert pool.get("derived") == "base+derived"


def test_failed_creation_is_not_cached() -> None:
    attempts = []

    def factory(key: str) -> str:
        attempts.append(key)
        if len(attempts) == 1:
            raise OSError("first try fails")
        return key

    pool: ClientPool[str] = ClientPool(factory)
    with pytest.raises(OSError):
        pool.get("a")
    assert pool.get("a") == "a" and attempts == ["a", "a"]
