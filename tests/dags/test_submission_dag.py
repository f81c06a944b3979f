"""The generated DAG runs for real (``dag.test()``) against the emulator and moto S3: preflight,
validation and the PHI scrub on the demo batch, and each failure mode stops the run where it should."""

from __future__ import annotations

import json

import pytest

from htan_submission.config import load_centers

pytestmark = pytest.mark.integration


@pytest.fixture
def center_env(monkeypatch, tmp_path, emulator, seeded_center):
    """A centers.yaml naming the seeded project, and the synapse_default connection."""
    import yaml

    center, _ = seeded_center
    path = tmp_path / "centers.yaml"
    path.write_text(yaml.safe_dump({"centers": {center.center_id: {
        "name": center.name, "synapse_project_id": center.synapse_project_id, "s3": {"bucket": "b"}}}}))
    monkeypatch.setenv("HTAN_CENTERS_FILE", str(path))
    return center


def _connect(monkeypatch, emulator, token: str) -> None:
    conn = {"conn_type": "synapse", "host": emulator.base_url, "password": token}
    monkeypatch.setenv("AIRFLOW_CONN_SYNAPSE_DEFAULT", json.dumps(conn))


@pytest.fixture
def reports(monkeypatch, tmp_path):
    monkeypatch.setenv("HTAN_REPORTS_DIR", str(tmp_path / "reports"))
    return tmp_path / "reports"


@pytest.fixture
def demo_batch(tmp_path_factory, moto_s3, s3_bucket, monkeypatch):
    """The demo batch in moto, with AIRFLOW_CONN_AWS_DEFAULT pointing there; returns a builder."""
    from htan_submission.dev.demo_batch import build_demo_batch, upload_batch

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto_s3.airflow_conn_uri())

    def _make(faults: bool = False, edit=None) -> str:
        root = build_demo_batch(tmp_path_factory.mktemp("batch"), faults=faults)
        if edit:
            edit(root)
        return upload_batch(moto_s3.client(), root, s3_bucket, f"batches/{root.name}")

    return _make


def _build(center):
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("submission_dags_under_test", REPO / "dags" / "submission_dags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, center.dag_id)


def _task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


TASKS = ("preflight", "inventory", "validate", "scrub", "report", "dry_run_gate", "liaison_signoff", "plan", "copy",
         "attach_metadata", "verify", "summary")


def _expect(**states: str) -> dict[str, str]:
    """Every task's state: the ones named, the rest after them as ``rest`` says."""
    rest = states.pop("rest", "upstream_failed")
    return {task: states.get(task, rest) for task in TASKS}


def test_demo_batch_passes_preflight_validation_and_scrub(airflow_db, monkeypatch, emulator, center_env,
                                                          synapse_user, capfd, demo_batch, reports, moto_s3):
    from htan_submission.dev.phi_images import planted_found

    batch = demo_batch()
    _connect(monkeypatch, emulator, synapse_user.token)
    dag_run = _build(center_env).test(run_conf={"batch": batch, "dry_run": True})
    states = _task_states(dag_run)
    done = {t: "success" for t in ("preflight", "inventory", "validate", "scrub", "report", "dry_run_gate")}
    assert states == _expect(**done, rest="skipped")  # a dry run stops after the report
    ti = dag_run.get_task_instances()[0]
    validation = ti.xcom_pull(task_ids="validate")
    assert (validation["manifests"], validation["errors"]) == (5, 0)
    scrub = ti.xcom_pull(task_ids="scrub")
    assert scrub["images_cleaned"] == 1 and scrub["table_findings"] == 0
    run_dir = next(reports.glob("*/*"))
    assert {p.name for p in run_dir.iterdir()} >= {"validation.html", "validation.json", "phi_images.json",
                                                   "report.html"}
    report_step = ti.xcom_pull(task_ids="report")
    assert report_step["report_entity_id"].startswith("syn") and report_step["notified"] == ["log"]
    bucket, key = batch[5:].split("/", 1)
    slide = moto_s3.client().get_object(Bucket=bucket, Key=key + "pathology/HTA200_1_slide1.svs")["Body"].read()
    assert planted_found(slide) == []  # the header PHI is gone from the object in S3
    report = ti.xcom_pull(task_ids="preflight")
    assert report["passed"] is True
    assert report["synapse_user"] == synapse_user.user_name
    assert synapse_user.token not in json.dumps(report)
    out, err = capfd.readouterr()
    assert "Preflight for HTA200" in out + err  # the task log was captured...
    assert synapse_user.token not in out + err  # ...and holds no token


def test_uncertified_submitter_fails_preflight_without_retry(airflow_db, monkeypatch, emulator, center_env, make_user,
                                                             seeded_center, capfd):
    _, seeded = seeded_center
    user = make_user(certified=False)
    emulator.admin.grant(seeded.project_id, user.user_name, "view")
    emulator.admin.grant(seeded.ingest_folder_id, user.user_name, "edit")
    _connect(monkeypatch, emulator, user.token)
    dag_run = _build(center_env).test(run_conf={"batch": "s3://never-read/batch/"})
    assert _task_states(dag_run) == _expect(preflight="failed")
    ti = next(t for t in dag_run.get_task_instances() if t.task_id == "preflight")
    assert ti.try_number == 1  # AirflowFailException: no retry, a person must act
    out, err = capfd.readouterr()  # the failure callback told the center (log channel)
    assert "[HTAN HTA200] htan_submission__HTA200: preflight failed" in out + err
    assert "What to do: read the log's `fix:` lines" in out + err
    assert user.token not in out + err


def test_the_release_chosen_in_the_form_is_where_preflight_looks(airflow_db, monkeypatch, emulator, center_env,
                                                               synapse_user, capfd):
    _connect(monkeypatch, emulator, synapse_user.token)
    dag_run = _build(center_env).test(run_conf={"batch": "s3://never-read/batch/", "release": 7})
    assert _task_states(dag_run) == _expect(preflight="failed")  # the DCC created only v1_ingest
    ti = next(t for t in dag_run.get_task_instances() if t.task_id == "preflight")
    assert ti.try_number == 1
    out, err = capfd.readouterr()
    assert "v7_ingest" in out + err


def test_invalid_manifests_stop_the_run_at_validate_without_retry(airflow_db, monkeypatch, emulator, center_env,
                                                                  synapse_user, demo_batch, reports):
    batch = demo_batch(faults=True)
    _connect(monkeypatch, emulator, synapse_user.token)
    dag_run = _build(center_env).test(run_conf={"batch": batch})
    assert _task_states(dag_run) == _expect(preflight="success", inventory="success", validate="failed")
    ti = next(t for t in dag_run.get_task_instances() if t.task_id == "validate")
    assert ti.try_number == 1
    report = json.loads(next(reports.glob("*/*/validation.json")).read_text())
    assert report["summary"]["errors"] == 4
    assert {f["rule"] for f in report["findings"]} == {"schema.enum", "schema.if_then", "cross.parent_unresolved",
                                                       "cross.file_missing"}


def test_a_date_in_a_manifest_stops_the_run_at_scrub(airflow_db, monkeypatch, emulator, center_env, synapse_user,
                                                     demo_batch, reports, capfd):
    def plant_date(root):
        path = root / "Demographics.csv"
        text = path.read_text().splitlines()
        text[0] += ",COMMENT"
        text[1] += ",seen 2019-03-04 by Dr. X"
        text[2] += ","
        path.write_text("\n".join(text) + "\n")

    batch = demo_batch(edit=plant_date)
    _connect(monkeypatch, emulator, synapse_user.token)
    dag_run = _build(center_env).test(run_conf={"batch": batch})
    assert _task_states(dag_run) == _expect(preflight="success", inventory="success", validate="success",
                                            scrub="failed")
    report = json.loads(next(reports.glob("*/*/phi_tables.json")).read_text())
    assert [(f["file"], f["row"], f["column"], f["rule"]) for f in report["findings"]] == [
        ("Demographics.csv", 2, "COMMENT", "phi.date")]
    out, err = capfd.readouterr()
    assert "2019-03-04" not in out + err + json.dumps(report)


def test_bundled_centers_yaml_is_valid():
    assert "HTA200" in load_centers()
