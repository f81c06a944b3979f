"""Every Synapse REST call of a bulk step goes through here: throttled, retried, counted.

synapseclient's ``restGET/restPOST/restPUT`` build the URL, add the bearer token and parse the
JSON; we keep them for that. We switch off their own retry loop (``retryPolicy={"retries": 0}``)
and retry here instead, because theirs (SYNAPSE.md §3.0: up to 60 tries, 1 s doubling) ignores
``Retry-After``, and every attempt it makes would bypass our limiter: each attempt must take a
slot and a token, or retries alone push a busy user over Synapse's 600 requests per minute.

What is retried: 429 (after its ``Retry-After``, which pauses the whole limiter), 500/502/503/504
and dropped or refused connections (with capped, jittered exponential backoff). Anything else
(400, 403, 404, 409, 412) is the caller's to handle; a 409 after a retried POST in particular
may mean "our first attempt committed", which only the caller can reconcile.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from htan_submission.synapse.throttle import Limiter, limiter_for

if TYPE_CHECKING:
    import synapseclient

log = logging.getLogger(__name__)
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 10
    base_s: float = 0.2
    cap_s: float = 20.0

    def backoff(self, attempt: int) -> float:
        """Seconds before try ``attempt + 1`` (attempt counts from 1): jittered, capped."""
        return min(self.cap_s, self.base_s * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)


class SynapseRest:
    """One user's REST session for bulk work; thread-safe (the client's requests session is)."""

    def __init__(self, syn: synapseclient.Synapse, limiter: Limiter | None = None,
                 policy: RetryPolicy = RetryPolicy(), sleep: Callable[[float], None] = time.sleep):
        self.syn = syn
        self.limiter = limiter or limiter_for(f"{syn.repoEndpoint}|{syn.credentials.owner_id}")
        self.policy = policy
        self._sleep = sleep
        self._lock = threading.Lock()
        self.calls = 0
        self.retries = 0

    @property
    def repo(self) -> str:
        return self.syn.repoEndpoint

    @property
    def file(self) -> str:
        return self.syn.fileHandleEndpoint

    def get(self, uri: str, endpoint: str | None = None) -> Any:
        return self._call(self.syn.restGET, uri, None, endpoint)

    def post(self, uri: str, body: dict | None, endpoint: str | None = None) -> Any:
        return self._call(self.syn.restPOST, uri, json.dumps(body if body is not None else {}), endpoint)

    def put(self, uri: str, body: dict | None = None, endpoint: str | None = None) -> Any:
        return self._call(self.syn.restPUT, uri, json.dumps(body) if body is not None else None, endpoint)

    def _call(self, method: Callable, uri: str, body: str | None, endpoint: str | None) -> Any:
        from synapseclient.core.exceptions import SynapseHTTPError

        kwargs = {"endpoint": endpoint, "retryPolicy": {"retries": 0}}
        if body is not None:
            kwargs["body"] = body
        for attempt in range(1, self.policy.max_attempts + 1):
            with self._lock:
                self.calls += 1
            try:
                with self.limiter.slot():
                    return method(uri, **kwargs)
            except SynapseHTTPError as exc:
                status = http_status(exc)
                if status not in RETRY_STATUS or attempt == self.policy.max_attempts:
                    raise
                wait = self.policy.backoff(attempt)
                if status == 429:
                    wait = retry_after_s(exc) or wait
                    self.limiter.defer(wait)
                    wait = 0.0  # the limiter makes every thread, this one included, wait
            except Exception as exc:
                if not is_transient_connection_error(exc) or attempt == self.policy.max_attempts:
                    raise
                wait = self.policy.backoff(attempt)
            with self._lock:
                self.retries += 1
            log.debug("retrying %s (attempt %d)", uri.split("?", 1)[0], attempt + 1)
            if wait:
                self._sleep(wait)
        raise AssertionError("unreachable: the last attempt returns or raises")


def http_status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def retry_after_s(exc: BaseException) -> float | None:
    """``Retry-After`` of a 429 as seconds (delta or HTTP date), capped; None when absent."""
    response = getattr(exc, "response", None)
    value = (getattr(response, "headers", None) or {}).get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def is_transient_connection_error(exc: BaseException) -> bool:
    """A dropped, refused or timed-out connection (requests' or httpx's), worth another try."""
    import httpx
    import requests

    transient = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                 httpx.TransportError)
    return isinstance(exc, transient)
