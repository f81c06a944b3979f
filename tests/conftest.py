"""Fixtures shared by every test: real servers on loopback, started once per session.

- ``moto_s3``: moto's S3 in server mode (a separate process, real HTTP).
- ``emulator``: the Synapse emulator (a separate process, real HTTP), configured to reach moto
  for external storage locations.
- ``synapse_user`` / ``make_user``: a fresh user with its own token for each test, so tests never
  share state through a user.
- ``syn_for``: a logged-in real synapseclient for a user, built by the project's own door
  (``htan_submission.synapse.client``).
"""

from __future__ import annotations

import itertools
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
# Airflow reads its configuration once, at first import: pin it here, before any test module
# imports airflow, so tests never touch a developer's own AIRFLOW_HOME. One per pytest-xdist
# worker: each has its own SQLite database.
AIRFLOW_HOME = REPO / ".airflow-test" / os.environ.get("PYTEST_XDIST_WORKER", "main")
AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
os.environ.update({
    "AIRFLOW_HOME": str(AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{AIRFLOW_HOME}/airflow.db",
})
_counter = itertools.count(1)


@pytest.fixture(scope="session")
def service_logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("service-logs")


@pytest.fixture(scope="session")
def moto_s3(service_logs):
    from htan_submission.dev.moto_s3 import running_moto

    with running_moto(log_file=str(service_logs / "moto.log")) as moto:
        yield moto


@pytest.fixture(scope="session")
def emulator(moto_s3, service_logs):
    from synapse_emulator.launch import running_emulator

    with running_emulator(s3_endpoint_url=moto_s3.endpoint_url, log_file=str(service_logs / "emulator.log")) as emu:
        yield emu


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database (SQLite), migrated once per session."""
    import subprocess
    import sys

    subprocess.run([str(Path(sys.executable).with_name("airflow")), "db", "migrate"], check=True,
                   capture_output=True, env=os.environ.copy(), timeout=600)
    return AIRFLOW_HOME


@pytest.fixture
def every_call_served(emulator):
    """Fail a test whose client made a call the emulator has no route for (a silent 404)."""
    import time

    started = time.time()
    yield
    unserved = [f"{c['method']} {c['path']}" for c in emulator.admin.calls()
                if c["time"] >= started and c["route"] is None and c["fault"] is None]
    assert not unserved, f"calls the emulator does not serve: {unserved}"


@dataclass
class SynapseUser:
    user_name: str
    token: str
    owner_id: str


@pytest.fixture
def make_user(emulator):
    """Create users with chosen gates: ``make_user(certified=False)``."""

    def _make(certified: bool = True, two_factor: bool = True, tos: bool = True, prefix: str = "user") -> SynapseUser:
        name = f"{prefix}{next(_counter)}_{uuid.uuid4().hex[:6]}"
        token = f"tok-{uuid.uuid4().hex}"
        user = emulator.admin.add_user(name, token, certified=certified, two_factor=two_factor, tos=tos)
        return SynapseUser(user_name=name, token=token, owner_id=user["ownerId"])

    return _make


@pytest.fixture
def synapse_user(make_user) -> SynapseUser:
    return make_user()


@pytest.fixture
def syn_for(emulator, tmp_path):
    """A logged-in real synapseclient for a user, against the emulator."""
    from htan_submission.synapse.client import SynapseTarget, connect

    def _syn(user: SynapseUser):
        cache = tmp_path / f"cache-{user.user_name}"
        cache.mkdir(exist_ok=True)
        return connect(SynapseTarget(endpoint=emulator.base_url, token=user.token), cache_dir=str(cache))

    return _syn


@pytest.fixture
def syn(syn_for, synapse_user):
    return syn_for(synapse_user)


_project_numbers = itertools.count(90000001)


@pytest.fixture
def seeded_center(emulator, synapse_user):
    """A center of its own (own project id) seeded as the DCC would, with ``synapse_user`` as
    its submitter; returns (Center, SeededCenter)."""
    from htan_submission.config import Center, S3Location
    from htan_submission.dev.demo_world import seed_center

    center = Center(center_id="HTA200", name="Test Center", synapse_project_id=f"syn{next(_project_numbers)}",
                    s3=S3Location(bucket="unused"), liaisons=("liaison",))
    return center, seed_center(emulator.admin, center, submitter=synapse_user.user_name)


@pytest.fixture
def s3_bucket(moto_s3):
    """A fresh, empty bucket in moto for one test."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    moto_s3.client().create_bucket(Bucket=name)
    return name


@pytest.fixture
def faults(emulator):
    """The emulator's admin client for injecting faults; every rule is removed when the test
    ends, whatever happened."""
    emulator.admin.clear_faults()
    yield emulator.admin
    emulator.admin.clear_faults()
