"""Synapse's per-user throttles, off until an admin switches them on.

Synapse keys its throttles on the caller (``userId|sessionID|IP``) and answers 429 when a caller
has more than 3 requests in flight (``UserConcurrentConnectionThrottler``) or has made 600
requests in the last 60 s (``UserRequestFrequencyThrottler``). The emulator keys on the bearer
token, which names one user's session here. Anonymous calls, the presigned storage URLs (S3, not
Synapse) and the admin API are never throttled. A refused request does not count against the
window, as a failed semaphore acquire does not on the server. Synapse sends no ``Retry-After``;
the emulator adds one (1 s for concurrency, the time until the window frees a slot for
frequency) so a client that honours it can be tested.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass

CONCURRENT_REASON = "Too many concurrent requests. Allowed {n} concurrent connections at any time."
FREQUENCY_REASON = "Requests are too frequent. Allowed {n} requests every {s} seconds."
THROTTLED_PREFIXES = ("/repo/v1", "/file/v1", "/auth/v1")


@dataclass(frozen=True)
class ThrottleSettings:
    max_concurrent: int = 3
    max_requests: int = 600
    window_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_concurrent < 1 or self.max_requests < 1 or self.window_s <= 0:
            raise ValueError("maxConcurrent and maxRequests must be >= 1 and windowSeconds > 0")

    def view(self) -> dict:
        return {"enabled": True, "maxConcurrent": self.max_concurrent, "maxRequests": self.max_requests,
                "windowSeconds": self.window_s}


@dataclass(frozen=True)
class Refusal:
    reason: str
    retry_after_s: int


class Throttle:
    """In-flight counts and recent request times per caller; thread-safe, in memory only."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.settings: ThrottleSettings | None = None
        self._in_flight: dict[str, int] = defaultdict(int)
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self.refused = 0

    def configure(self, settings: ThrottleSettings | None) -> None:
        with self._lock:
            self.settings = settings
            self._recent.clear()
            self.refused = 0

    def view(self) -> dict:
        with self._lock:
            body = self.settings.view() if self.settings else {"enabled": False}
            return {**body, "refused": self.refused}

    def enter(self, key: str | None, now: float | None = None) -> Refusal | None:
        """Admit a request (the caller must ``leave`` later) or say why not."""
        with self._lock:
            settings = self.settings
            if settings is None or key is None:
                return None
            now = time.monotonic() if now is None else now
            if self._in_flight[key] >= settings.max_concurrent:
                self.refused += 1
                return Refusal(CONCURRENT_REASON.format(n=settings.max_concurrent), 1)
            recent = self._recent[key]
            while recent and recent[0] <= now - settings.window_s:
                recent.popleft()
            if len(recent) >= settings.max_requests:
                self.refused += 1
                wait = max(1, math.ceil(recent[0] + settings.window_s - now))
                return Refusal(FREQUENCY_REASON.format(n=settings.max_requests, s=f"{settings.window_s:g}"), wait)
            recent.append(now)
            self._in_flight[key] += 1
            return None

    def leave(self, key: str | None) -> None:
        with self._lock:
            if key is not None and self._in_flight.get(key, 0) > 0:
                self._in_flight[key] -= 1


def caller_key(path: str, headers: list[tuple[bytes, bytes]]) -> str | None:
    """Who a request counts against: a digest of its bearer token, or None when exempt."""
    if not path.startswith(THROTTLED_PREFIXES):
        return None
    for name, value in headers:
        if name.lower() == b"authorization" and value[:7].lower() == b"bearer ":
            return hashlib.sha256(value[7:].strip()).hexdigest()
    return None
