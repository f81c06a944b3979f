"""The whole submission DAG in ``dag.test()``: the demo batch from moto S3 into the emulator with
its metadata, past every step. The liaison's approval is marked (the sign-off sensor and trigger
are proven in tests/integration/test_signoff_sensor_trigger.py and the review DAG's tests)."""

from __future__ import annotations

import json
import uuid

import pytest
import yaml

from htan_submission.datamodel import get_component
from htan_submission.dev.demo_batch import build_demo_batch, upload_batch
from htan_submission.transfer import register_storage
from tests.dags.test_submission_dag import TASKS, _build, _connect, _task_states
from tests.integration.test_transfer_world import make_world

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("mode", ["index", "copy"])
def test_demo_batch_lands_in_synapse_with_metadata_verified(mode, airflow_db, emulator, moto_s3, make_user,
                                                            syn_for, tmp_path, monkeypatch):
    from synapseclient.extensions.curator import register_jsonschema
    from synapseclient.models import Organization

    world = make_world(emulator, moto_s3, make_user)
    register_storage(world.center, world.files, world.s3)
    org = f"HTAN2Organization{uuid.uuid4().hex[:8]}"
    dcc = syn_for(make_user(prefix="dcc"))
    Organization(name=org).store(synapse_client=dcc)
    for name in ("Demographics", "VitalStatus", "BiospecimenData", "scRNALevel1", "DigitalPathologyData"):
        component = get_component(name)
        register_jsonschema(schema_path=str(component.path), organization_name=org, schema_name=name,
                            schema_version=component.version, synapse_client=dcc)
    centers = tmp_path / "centers.yaml"
    centers.write_text(yaml.safe_dump({"centers": {world.center.center_id: {
        "name": world.center.name, "synapse_project_id": world.center.synapse_project_id,
        "s3": {"bucket": world.bucket, "prefix": world.center.s3.prefix}, "liaisons": ["nobody"]}}}))
    monkeypatch.setenv("HTAN_CENTERS_FILE", str(centers))
    monkeypatch.setenv("HTAN_SCHEMA_ORGANIZATION", org)
    monkeypatch.setenv("HTAN_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto_s3.airflow_conn_uri())
    _connect(monkeypatch, emulator, world.user.token)
    root = build_demo_batch(tmp_path / "batch", slide_size=(512, 384))
    url = upload_batch(world.s3, root, world.bucket, world.batch_prefix)

    dag_run = _build(world.center).test(run_conf={"batch": url, "transfer_mode": mode},
                                        mark_success_pattern="liaison_signoff")
    assert _task_states(dag_run) == {task: "success" for task in TASKS}
    ti = dag_run.get_task_instances()[0]
    summary = ti.xcom_pull(task_ids="summary")
    assert summary["transfer"]["files"]["created"] == 5
    verify = ti.xcom_pull(task_ids="verify")
    assert verify["invalid"] == 0 and verify["checked"] >= 8
    folder = world.seeded.folders["v1_ingest/scRNA_seq/Level_1"]
    fastqs = world.files.list_children(folder)
    assert len(fastqs) == 4
    annotations = world.files.rest.get(f"/entity/{fastqs[0]['id']}/annotations2")["annotations"]
    assert annotations["FILE_FORMAT"] == {"type": "STRING", "value": ["fastq.gz"]}
    records = ti.xcom_pull(task_ids="attach_metadata")["record_sets"]
    assert {r["component"] for r in records} == {"Demographics", "VitalStatus", "BiospecimenData"}
    assert json.loads((next((tmp_path / "reports").glob("*/*/summary.json"))).read_text())["batch"] == url
