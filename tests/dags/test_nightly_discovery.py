"""The nightly discovery DAG runs for real (``dag.test()``) against moto S3 and Airflow's metadata
database: it triggers one ``htan_submission__<CENTER>`` run per ready batch with the batch's conf,
never a second one, and recovers a claim that a crash left behind."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.integration

CENTER = "HTA200"
TARGET = f"htan_submission__{CENTER}"
DISCOVERY = f"htan_nightly_discovery__{CENTER}"


@pytest.fixture
def center_bucket(monkeypatch, tmp_path, moto_s3, s3_bucket):
    """A centers.yaml whose center submits from the test bucket, and aws_default pointing at moto."""
    import yaml

    path = tmp_path / "centers.yaml"
    path.write_text(yaml.safe_dump({"centers": {CENTER: {
        "name": "Test Center", "synapse_project_id": "syn90000001", "timezone": "America/New_York",
        "s3": {"bucket": s3_bucket, "prefix": "batches/"}}}}))
    monkeypatch.setenv("HTAN_CENTERS_FILE", str(path))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto_s3.airflow_conn_uri())
    return s3_bucket


@pytest.fixture
def s3(moto_s3):
    return moto_s3.client()


def _put(s3, bucket: str, key: str, body: bytes = b"") -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def _dag():
    import importlib.util

    spec = importlib.util.spec_from_file_location("nightly_discovery_under_test",
                                                  REPO / "dags" / "nightly_discovery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, DISCOVERY)


def _states(dag_run) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for ti in dag_run.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return {k: sorted(v) for k, v in states.items()}


def _record(s3, bucket: str, batch: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=f"batches/{batch}/SUBMITTED")["Body"].read())


def _target_runs(run_ids: list[str]) -> dict[str, tuple[dict, str]]:
    """The submission runs Airflow has with these ids: run id -> (conf, run type)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.scalars(select(DagRun).where(DagRun.dag_id == TARGET, DagRun.run_id.in_(run_ids))).all()
        return {r.run_id: (dict(r.conf or {}), str(r.run_type)) for r in rows}


def test_triggers_one_run_per_ready_batch_and_never_twice(airflow_db, center_bucket, s3):
    bucket = center_bucket
    _put(s3, bucket, "batches/b1/Demographics.csv", b"x\n")
    _put(s3, bucket, "batches/b1/READY")
    _put(s3, bucket, "batches/b2/batch.yaml", b"note: 'please check {{ 1 + 1 }} first'\ncomponents: [scRNALevel1]\n"
                                              b"transfer_mode: copy\n")
    _put(s3, bucket, "batches/b3/data/a.fastq.gz", b"not ready")

    first = _dag().test()
    assert _states(first) == {"discover": ["success"], "trigger": ["success", "success"], "confirm": ["success"]}
    records = {b: _record(s3, bucket, b) for b in ("b1", "b2")}
    assert {r["state"] for r in records.values()} == {"triggered"}
    runs = _target_runs([r["run_id"] for r in records.values()])
    assert runs == {
        records["b1"]["run_id"]: ({"batch": f"s3://{bucket}/batches/b1/"}, "operator_triggered"),
        records["b2"]["run_id"]: ({"batch": f"s3://{bucket}/batches/b2/", "note": "please check {{ 1 + 1 }} first",
                                   "components": ["scRNALevel1"], "transfer_mode": "copy"},
                                  "operator_triggered"),
    }
    assert records["b1"]["claimed_by"] == f"{DISCOVERY}/{first.run_id}"

    second = _dag().test()
    assert _states(second) == {"discover": ["success"], "trigger": ["skipped"], "confirm": ["success"]}
    assert _target_runs([r["run_id"] for r in records.values()]).keys() == runs.keys()
    assert {b: _record(s3, bucket, b) for b in ("b1", "b2")} == records  # untouched


def test_recovers_a_claim_left_by_a_crash_on_either_side_of_the_trigger(airflow_db, center_bucket, s3):
    from htan_submission.discovery import BatchOptions, batch_folders, claim

    bucket = center_bucket
    _put(s3, bucket, "batches/b1/READY")
    folder = batch_folders(s3, bucket, "batches/")[0]
    crashed = claim(s3, folder, dag_id=TARGET, options=BatchOptions(note="from before the crash"),
                    claimed_by="crashed/run", now=datetime(2026, 3, 1, tzinfo=UTC))

    first = _dag().test()  # the claim was never triggered: trigger it, same run id, same conf
    assert _states(first)["trigger"] == ["success"]
    assert _target_runs([crashed.run_id]) == {crashed.run_id: (crashed.conf, "operator_triggered")}
    assert _record(s3, bucket, "b1")["state"] == "triggered"

    # Now the other window: the run exists but the marker still says claimed (died before confirm).
    s3.put_object(Bucket=bucket, Key="batches/b1/SUBMITTED", Body=crashed.to_json().encode())
    second = _dag().test()
    assert _states(second) == {"discover": ["success"], "trigger": ["skipped"], "confirm": ["success"]}
    assert _record(s3, bucket, "b1")["state"] == "triggered"  # confirmed through Airflow's run count
    assert list(_target_runs([crashed.run_id])) == [crashed.run_id]


def test_a_wrong_batch_yaml_fails_the_run_after_the_good_batches_are_triggered(airflow_db, center_bucket, s3):
    bucket = center_bucket
    _put(s3, bucket, "batches/good/READY")
    _put(s3, bucket, "batches/typo/batch.yaml", b"component: [scRNALevel1]\n")
    dag_run = _dag().test()
    assert _states(dag_run) == {"discover": ["success"], "trigger": ["success"], "confirm": ["failed"]}
    good = _record(s3, bucket, "good")
    assert good["state"] == "triggered" and list(_target_runs([good["run_id"]])) == [good["run_id"]]
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="batches/typo/SUBMITTED")
    confirm = next(ti for ti in dag_run.get_task_instances() if ti.task_id == "confirm")
    assert confirm.try_number == 1  # a person fixes batch.yaml; no retry


def test_a_wrong_batch_yaml_alone_still_fails_the_run(airflow_db, center_bucket, s3):
    """Nothing to trigger must not make a quiet green run when a center's batch is stuck."""
    _put(s3, center_bucket, "batches/typo/batch.yaml", b"transfer_mode: move\n")
    dag_run = _dag().test()
    assert _states(dag_run) == {"discover": ["success"], "trigger": ["skipped"], "confirm": ["failed"]}
    assert str(dag_run.state) == "failed"


def test_schedule_is_02_00_in_the_centers_time_zone(center_bucket):
    import pendulum
    from airflow.serialization.encoders import coerce_to_core_timetable
    from airflow.timetables.base import TimeRestriction

    timetable = coerce_to_core_timetable(_dag().timetable)
    for month, utc_hour in ((1, 7), (7, 6)):  # EST, then EDT
        info = timetable.next_dagrun_info(
            last_automated_data_interval=None,
            restriction=TimeRestriction(earliest=pendulum.datetime(2026, month, 10, tz="UTC"), latest=None,
                                        catchup=True))
        local = info.run_after.in_timezone("America/New_York")
        assert (local.hour, local.minute) == (2, 0)
        assert info.run_after.in_timezone("UTC").hour == utc_hour


def test_a_center_without_discovery_gets_no_dag(monkeypatch, tmp_path):
    import yaml

    path = tmp_path / "centers.yaml"
    path.write_text(yaml.safe_dump({"centers": {
        "HTA200": {"name": "A", "synapse_project_id": "syn1", "s3": {"bucket": "b"}},
        "HTA201": {"name": "B", "synapse_project_id": "syn2", "s3": {"bucket": "c"}, "discovery_schedule": None,
                   "timezone": "Europe/London"}}}))
    monkeypatch.setenv("HTAN_CENTERS_FILE", str(path))
    import importlib.util

    spec = importlib.util.spec_from_file_location("nightly_discovery_switch", REPO / "dags" / "nightly_discovery.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert hasattr(module, "htan_nightly_discovery__HTA200")
    assert not hasattr(module, "htan_nightly_discovery__HTA201")
