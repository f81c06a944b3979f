"""Real Airflow, end to end: ``airflow standalone`` (SQLite, LocalExecutor, scheduler, triggerer,
dag-processor, api-server) runs the repo's DAGs against moto S3 and the Synapse emulator. Runs are
triggered through the REST API; the liaison decides in Synapse (annotations on the report)."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import yaml

from htan_submission.datamodel import get_component
from htan_submission.dev.demo_batch import DEMO_COMPONENTS, build_demo_batch, upload_batch
from htan_submission.synapse.client import SynapseTarget
from htan_submission.synapse.files import SynapseFiles
from htan_submission.synapse.records import get_annotations, put_annotations
from htan_submission.synapse.reports import report_entity_name
from htan_submission.transfer import register_storage
from tests.conftest import REPO
from tests.integration.test_transfer_world import make_world

pytestmark = pytest.mark.e2e
DEADLINE_S = 600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, deadline_s: float = DEADLINE_S, every_s: float = 1.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        result = check()
        if result:
            return result
        time.sleep(every_s)  # polling a real server with a deadline, not synchronisation by sleep
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def world(emulator, moto_s3, tmp_path_factory):
    """A center of its own: bucket registered, schemas registered, a liaison with edit access."""
    from synapseclient.extensions.curator import register_jsonschema
    from synapseclient.models import Organization

    from tests.conftest import SynapseUser

    def make_user(prefix: str = "user", **flags):
        name = f"{prefix}_{uuid.uuid4().hex[:6]}"
        token = f"tok-{uuid.uuid4().hex}"
        user = emulator.admin.add_user(name, token, **flags)
        return SynapseUser(user_name=name, token=token, owner_id=user["ownerId"])

    world = make_world(emulator, moto_s3, make_user)
    register_storage(world.center, world.files, world.s3)
    liaison = make_user(prefix="liaison")
    emulator.admin.grant(world.seeded.ingest_folder_id, liaison.user_name, "edit")
    org = f"HTAN2Organization{uuid.uuid4().hex[:8]}"
    dcc = make_user(prefix="dcc")
    from htan_submission.synapse.client import connect

    syn = connect(SynapseTarget(endpoint=emulator.base_url, token=dcc.token),
                  str(tmp_path_factory.mktemp("dcc-cache")))
    Organization(name=org).store(synapse_client=syn)
    for name in DEMO_COMPONENTS:
        component = get_component(name)
        register_jsonschema(schema_path=str(component.path), organization_name=org, schema_name=name,
                            schema_version=component.version, synapse_client=syn)
    return world, liaison, org


@pytest.fixture(scope="module")
def airflow(world, emulator, moto_s3, tmp_path_factory):
    """``airflow standalone`` in a fresh AIRFLOW_HOME; yields (base URL, bearer headers, env)."""
    center_world, liaison, org = world
    home = tmp_path_factory.mktemp("airflow-home")
    centers = home / "centers.yaml"
    centers.write_text(yaml.safe_dump({"centers": {center_world.center.center_id: {
        "name": center_world.center.name, "synapse_project_id": center_world.center.synapse_project_id,
        "s3": {"bucket": center_world.bucket, "prefix": center_world.center.s3.prefix},
        "liaisons": [liaison.user_name], "discovery_schedule": None}}}))
    port = _free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
           "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
           "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
           "AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL": "5", "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
           "HTAN_CENTERS_FILE": str(centers), "HTAN_REPORTS_DIR": str(home / "reports"),
           "HTAN_SCHEMA_ORGANIZATION": org, "HTAN_SIGNOFF_POLL_SECONDS": "2",
           "AIRFLOW_CONN_SYNAPSE_DEFAULT": json.dumps({"conn_type": "synapse", "host": emulator.base_url,
                                                       "password": center_world.user.token}),
           "AIRFLOW_CONN_AWS_DEFAULT": moto_s3.airflow_conn_uri(),
           "AIRFLOW_CONN_HTAN_SIGNOFF": json.dumps({"conn_type": "generic", "password": "e2e-signing-key"})}
    airflow_bin = str(Path(sys.executable).with_name("airflow"))
    subprocess.run([airflow_bin, "db", "migrate"], env=env, check=True, capture_output=True)
    subprocess.run([airflow_bin, "pools", "set", "synapse_api", "3", "Synapse calls"], env=env, check=True,
                   capture_output=True)
    log = (home / "standalone.log").open("w")
    process = subprocess.Popen([airflow_bin, "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        def token():
            if process.poll() is not None:
                raise AssertionError(f"airflow standalone exited: see {home / 'standalone.log'}")
            try:
                reply = httpx.get(f"{base}/auth/token", timeout=5)
            except httpx.HTTPError:
                return None
            return reply.json().get("access_token") if reply.status_code in (200, 201) else None

        headers = {"Authorization": f"Bearer {_wait('the api-server', token, 240)}"}
        dag_id = center_world.center.dag_id

        def dag_parsed():
            reply = httpx.get(f"{base}/api/v2/dags/{dag_id}", headers=headers, timeout=10)
            return reply.status_code == 200

        _wait(f"{dag_id} parsed", dag_parsed, 240)
        httpx.patch(f"{base}/api/v2/dags/{dag_id}", json={"is_paused": False}, headers=headers,
                    timeout=10).raise_for_status()
        yield base, headers, dag_id
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _decide(endpoint: str, liaison, folder_id: str, name: str, decision: str, comment: str) -> str:
    """The liaison's part: annotate this run's report entity in Synapse."""
    files = SynapseFiles.login(SynapseTarget(endpoint=endpoint, token=liaison.token))

    def report_entity():
        reports = files.child_id(folder_id, "_reports")
        return files.child_id(reports, name) if reports else None

    entity = _wait("the report in Synapse", report_entity)
    current = get_annotations(files, entity)
    put_annotations(files, entity, current["etag"], {
        "liaison_decision": {"type": "STRING", "value": [decision]},
        "liaison_comment": {"type": "STRING", "value": [comment]}})
    return entity


def _trigger(base, headers, dag_id, conf) -> str:
    reply = httpx.post(f"{base}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf},
                       headers=headers, timeout=30)
    reply.raise_for_status()
    return reply.json()["dag_run_id"]


def _finished(base, headers, dag_id, run_id) -> str:
    def state():
        reply = httpx.get(f"{base}/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=headers, timeout=10)
        value = reply.json().get("state")
        return value if value in ("success", "failed") else None

    return _wait(f"run {run_id}", state, DEADLINE_S, every_s=2)


def test_a_run_approved_in_synapse_lands_files_and_records(airflow, world, emulator, moto_s3, tmp_path):
    base, headers, dag_id = airflow
    center_world, liaison, _ = world
    root = build_demo_batch(tmp_path / "batch", slide_size=(512, 384))
    url = upload_batch(center_world.s3, root, center_world.bucket, center_world.batch_prefix)
    run_id = _trigger(base, headers, dag_id, {"batch": url, "note": "e2e approve"})
    _decide(emulator.base_url, liaison, center_world.seeded.ingest_folder_id,
            report_entity_name(center_world.center.center_id, run_id), "approved", "fine")
    assert _finished(base, headers, dag_id, run_id) == "success"
    fastqs = center_world.files.list_children(center_world.seeded.folders["v1_ingest/scRNA_seq/Level_1"])
    assert len(fastqs) == 4
    annotations = center_world.files.rest.get(f"/entity/{fastqs[0]['id']}/annotations2")["annotations"]
    assert annotations["LIBRARY_LAYOUT"] == {"type": "STRING", "value": ["Paired-end"]}
    demographics = center_world.files.list_children(center_world.seeded.folders["v1_ingest/Clinical/Demographics"],
                                                    ("recordset",))
    assert [r["name"] for r in demographics] == ["Demographics"]


def _task_states(base, headers, dag_id, run_id) -> dict[str, str]:
    reply = httpx.get(f"{base}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances", headers=headers, timeout=10)
    return {t["task_id"]: t["state"] for t in reply.json()["task_instances"]}


def test_a_rejected_run_transfers_nothing(airflow, world, emulator, tmp_path):
    base, headers, dag_id = airflow
    center_world, liaison, _ = world
    root = build_demo_batch(tmp_path / "batch", slide_size=(512, 384))
    for manifest in ("scRNALevel1.csv", "DigitalPathologyData.csv"):  # new data file IDs: the first run's
        path = root / manifest                                           # are in Synapse already (validation
        path.write_text(re.sub(r"_D(\d)", r"_D9\1", path.read_text()))  # would stop this batch)
    url = upload_batch(center_world.s3, root, center_world.bucket, f"batches/rejected-{uuid.uuid4().hex[:6]}")
    before = {c["name"] for c in center_world.files.list_children(center_world.seeded.folders[
        "v1_ingest/scRNA_seq/Level_1"])}
    run_id = _trigger(base, headers, dag_id, {"batch": url, "note": "e2e reject"})
    _decide(emulator.base_url, liaison, center_world.seeded.ingest_folder_id,
            report_entity_name(center_world.center.center_id, run_id), "rejected", "wrong participant IDs")
    assert _finished(base, headers, dag_id, run_id) == "failed"
    states = _task_states(base, headers, dag_id, run_id)
    assert states["liaison_signoff"] == "failed"
    assert {states[t] for t in ("plan", "copy", "attach_metadata", "verify", "summary")} == {"upstream_failed"}
    after = {c["name"] for c in center_world.files.list_children(center_world.seeded.folders[
        "v1_ingest/scRNA_seq/Level_1"])}
    assert after == before
