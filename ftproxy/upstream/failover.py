"""`Upstreams`: every call to SAP AI Core, with failover, retries and circuit breakers.

Before the first byte of an answer reaches the client, a failed call is tried again: on the
model's next deployment at once, on the same deployment after a backoff or a short Retry-After
(`breakers.py` has the breakers, `settings.RetryPolicy` the policy). The caller gets an answer
with status < 400 and its body unread, or the last upstream error as the client should see it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from ftproxy.balancer import RoundRobin
from ftproxy.errors import ApiError
from ftproxy.observe import metrics
from ftproxy.settings import RetryPolicy
from ftproxy.upstream.breakers import RETRY_STATUSES, Breakers, attempt_order, retry_after_seconds
from ftproxy.upstream.client import Meter, UpstreamClient, error_from_response
from ftproxy.upstream.pool import ClientPool
from ftproxy.upstream.transport import Transport, UpstreamResponse

if TYPE_CHECKING:
    from ftproxy.models import Deployment
    from ftproxy.settings import Config


class Upstreams:
    """One per process: the transport (connection pools), a client per subaccount (created on
    first use), a circuit breaker per deployment URL and the retry policy."""

    def __init__(
        self,
        config: Config,
        deployment_urls: Iterable[str],
        transport: Transport | None = None,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`clock` is the clock of `Meter.started` (the request's deadline) and of the
        breakers' cooldowns; tests inject it, `sleep` and the transport."""
        settings = config.upstream
        self.transport = transport or Transport(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            verify=settings.verify,
            max_idle_per_origin=settings.max_idle_per_origin,
        )
        by_name = {sub.name: sub for sub in config.subaccounts}
        self._clients: ClientPool[UpstreamClient] = ClientPool(
            lambda name: UpstreamClient(by_name[name], self.transport, settings)
        )
        self.policy = config.retries
        self.breakers = Breakers(list(deployment_urls), config.retries, clock)
        self._clock = clock
        self._sleep = sleep
        # Called (cheaply: it only may start a thread) when a deployment answers 404, which is
        # how a deleted deployment shows; discovery sets it to refresh the table soon.
        # It gets the deployment's URL and may raise the client's (retryable) error instead.
        self.on_missing_deployment: Callable[[str], None] | None = None

    def get(self, subaccount: str) -> UpstreamClient:
        return self._clients.get(subaccount)

    def call(
        self,
        meter: Meter,
        deployments: RoundRobin[Deployment],
        path: str,
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> UpstreamResponse:
        """The upstream's answer (status < 400, body unread), after failover and retries;
        otherwise raises the last upstream error as the client should see it."""
        policy = self.policy
        last: ApiError | None = None
        calls: dict[str, int] = {}  # deployment URL → calls made to it for this request
        for deployment in attempt_order(deployments.rotation(), policy.max_attempts):
            breaker = self.breakers[deployment.url]
            if deployment.url in calls:  # the same deployment again: back off first
                delay = _retry_delay(policy, last, calls[deployment.url] - 1)
                if delay is None or self._clock() - meter.started + delay > policy.max_total_s:
                    break
                self._sleep(delay)  # bounded by max_retry_after_s / backoff_max_s; holds no lock
            if not breaker.allow():
                last = last or self._all_open(deployments, meter.model or "")
                continue
            if calls:
                metrics.UPSTREAM_RETRIES.labels(meter.family, _retry_reason(last)).inc()
            calls[deployment.url] = calls.get(deployment.url, 0) + 1
            client = self.get(deployment.subaccount)
            try:
                response = client.send(deployment.url + path, body, headers, meter)
            except ApiError as exc:  # no HTTP answer: connection refused, reset, timeout, no token
                if exc.code == "upstream_auth_failed":
                    breaker.release()  # the token endpoint failed, not this deployment
                else:
                    breaker.failure()
                last = exc
                continue
            status = response.status
            if status < 400:
                breaker.success()
                return response
            error = error_from_response(response, deployment.subaccount)
            if status not in RETRY_STATUSES:
                breaker.success()  # a 4xx is a healthy deployment's verdict on this request
                if status == 404 and self.on_missing_deployment is not None:
                    # after success(): a half-open breaker's probe is released even when the
                    # hook answers the client with its own error
                    self.on_missing_deployment(deployment.url)
                raise error
            if status == 429:
                breaker.success()  # throttled, not broken: do not trip the breaker
            else:
                breaker.failure()
            last = error
        assert last is not None
        raise last

    def _all_open(self, deployments: RoundRobin[Deployment], model: str) -> ApiError:
        wait = min(self.breakers[d.url].seconds_until_probe() for d in deployments.items)
        return ApiError(
            503,
            f"every deployment of '{model}' keeps failing and is paused by its circuit breaker; "
            "retry shortly",
            code="circuit_open",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )

    def close(self) -> None:
        self.transport.close()


def _retry_delay(policy: RetryPolicy, last: ApiError | None, retry: int) -> float | None:
    """Seconds to wait before calling a deployment again, or None: hand the error to the client."""
    wanted = retry_after_seconds(last.headers.get("Retry-After")) if last is not None else None
    if wanted is not None and wanted > policy.max_retry_after_s:
        return None  # the upstream wants a long pause: the client decides (it gets Retry-After)
    return max(wanted or 0.0, policy.backoff(retry))


def _retry_reason(last: ApiError | None) -> str:
    if last is None:
        return "other"
    return (
        "throttled" if last.status == 429 else "unreachable" if last.status in (502, 504) else "upstream_5xx"
    )
