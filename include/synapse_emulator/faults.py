"""Fault injection and the call log, as one ASGI middleware in front of every route.

A rule matches a request by path regex (and optionally method) and fires by count (the next N
matches) or by rate (a probability per match). What it does: answer 429 with ``Retry-After``,
answer 500/502/503, add latency, or drop the connection mid-response. By default a fault fires
*before* the route runs, so nothing changes state; ``after: true`` runs the route first and
then fails the response, which reproduces "the POST committed but the client saw a 503".
Synapse's own throttles (``throttle.py``, off unless an admin enables them) are checked first,
as Synapse's filters run before any controller; their refusals are logged as ``throttle``.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
import time
from dataclasses import dataclass, field

from synapse_emulator.throttle import Throttle, caller_key

_ACTIONS = {"status", "latency", "drop"}


@dataclass
class FaultRule:
    pattern: str
    action: str = "status"
    status: int = 503
    method: str | None = None
    count: int | None = None
    rate: float | None = None
    retry_after: int = 1
    latency_ms: int = 0
    after: bool = False
    fired: int = 0
    id: int = 0
    _regex: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.action not in _ACTIONS:
            raise ValueError(f"action must be one of {sorted(_ACTIONS)}")
        if self.count is None and self.rate is None:
            raise ValueError("a fault needs a count or a rate")
        if self.rate is not None and not 0 <= self.rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        self._regex = re.compile(self.pattern)

    def view(self) -> dict:
        return {"id": self.id, "pattern": self.pattern, "action": self.action, "status": self.status,
                "method": self.method, "count": self.count, "rate": self.rate, "retryAfter": self.retry_after,
                "latencyMs": self.latency_ms, "after": self.after, "fired": self.fired}


class FaultTable:
    """The active rules and a log of the calls served (method, path, route, status, user)."""

    def __init__(self, seed: int | None = None):
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()
        self._random = random.Random(seed)
        self._next_id = 1
        self.calls: list[dict] = []

    def add(self, spec: dict) -> FaultRule:
        rule = FaultRule(
            pattern=spec["pattern"], action=spec.get("action", "status"), status=int(spec.get("status", 503)),
            method=(spec.get("method") or None), count=spec.get("count"), rate=spec.get("rate"),
            retry_after=int(spec.get("retryAfter", 1)), latency_ms=int(spec.get("latencyMs", 0)),
            after=bool(spec.get("after", False)),
        )
        with self._lock:
            rule.id = self._next_id
            self._next_id += 1
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict]:
        with self._lock:
            return [r.view() for r in self._rules]

    def match(self, method: str, path: str) -> FaultRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if not rule._regex.search(path):
                    continue
                if rule.count is not None:
                    if rule.count <= 0:
                        continue
                    rule.count -= 1
                elif self._random.random() >= (rule.rate or 0):
                    continue
                rule.fired += 1
                return rule
        return None

    def log(self, entry: dict) -> None:
        with self._lock:
            self.calls.append(entry)


class FaultMiddleware:
    """Pure ASGI middleware: it must see the raw send channel to drop a connection."""

    def __init__(self, app, table: FaultTable, throttle: Throttle | None = None):
        self.app = app
        self.table = table
        self.throttle = throttle or Throttle()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        key = caller_key(path, scope.get("headers") or [])
        refusal = self.throttle.enter(key)
        if refusal is not None:
            self.table.log({"method": method, "path": path, "time": time.time(), "fault": "throttle",
                            "status": 429, "route": None, "user": None})
            await _send_json(send, 429, {"reason": refusal.reason}, retry_after=refusal.retry_after_s)
            return
        try:
            await self._serve(scope, receive, send, method, path)
        finally:
            self.throttle.leave(key)

    async def _serve(self, scope, receive, send, method: str, path: str) -> None:
        rule = self.table.match(method, path)
        entry = {"method": method, "path": path, "time": time.time(), "fault": rule.view()["action"] if rule else None}
        status_seen: dict = {}
        logged = False

        def log_once() -> None:
            nonlocal logged
            if not logged:
                logged = True
                route = scope.get("route")
                entry.update({"status": status_seen.get("status"), "route": getattr(route, "path", None),
                              "user": scope.get("state", {}).get("user_id")})
                self.table.log(entry)

        async def recording_send(message):
            if message["type"] == "http.response.start":
                status_seen["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                log_once()  # before the client can see the end of the response and ask for the log
            await send(message)

        try:
            if rule and rule.action == "latency":
                await asyncio.sleep(rule.latency_ms / 1000)
                rule = None
            if rule and not rule.after:
                await self._fail(rule, recording_send)
            elif rule:
                await self.app(scope, receive, _discard)
                await self._fail(rule, recording_send)
            else:
                await self.app(scope, receive, recording_send)
        finally:
            log_once()  # a response that never ended (a dropped connection, an error)

    @staticmethod
    async def _fail(rule: FaultRule, send) -> None:
        if rule.action == "drop":
            # Promise a body, send part of it, and return: the server closes the connection and
            # the client sees a truncated response, as after a dropped connection.
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
            await send({"type": "http.response.body", "body": b'{"trunc', "more_body": True})
            return
        reasons = {429: "Too many concurrent requests. Allowed 3 concurrent connections at any time."}
        body = {"reason": reasons.get(rule.status, "Service unavailable (injected fault)")}
        await _send_json(send, rule.status, body, retry_after=rule.retry_after if rule.status == 429 else None)


async def _send_json(send, status: int, body: dict, retry_after: int | None = None) -> None:
    raw = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})


async def _discard(message) -> None:
    return None
