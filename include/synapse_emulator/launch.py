"""Start the emulator as a real server process and drive its admin API.

Used by the pytest fixtures and by ``make demo``: the emulator runs in its own process on a
loopback port, and clients (synapseclient, Airflow) reach it over HTTP exactly as they would
reach synapse.org.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx

READY_PREFIX = "synapse_emulator listening on "


@dataclass
class EmulatorAdmin:
    """A thin client for the ``/_emulator`` admin routes."""

    base_url: str
    _client: httpx.Client | None = field(default=None, init=False, repr=False, compare=False)

    def _call(self, method: str, path: str, **kwargs) -> httpx.Response:
        # One pooled client: ``httpx.request`` builds a client (and its TLS context) per call,
        # about 60 ms each, which made tests that read back many entities crawl.
        if self._client is None:
            self._client = httpx.Client(timeout=30)
        response = self._client.request(method, f"{self.base_url}/_emulator{path}", **kwargs)
        response.raise_for_status()
        return response

    def add_user(self, user_name: str, token: str, certified: bool = True, two_factor: bool = True,
                 tos: bool = True, email: str | None = None) -> dict:
        body = {"userName": user_name, "token": token, "certified": certified, "twoFactor": two_factor, "tos": tos}
        if email:
            body["email"] = email
        return self._call("POST", "/users", json=body).json()

    def users(self) -> list[dict]:
        return self._call("GET", "/users").json()

    def set_user_flags(self, user_name: str, **flags: bool) -> dict:
        return self._call("PATCH", f"/users/{user_name}", json=flags).json()

    def seed_entity(self, owner: str, concrete_type: str, name: str, parent_id: str | None = None,
                    entity_id: str | None = None) -> dict:
        body = {"owner": owner, "concreteType": f"org.sagebionetworks.repo.model.{concrete_type}", "name": name,
                "parentId": parent_id}
        if entity_id:
            body["id"] = entity_id
        return self._call("POST", "/entities", json=body).json()

    def grant(self, entity_id: str, principal: str, access: str | list[str] = "edit") -> dict:
        body = {"principal": principal, "access": access}
        return self._call("POST", f"/entities/{entity_id}/grant", json=body).json()

    def entity(self, entity_id: str) -> dict:
        return self._call("GET", f"/entities/{entity_id}").json()

    def file_handle(self, handle_id: str) -> dict:
        return self._call("GET", f"/filehandles/{handle_id}").json()

    def file_content(self, handle_id: str) -> bytes:
        return self._call("GET", f"/filehandles/{handle_id}/content").content

    def add_fault(self, pattern: str, **spec) -> dict:
        return self._call("POST", "/faults", json={"pattern": pattern, **spec}).json()

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults").json()

    def set_throttle(self, max_concurrent: int = 3, max_requests: int = 600, window_s: float = 60) -> dict:
        """Enforce Synapse's per-user throttles (429 + Retry-After) until ``clear_throttle``."""
        body = {"maxConcurrent": max_concurrent, "maxRequests": max_requests, "windowSeconds": window_s}
        return self._call("PUT", "/throttle", json=body).json()

    def throttle(self) -> dict:
        return self._call("GET", "/throttle").json()

    def clear_throttle(self) -> None:
        self._call("DELETE", "/throttle")

    def calls(self) -> list[dict]:
        return self._call("GET", "/calls").json()

    def clear_calls(self) -> None:
        self._call("DELETE", "/calls")

    def state(self) -> dict:
        return self._call("GET", "/state").json()

    def reset(self) -> None:
        self._call("POST", "/reset")


@dataclass
class RunningEmulator:
    base_url: str
    process: subprocess.Popen
    admin: EmulatorAdmin


@contextmanager
def running_emulator(
    host: str = "127.0.0.1",
    port: int = 0,
    state: str | None = None,
    seed_users: list[str] | None = None,
    s3_endpoint_url: str | None = None,
    log_file: str | None = None,
) -> Iterator[RunningEmulator]:
    """Run ``python -m synapse_emulator`` until the block ends; wait for its ready line."""
    command = [sys.executable, "-m", "synapse_emulator", "--host", host, "--port", str(port)]
    if state:
        command += ["--state", state]
    for spec in seed_users or []:
        command += ["--seed-user", spec]
    if s3_endpoint_url:
        command += ["--s3-endpoint-url", s3_endpoint_url]
    env = {**os.environ, "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
           "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing")}
    log = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115 - closed below
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line.startswith(READY_PREFIX):
            process.kill()
            raise RuntimeError(f"synapse_emulator did not start (exit {process.wait()}): {line.strip()!r}")
        base_url = line[len(READY_PREFIX):].strip()
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=process.stdout.read, daemon=True).start()
        yield RunningEmulator(base_url=base_url, process=process, admin=EmulatorAdmin(base_url))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if log_file:
            log.close()
