"""A client-side limiter that keeps one Synapse user under the server's throttles.

Synapse refuses a caller with 429 beyond 3 requests in flight or 600 requests per 60 s
(SYNAPSE.md §6.1). Retrying 429s works but wastes requests, and each refused request still
costs a round trip; staying under the limits is cheaper. One ``Limiter`` per (endpoint, user)
is shared by every thread of the process (``limiter_for``), so parallel chunks in one worker
stay under the limits together. Across processes the Airflow pool ``synapse_api`` does that job.

The frequency limit is a token bucket whose refill rate leaves room for its burst: with
``burst`` tokens and ``(limit - burst) / period`` per second, no window of ``period`` seconds
ever sees more than ``limit`` requests, which a plain 10/s bucket with a burst would exceed.
A 429's ``Retry-After`` pauses the whole limiter (``defer``): the server throttles the user,
not the thread that happened to ask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

SYNAPSE_MAX_IN_FLIGHT = 3
SYNAPSE_REQUESTS_PER_PERIOD = 600
SYNAPSE_PERIOD_S = 60.0


@dataclass(frozen=True)
class Limits:
    max_in_flight: int = SYNAPSE_MAX_IN_FLIGHT
    requests_per_period: int = SYNAPSE_REQUESTS_PER_PERIOD
    period_s: float = SYNAPSE_PERIOD_S
    burst: int = 10

    def __post_init__(self) -> None:
        if self.max_in_flight < 1 or self.period_s <= 0 or not 1 <= self.burst < self.requests_per_period:
            raise ValueError("need max_in_flight >= 1, period_s > 0 and 1 <= burst < requests_per_period")


class Limiter:
    """At most ``max_in_flight`` calls at once, and at most ``requests_per_period`` per period.

    ``clock`` and ``sleep`` are injectable so the arithmetic is tested without waiting.
    """

    def __init__(self, limits: Limits = Limits(), clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._rate = (limits.requests_per_period - limits.burst) / limits.period_s
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(limits.max_in_flight)
        self._tokens = float(limits.burst)
        self._updated = clock()
        self._not_before = 0.0
        self.in_flight = 0
        self.waiting = 0

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the in-flight slots and spend one token for the request made inside.

        The slot is taken before the token, so a token is spent when the request is about to
        leave, not while it queues behind others (which could bunch requests into one window).
        """
        with self._lock:
            self.waiting += 1
        self._slots.acquire()
        with self._lock:
            self.waiting -= 1
            self.in_flight += 1
        try:
            self._take_token()
            yield
        finally:
            with self._lock:
                self.in_flight -= 1
            self._slots.release()

    def _take_token(self) -> None:
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.limits.burst), self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            self._tokens -= 1  # a reservation: below zero means "wait for the refill"
            wait = max(-self._tokens / self._rate if self._tokens < 0 else 0.0, self._not_before - now)
        if wait > 0:
            self._sleep(wait)

    def defer(self, seconds: float) -> None:
        """No request leaves for ``seconds`` (a 429's Retry-After), whichever thread asks next."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + max(0.0, seconds))


_registry: dict[str, Limiter] = {}
_registry_lock = threading.Lock()


def limiter_for(key: str, limits: Limits | None = None) -> Limiter:
    """The process-wide limiter of one Synapse user (key: endpoint and user id)."""
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = _registry[key] = Limiter(limits or Limits())
        return limiter
