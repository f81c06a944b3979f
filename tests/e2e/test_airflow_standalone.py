"""Real Airflow, end to end: ``airflow standalone`` (SQLite, LocalExecutor, scheduler, triggerer,
dag-processor, api-server) runs the repo's DAGs against moto S3 and the Synapse emulator.

Runs are triggered through the REST API as the submitter. One run is approved through the review
DAG (triggered as the liaison, after an outsider's attempt that must not count); one is rejected
by the liaison in Synapse (annotations on the report entity): both routes of the sign-off."""

from __future__ import annotations

import re
import uuid

import pytest

from htan_submission.dev.airflow_standalone import SENSOR_WAITING, wait_for
from htan_submission.dev.demo_batch import build_demo_batch, upload_batch
from htan_submission.synapse.client import SynapseTarget
from htan_submission.synapse.files import SynapseFiles
from htan_submission.synapse.records import get_annotations, put_annotations
from htan_submission.synapse.reports import report_entity_name

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("airflow_standalone")]  # one standalone: one worker
REVIEW_DAG = "htan_liaison_review"


def _review(airflow, user, *, run_id: str, batch: str, decision: str, comment: str) -> str:
    """The liaison's part in the Airflow UI: the review DAG's form, submitted as ``user``."""
    review = airflow.api.trigger(REVIEW_DAG, {"center": airflow.dag_id.split("__", 1)[1], "run_id": run_id,
                                              "batch": batch, "decision": decision, "comment": comment},
                                 user=user.name)
    return airflow.api.wait_for_run(REVIEW_DAG, review, user=user.name)


def _decide_in_synapse(endpoint: str, liaison, folder_id: str, name: str, decision: str, comment: str) -> str:
    """The liaison's part in Synapse: annotate this run's report entity."""
    files = SynapseFiles.login(SynapseTarget(endpoint=endpoint, token=liaison.token))

    def report_entity():
        reports = files.child_id(folder_id, "_reports")
        return files.child_id(reports, name) if reports else None

    entity = wait_for("the report in Synapse", report_entity, 600)
    current = get_annotations(files, entity)
    put_annotations(files, entity, current["etag"], {
        "liaison_decision": {"type": "STRING", "value": [decision]},
        "liaison_comment": {"type": "STRING", "value": [comment]}})
    return entity


def test_a_run_approved_in_the_review_form_lands_files_and_records(airflow, world, tmp_path):
    center_world, api, submitter = world.center, airflow.api, airflow.admin.name
    root = build_demo_batch(tmp_path / "batch", slide_size=(512, 384))
    url = upload_batch(center_world.s3, root, center_world.bucket, center_world.batch_prefix)
    run_id = api.trigger(airflow.dag_id, {"batch": url, "note": "e2e approve"}, user=submitter)
    api.wait_for_task(airflow.dag_id, run_id, "liaison_signoff", SENSOR_WAITING, user=submitter)

    assert _review(airflow, airflow.outsider, run_id=run_id, batch=url, decision="approved",
                   comment="not mine to approve") == "failed"  # recorded, does not count
    assert api.run_state(airflow.dag_id, run_id, user=submitter) == "running"
    assert _review(airflow, airflow.liaison, run_id=run_id, batch=url, decision="approved", comment="fine") \
        == "success"
    assert api.wait_for_run(airflow.dag_id, run_id, user=submitter) == "success"

    fastqs = center_world.files.list_children(center_world.seeded.folders["v1_ingest/scRNA_seq/Level_1"])
    assert len(fastqs) == 4
    annotations = center_world.files.rest.get(f"/entity/{fastqs[0]['id']}/annotations2")["annotations"]
    assert annotations["LIBRARY_LAYOUT"] == {"type": "STRING", "value": ["Paired-end"]}
    demographics = center_world.files.list_children(center_world.seeded.folders["v1_ingest/Clinical/Demographics"],
                                                    ("recordset",))
    assert [r["name"] for r in demographics] == ["Demographics"]
    report = airflow.report_html(run_id)
    audit = report[report.index('id="audit"'):]
    assert "outsider via airflow" in audit and "ignored: outsider is not a liaison" in audit
    assert f"{airflow.liaison.name} via airflow" in audit and "accepted, stands" in audit


def test_a_run_rejected_in_synapse_transfers_nothing(airflow, world, emulator, tmp_path):
    center_world, api, submitter = world.center, airflow.api, airflow.admin.name
    root = build_demo_batch(tmp_path / "batch", slide_size=(512, 384))
    for manifest in ("scRNALevel1.csv", "DigitalPathologyData.csv"):  # new data file IDs: the first run's
        path = root / manifest                                           # are in Synapse already (validation
        path.write_text(re.sub(r"_D(\d)", r"_D9\1", path.read_text()))  # would stop this batch)
    url = upload_batch(center_world.s3, root, center_world.bucket, f"batches/rejected-{uuid.uuid4().hex[:6]}")
    level1 = center_world.seeded.folders["v1_ingest/scRNA_seq/Level_1"]
    before = {c["name"] for c in center_world.files.list_children(level1)}
    run_id = api.trigger(airflow.dag_id, {"batch": url, "note": "e2e reject"}, user=submitter)
    _decide_in_synapse(emulator.base_url, world.liaison, center_world.seeded.ingest_folder_id,
                       report_entity_name(center_world.center.center_id, run_id), "rejected", "wrong participant IDs")
    assert api.wait_for_run(airflow.dag_id, run_id, user=submitter) == "failed"
    states = api.task_states(airflow.dag_id, run_id, user=submitter)
    assert states["liaison_signoff"] == "failed"
    signoff = api.call("GET", f"/dags/{airflow.dag_id}/dagRuns/{run_id}/taskInstances/liaison_signoff", submitter)
    assert signoff["try_number"] == 1  # a rejection is final: never retried
    assert {states[t] for t in ("plan", "copy", "attach_metadata", "verify", "summary")} == {"upstream_failed"}
    assert {c["name"] for c in center_world.files.list_children(level1)} == before
    report = airflow.report_html(run_id)
    assert "rejected (accepted, stands) — “wrong participant IDs”" in report
