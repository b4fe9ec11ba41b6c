"""Keeps the live model table in step with AI Core's deployments listing (issue 22 item 1).

One `Refresher` per worker process: a first refresh at start-up (bounded by the transport's
timeouts; a failure never raises), then a daemon thread every `discovery.interval_seconds`, and
`soon()` for a deployment that answered 404 (debounced: at most one refresh in flight, at most
one per `_SOON_SPACING_S`). A failing listing keeps the last good table; `status()` says how
stale it is for /ready. A subaccount with an orchestration deployment has its model catalog
read in the same refresh (the models orchestration offers, listed when none is deployed); a
failing catalog keeps the last one read and is named in `status().error`, but the listing alone
decides whether the table is current.

A 404 from a discovered deployment is how AI Core shows one that was deleted (and perhaps
recreated under a new id): `missing(url)` starts the refresh and answers the request with a 503
and Retry-After, which the OpenAI and Anthropic SDKs retry by default; by then the table names
the new deployment (or none, and the orchestration route serves), so the client sees no error.
The request is not retried inside the proxy: that would hold it until AI Core's listing answers.
A deployment config.json names is not replaced by a refresh, so its 404 is answered as it is.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, replace

from ftproxy.errors import ApiError
from ftproxy.models import LiveModels
from ftproxy.observe import metrics
from ftproxy.settings import Subaccount
from ftproxy.upstream.discovery import Discovered, DiscoveryError, fetch, fetch_catalog, merged
from ftproxy.upstream.failover import Upstreams
from ftproxy.upstream.transport import Transport

# A 404 refreshes at most this often: a deployment deleted and another deleted moments later
# both heal within a client's retries, and a URL that always answers 404 costs AI Core one
# listing per spacing, no more.
_SOON_SPACING_S = 5.0
MISSING_RETRY_AFTER_S = 1  # what a client waits after a deleted deployment's 404: a refresh's time


@dataclass(frozen=True, slots=True)
class DiscoveryStatus:
    ok: bool  # every subaccount's listing was read at the last attempt (catalogs aside)
    last_success_age_s: float | None  # None: never read
    error: str | None  # what failed at the last attempt: listings, then catalogs
    serving: bool  # the table has a model (explicit or discovered): the instance can serve


class Refresher:
    def __init__(self, models: LiveModels, upstreams: Upstreams) -> None:
        self._models = models
        self._upstreams = upstreams
        self._config = config = models.config
        # Its own short timeouts: the inference transport waits minutes for a thinking model.
        timeout = config.discovery.timeout_s
        self._transport = Transport(
            connect_timeout=timeout,
            read_timeout=timeout,
            verify=config.upstream.verify,
            max_idle_per_origin=2,
        )
        # The URLs config.json names: discovery cannot replace them, so their 404 stays the
        # client's answer, as in a config that does not discover.
        self._explicit = frozenset(config.deployment_urls)
        self._found: dict[str, Discovered] = {}
        self._errors: dict[str, str] = {}  # subaccount → why its listing failed
        self._catalog_errors: dict[str, str] = {}  # subaccount → why its catalog failed
        self._last_success: float | None = None
        # Two locks: a refresh reads AI Core (seconds when it is slow) under `_refreshing`, while
        # `_lock` guards only the fields above, so /ready's status() never waits on the network.
        self._refreshing = threading.Lock()  # one refresh at a time
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_soon = float("-inf")
        self._soon_lock = threading.Lock()  # guards _last_soon

    def refresh(self) -> bool:
        """Reads every subaccount's listing and publishes the merged table; True if all read."""
        with self._refreshing:
            for sub in self._config.subaccounts:
                try:
                    found = fetch(sub, self._transport, self._upstreams.get(sub.name).tokens.get)
                except DiscoveryError as exc:
                    with self._lock:
                        self._errors[sub.name] = str(exc)
                    metrics.child(metrics.DISCOVERY_REFRESHES, sub.name, "error").inc()
                    continue
                found = self._with_catalog(sub, found)
                with self._lock:
                    self._found[sub.name] = found
                    self._errors.pop(sub.name, None)
                metrics.child(metrics.DISCOVERY_REFRESHES, sub.name, "ok").inc()
                metrics.child(metrics.DISCOVERY_LAST_SUCCESS, sub.name).set(time.time())
            with self._lock:
                found_now = dict(self._found)
            config = replace(self._config, subaccounts=merged(self._config.subaccounts, found_now))
            # breakers before the table that routes to them is published
            self._upstreams.breakers.add(config.deployment_urls)
            table = self._models.swap(config)
            metrics.set_known_models(table.names)
            with self._lock:
                ok = not self._errors
                if ok:
                    self._last_success = time.monotonic()
            return ok

    def _with_catalog(self, sub: Subaccount, found: Discovered) -> Discovered:
        """`found` with the models the subaccount's catalog offers through orchestration, read
        when it has an orchestration deployment; on failure, the last catalog read."""
        if sub.orchestration_url is None and not found.orchestration:
            return found
        tokens = self._upstreams.get(sub.name).tokens.get
        try:
            orchestrated = fetch_catalog(sub, self._transport, tokens)
        except DiscoveryError as exc:
            with self._lock:
                self._catalog_errors[sub.name] = str(exc)
                last = self._found.get(sub.name)
            metrics.child(metrics.DISCOVERY_CATALOG_READS, sub.name, "error").inc()
            return replace(found, orchestrated=last.orchestrated) if last is not None else found
        with self._lock:
            self._catalog_errors.pop(sub.name, None)
        metrics.child(metrics.DISCOVERY_CATALOG_READS, sub.name, "ok").inc()
        return replace(found, orchestrated=orchestrated)

    def status(self) -> DiscoveryStatus:
        with self._lock:
            listing = not self._errors
            failed = [*self._errors.items(), *self._catalog_errors.items()]
            last = self._last_success
        errors = "; ".join(f"{name}: {e}" for name, e in failed) or None
        age = None if last is None else round(time.monotonic() - last, 3)
        return DiscoveryStatus(listing, age, errors, bool(self._models.names))

    def start(self) -> None:
        """The periodic refresh, on a daemon thread (it must never keep a worker from exiting)."""
        interval = self._config.discovery.interval_s
        self._thread = threading.Thread(
            target=self._loop, args=(interval,), name="ftproxy-discovery", daemon=True
        )
        self._thread.start()

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self.refresh()

    def soon(self) -> float:
        """A deployment answered 404: refresh in the background, unless one ran or runs now.
        Returns the seconds until a refresh can next start (0: one runs now or just started)."""
        with self._soon_lock:
            now = time.monotonic()
            if self._refreshing.locked():
                return 0.0
            wait = _SOON_SPACING_S - (now - self._last_soon)
            if wait > 0:
                return wait
            self._last_soon = now
        threading.Thread(target=self.refresh, name="ftproxy-discovery-404", daemon=True).start()
        return 0.0

    def missing(self, url: str | None = None) -> None:
        """A deployment answered 404: refresh soon, and answer this request with a retryable 503
        whose Retry-After covers the refresh (or, when one ran moments ago, the wait until the
        next may start: the retry's own 404 then starts it). A configured deployment's `url`
        returns at once: the caller answers its 404 as it is."""
        if url in self._explicit:
            return
        wait = self.soon()
        raise ApiError(
            503,
            "the deployment serving this model answered 404 (deleted or moved); the deployment "
            "table is being refreshed from AI Core: retry shortly",
            code="deployment_missing",
            headers={"Retry-After": str(MISSING_RETRY_AFTER_S + math.ceil(wait))},
        )

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._config.discovery.timeout_s * 2)
        self._transport.close()
