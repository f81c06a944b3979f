"""Real Airflow for the end-to-end and browser tests: one ``airflow standalone`` for the session
(the e2e and browser tests share it), with its own center (bucket and schemas registered, a
liaison with edit access in Synapse) and three Airflow users: an admin who submits, the center's
liaison, and an outsider."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from htan_submission.datamodel import get_component
from htan_submission.dev.airflow_standalone import AirflowApi, AirflowUser, running_standalone, standalone_env
from htan_submission.dev.demo_batch import DEMO_COMPONENTS
from htan_submission.dev.moto_s3 import free_port
from htan_submission.reports.batch import run_report_dir
from htan_submission.synapse.client import SynapseTarget, connect
from htan_submission.transfer import register_storage
from tests.conftest import SynapseUser
from tests.integration.test_transfer_world import make_world


@dataclass
class E2EWorld:
    center: object  # tests.integration.test_transfer_world's world: center, bucket, s3, files, seeded
    liaison: SynapseUser
    organization: str


@dataclass
class E2EAirflow:
    api: AirflowApi
    home: Path
    dag_id: str
    admin: AirflowUser
    liaison: AirflowUser
    outsider: AirflowUser

    def report_html(self, run_id: str) -> str:
        """The run's batch report as the run left it in the reports folder."""
        return (run_report_dir(self.dag_id, run_id, self.home / "reports") / "report.html").read_text()


@pytest.fixture(scope="session")
def world(emulator, moto_s3, tmp_path_factory) -> E2EWorld:
    from synapseclient.extensions.curator import register_jsonschema
    from synapseclient.models import Organization

    def make_user(prefix: str = "user", **flags) -> SynapseUser:
        name = f"{prefix}_{uuid.uuid4().hex[:6]}"
        token = f"tok-{uuid.uuid4().hex}"
        user = emulator.admin.add_user(name, token, **flags)
        return SynapseUser(user_name=name, token=token, owner_id=user["ownerId"])

    center_world = make_world(emulator, moto_s3, make_user)
    register_storage(center_world.center, center_world.files, center_world.s3)
    liaison = make_user(prefix="liaison")
    emulator.admin.grant(center_world.seeded.ingest_folder_id, liaison.user_name, "edit")
    org = f"HTAN2Organization{uuid.uuid4().hex[:8]}"
    dcc = make_user(prefix="dcc")
    syn = connect(SynapseTarget(endpoint=emulator.base_url, token=dcc.token),
                  str(tmp_path_factory.mktemp("dcc-cache")))
    Organization(name=org).store(synapse_client=syn)
    for name in DEMO_COMPONENTS:
        component = get_component(name)
        register_jsonschema(schema_path=str(component.path), organization_name=org, schema_name=name,
                            schema_version=component.version, synapse_client=syn)
    return E2EWorld(center=center_world, liaison=liaison, organization=org)


@pytest.fixture(scope="session")
def airflow(world: E2EWorld, emulator, moto_s3, tmp_path_factory) -> E2EAirflow:
    """``airflow standalone`` in a fresh AIRFLOW_HOME with this module's center only."""
    center_world = world.center
    home = tmp_path_factory.mktemp("airflow-home")
    centers = home / "centers.yaml"
    centers.write_text(yaml.safe_dump({"centers": {center_world.center.center_id: {
        "name": center_world.center.name, "synapse_project_id": center_world.center.synapse_project_id,
        "s3": {"bucket": center_world.bucket, "prefix": center_world.center.s3.prefix},
        "liaisons": [world.liaison.user_name], "discovery_schedule": None}}}))
    admin = AirflowUser.with_random_password("submitter", "admin")
    liaison = AirflowUser.with_random_password(world.liaison.user_name, "user")
    outsider = AirflowUser.with_random_password("outsider", "user")
    env = standalone_env(home, free_port(), users=[admin, liaison, outsider], connections={
        "synapse_default": {"conn_type": "synapse", "host": emulator.base_url,
                            "password": center_world.user.token},
        "htan_signoff": {"conn_type": "generic", "password": "e2e-signing-key"}},
        extra={"AIRFLOW_CONN_AWS_DEFAULT": moto_s3.airflow_conn_uri(),
               "HTAN_CENTERS_FILE": str(centers), "HTAN_REPORTS_DIR": str(home / "reports"),
               "HTAN_SCHEMA_ORGANIZATION": world.organization, "HTAN_SIGNOFF_POLL_SECONDS": "2"})
    dag_id = center_world.center.dag_id
    with running_standalone(home, env, [admin, liaison, outsider],
                            wait_for_dags=[dag_id, "htan_liaison_review"]) as api:
        yield E2EAirflow(api=api, home=home, dag_id=dag_id, admin=admin, liaison=liaison, outsider=outsider)
