"""The generated DAG runs its preflight for real (``dag.test()``) against the emulator."""

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


def _build(center):
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("submission_dags_under_test", REPO / "dags" / "submission_dags.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, center.dag_id)


def _task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


def test_certified_submitter_passes_preflight(airflow_db, monkeypatch, emulator, center_env, synapse_user, capfd):
    _connect(monkeypatch, emulator, synapse_user.token)
    dag_run = _build(center_env).test()
    assert _task_states(dag_run) == {"preflight": "success"}
    report = dag_run.get_task_instances()[0].xcom_pull(task_ids="preflight")
    assert report["passed"] is True
    assert report["synapse_user"] == synapse_user.user_name
    assert synapse_user.token not in json.dumps(report)
    out, err = capfd.readouterr()
    assert "Preflight for HTA200" in out + err  # the task log was captured...
    assert synapse_user.token not in out + err  # ...and holds no token


def test_uncertified_submitter_fails_preflight_without_retry(airflow_db, monkeypatch, emulator, center_env, make_user,
                                                             seeded_center):
    _, seeded = seeded_center
    user = make_user(certified=False)
    emulator.admin.grant(seeded.project_id, user.user_name, "view")
    emulator.admin.grant(seeded.ingest_folder_id, user.user_name, "edit")
    _connect(monkeypatch, emulator, user.token)
    dag_run = _build(center_env).test()
    assert _task_states(dag_run) == {"preflight": "failed"}
    ti = dag_run.get_task_instances()[0]
    assert ti.try_number == 1  # AirflowFailException: no retry, a person must act


def test_bundled_centers_yaml_is_valid():
    assert "HTA200" in load_centers()
