"""The discovery Refresher under forced preemption: its three locks, each shown to matter.

AI Core's listing is replaced by a counter (`refresh.fetch` patched), so the tests need no
network and each refresh knows which listing it read; everything else is the real code.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest
from contention import run_together
from preempt import preempting

from ftproxy.models import LiveModels
from ftproxy.settings import Config, DiscoverySettings, ServiceKey, Subaccount
from ftproxy.upstream import discovery, refresh
from ftproxy.upstream.discovery import Discovered, DiscoveryError
from ftproxy.upstream.failover import Upstreams

pytestmark = pytest.mark.stress

THREADS = 8
ROUNDS = 10
_KEY = ServiceKey(client_id="c", client_secret="s", auth_url="https://auth", api_url="https://api")
_CONFIG = Config(
    subaccounts=(Subaccount("s", "default", _KEY),), clients=(), discovery=DiscoverySettings(enabled=True)
)


@pytest.fixture
def refresher() -> Iterator[refresh.Refresher]:
    upstreams = Upstreams(_CONFIG, [])
    found = refresh.Refresher(LiveModels(_CONFIG), upstreams)
    yield found
    found.stop()
    upstreams.close()


def _listing(n: int) -> Discovered:
    """Listing number `n`: it names its own model, so a table says which listing it came from."""
    return Discovered({f"gpt-listing-{n}": (f"https://api/v2/inference/deployments/d{n}",)})


def test_one_refresh_at_a_time_and_never_an_older_listing(
    refresher: refresh.Refresher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `_refreshing`: without it refreshes overlap, and one that read listing 3 can publish its
    # table after one that read listing 4: the served table goes back in time.
    counter = itertools.count(1)
    guard = threading.Lock()
    reading = [0]  # refreshes between reading a listing and publishing its table
    overlaps: list[int] = []

    def listing(sub: Subaccount, transport: object, token: object) -> Discovered:
        with guard:
            reading[0] += 1
            if reading[0] > 1:
                overlaps.append(reading[0])
            return _listing(next(counter))

    monkeypatch.setattr(refresh, "fetch", listing)
    live = refresher._models
    swap = live.swap
    published: list[tuple[int, int]] = []  # (generation, listing) of tables seen just after a swap

    def recording_swap(config: Config) -> object:
        table = swap(config)
        current = live._current  # one immutable value: its generation and table belong together
        (name,) = current.registry.names
        with guard:
            published.append((current.generation, int(name.rsplit("-", 1)[1])))
            reading[0] -= 1
        return table

    monkeypatch.setattr(live, "swap", recording_swap)
    with preempting(refresh, discovery):  # merging the listing widens the read-to-publish window
        run_together(lambda i: [refresher.refresh() for _ in range(ROUNDS)], THREADS)
    assert overlaps == [], "refreshes overlapped"
    listings = [n for _, n in sorted(set(published))]
    assert listings == sorted(listings), "a newer table was replaced by an older listing's"
    assert live.names == (f"gpt-listing-{THREADS * ROUNDS}",)


def test_status_is_one_consistent_snapshot(
    refresher: refresh.Refresher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `_lock`: status() reads the errors twice (ok, then the message); a refresh between the two
    # reads would report ok with an error, or not ok with none.
    outcomes = itertools.cycle([True, False])
    lock = threading.Lock()

    def flaky(sub: Subaccount, transport: object, token: object) -> Discovered:
        with lock:
            ok = next(outcomes)
        if not ok:
            raise DiscoveryError("the deployments listing answered HTTP 503")
        return _listing(1)

    monkeypatch.setattr(refresh, "fetch", flaky)

    def work(i: int) -> list[str]:
        wrong = []
        for _ in range(ROUNDS * 4):
            if i % 2:
                refresher.refresh()
                continue
            status = refresher.status()
            if status.ok != (status.error is None):
                wrong.append(f"ok={status.ok} error={status.error!r}")
        return wrong

    with preempting(refresh):
        seen = run_together(work, THREADS)
    assert [w for per_thread in seen for w in per_thread] == []  # type: ignore[attr-defined]


def test_a_burst_of_404s_starts_one_refresh(
    refresher: refresh.Refresher, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `_soon_lock`: every 404 of a burst checks when the last refresh started; without the lock
    # several see "long enough ago" and each starts its own refresh against AI Core.
    monkeypatch.setattr(refresher, "refresh", lambda: True)  # no listing: only the decision

    with preempting(refresh):
        waits = run_together(lambda i: [refresher.soon() for _ in range(ROUNDS)], THREADS)
    began = [w for per_thread in waits for w in per_thread if w == 0.0]  # type: ignore[attr-defined]
    assert len(began) == 1, f"{len(began)} refreshes started for one burst"
