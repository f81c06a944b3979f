"""``airflow standalone`` on SQLite for ``make demo`` and the end-to-end tests, and a small client
of its REST API.

Both need the same things: a fresh ``AIRFLOW_HOME`` with the repo's DAGs and plugin, named users
with known passwords (the review DAG takes the liaison's identity from the logged-in user, so
"everyone is admin" would defeat the point), the ``synapse_api`` pool, and a way to wait for a run
or a task through ``/api/v2``. Airflow's own ``airflow.sdk``/client packages talk to the execution
API, not the public one, so the few public calls are written here with httpx.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

REPO = Path(__file__).resolve().parents[3]
FINISHED = ("success", "failed")
SENSOR_WAITING = ("deferred", "running", "up_for_reschedule")  # a sensor waiting, with or without a worker
T = TypeVar("T")


@dataclass(frozen=True)
class AirflowUser:
    """A Simple Auth Manager user: ``role`` is viewer, user, op or admin."""

    name: str
    role: str
    password: str = field(repr=False)  # never in a test's failure output

    @classmethod
    def with_random_password(cls, name: str, role: str) -> AirflowUser:
        return cls(name, role, secrets.token_urlsafe(12))


def wait_for(what: str, check: Callable[[], T | None], deadline_s: float, every_s: float = 1.0) -> T:
    """Poll ``check`` until it returns something truthy; TimeoutError naming ``what`` on timeout."""
    end = time.monotonic() + deadline_s
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > end:
            raise TimeoutError(f"timed out after {deadline_s:.0f} s waiting for {what}")
        time.sleep(every_s)  # polling a real server with a deadline


def standalone_env(home: Path, port: int, *, users: list[AirflowUser], connections: dict[str, dict[str, Any]],
                   extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every Airflow process: SQLite in ``home``, the repo's DAGs and plugin,
    the users (passwords in ``home``), and ``AIRFLOW_CONN_*`` for ``connections``."""
    env = {**os.environ,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "AIRFLOW_HOME": str(home),
           "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
           "AIRFLOW__API__HOST": "127.0.0.1",
           "AIRFLOW__API__PORT": str(port),
           "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u.name}:{u.role}" for u in users),
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
           "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5",
           "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5"}
    for conn_id, fields in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(fields)
    env.update(extra or {})
    return env


@dataclass
class AirflowApi:
    """The public REST API (``/api/v2``) of a running Airflow, as one of its users."""

    base_url: str
    users: dict[str, AirflowUser]
    _tokens: dict[str, str] = field(default_factory=dict, repr=False)

    def headers(self, user: str) -> dict[str, str]:
        if user not in self._tokens:
            person = self.users[user]
            reply = httpx.post(f"{self.base_url}/auth/token", json={"username": person.name,
                                                                     "password": person.password}, timeout=10)
            reply.raise_for_status()
            self._tokens[user] = reply.json()["access_token"]
        return {"Authorization": f"Bearer {self._tokens[user]}"}

    def call(self, method: str, path: str, user: str, **kwargs: Any) -> Any:
        reply = httpx.request(method, f"{self.base_url}/api/v2{path}", headers=self.headers(user),
                              timeout=30, **kwargs)
        reply.raise_for_status()
        return reply.json() if reply.content else None

    def trigger(self, dag_id: str, conf: dict[str, Any], *, user: str) -> str:
        """A manual run now (``logical_date`` null, as the UI's trigger form does); returns its id."""
        return self.call("POST", f"/dags/{dag_id}/dagRuns", user,
                         json={"logical_date": None, "conf": conf})["dag_run_id"]

    def unpause(self, dag_id: str, *, user: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", user, json={"is_paused": False})

    def run_state(self, dag_id: str, run_id: str, *, user: str) -> str:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}", user)["state"]

    def task_states(self, dag_id: str, run_id: str, *, user: str) -> dict[str, str]:
        found = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", user)["task_instances"]
        return {t["task_id"]: t["state"] for t in found}

    def wait_for_run(self, dag_id: str, run_id: str, *, user: str, deadline_s: float = 600) -> str:
        """The run's final state (success or failed)."""
        def final() -> str | None:
            state = self.run_state(dag_id, run_id, user=user)
            return state if state in FINISHED else None

        return wait_for(f"run {run_id} of {dag_id}", final, deadline_s, every_s=2)

    def wait_for_task(self, dag_id: str, run_id: str, task_id: str, states: tuple[str, ...], *, user: str,
                      deadline_s: float = 600) -> str:
        """Wait until ``task_id`` is in one of ``states`` (or the run finished); returns its state."""
        def reached() -> str | None:
            state = self.task_states(dag_id, run_id, user=user).get(task_id)
            if state in states:
                return state
            if self.run_state(dag_id, run_id, user=user) in FINISHED:
                raise RuntimeError(f"{dag_id} run {run_id} finished before {task_id} reached {'/'.join(states)}")
            return None

        return wait_for(f"{task_id} of run {run_id}", reached, deadline_s, every_s=2)


@contextmanager
def running_standalone(home: Path, env: dict[str, str], users: list[AirflowUser], *, wait_for_dags: list[str],
                       pools: dict[str, int] | None = None, log_file: Path | None = None,
                       startup_s: float = 300) -> Iterator[AirflowApi]:
    """Migrate the database, create the pools, start ``airflow standalone``, wait until the API
    answers and ``wait_for_dags`` are parsed, unpause them; stop everything when the block ends."""
    home.mkdir(parents=True, exist_ok=True)
    (home / "passwords.json").write_text(json.dumps({u.name: u.password for u in users}))
    (home / "passwords.json").chmod(0o600)
    airflow = str(Path(sys.executable).with_name("airflow"))
    migrate = subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, text=True)
    if migrate.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{migrate.stderr[-3000:]}")
    for pool, slots in (pools or {"synapse_api": 3}).items():
        subprocess.run([airflow, "pools", "set", pool, str(slots), "Synapse-bound tasks"], env=env, check=True,
                       capture_output=True)
    log_path = log_file or home / "standalone.log"
    with log_path.open("w") as log:
        process = subprocess.Popen([airflow, "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        api = AirflowApi(base_url=env["AIRFLOW__API__BASE_URL"], users={u.name: u for u in users})
        admin = next(u.name for u in users if u.role == "admin")
        try:
            def api_up() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(f"airflow standalone exited ({process.returncode}): see {log_path}")
                try:
                    api.headers(admin)
                except httpx.HTTPError:
                    return False
                return True

            wait_for("the Airflow API server", api_up, startup_s)
            for dag_id in wait_for_dags:
                wait_for(f"{dag_id} to be parsed", lambda d=dag_id: _dag_known(api, d, admin), startup_s)
                api.unpause(dag_id, user=admin)
            yield api
        finally:
            _stop(process)


def _dag_known(api: AirflowApi, dag_id: str, user: str) -> bool:
    try:
        api.call("GET", f"/dags/{dag_id}", user)
    except httpx.HTTPStatusError as exc:
        if exc.response.status_code == 404:
            return False
        raise
    return True


def _stop(process: subprocess.Popen) -> None:
    """Stop standalone and every process it started (its own process group): SIGTERM, a grace
    period, then SIGKILL for whatever is left in the group."""
    import signal

    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
