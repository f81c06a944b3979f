"""``htan_liaison_review`` runs for real (``dag.test()``) against moto S3: the form's decision is
written, signed, next to the batch, with the Airflow user who triggered the run (``dag.test()``
triggers as ``dag_test``); a non-liaison's decision is recorded as an attempt and the run fails
without retry; a rejection without a comment writes nothing. And the sign-off sensor in a DAG:
a liaison's decision lets it pass, no decision defers it to the trigger until it times out."""

from __future__ import annotations

import json
from datetime import timedelta

import pendulum
import pytest

from htan_submission.signoff import SignOffRequest, read_audit, read_decisions

pytestmark = pytest.mark.integration

KEY = "dag-test-signing-key-0123456789"
SUBMISSION_RUN = "manual__2026-01-05T10:00:00+00:00"
AIRFLOW_TEST_USER = "dag_test"  # dag.test()'s triggering_user_name (airflow/sdk/definitions/dag.py)


@pytest.fixture
def env(monkeypatch, tmp_path, moto_s3, s3_bucket):
    """centers.yaml with one center; AWS and signing-key connections. Returns a writer for the
    center's liaisons."""
    import yaml

    path = tmp_path / "centers.yaml"

    def liaisons(*names: str) -> None:
        path.write_text(yaml.safe_dump({"centers": {"HTA200": {
            "name": "Test", "synapse_project_id": "syn1", "s3": {"bucket": s3_bucket}, "liaisons": list(names)}}}))

    liaisons(AIRFLOW_TEST_USER)
    monkeypatch.setenv("HTAN_CENTERS_FILE", str(path))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto_s3.airflow_conn_uri())
    monkeypatch.setenv("AIRFLOW_CONN_HTAN_SIGNOFF", json.dumps({"conn_type": "generic", "password": KEY}))
    return type("Env", (), {"liaisons": staticmethod(liaisons), "batch": f"s3://{s3_bucket}/batches/b1/",
                            "s3": moto_s3.client()})


def _review_dag():
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("liaison_review_under_test", REPO / "dags" / "liaison_review.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dag


def _conf(env, **overrides) -> dict:
    return {"center": "HTA200", "run_id": SUBMISSION_RUN, "batch": env.batch, "decision": "approved",
            "comment": "complete and clean", **overrides}


def _ti(dag_run, task_id: str):
    return next(t for t in dag_run.get_task_instances() if t.task_id == task_id)


def _request(env, *liaisons: str) -> SignOffRequest:
    return SignOffRequest(center_id="HTA200", batch=env.batch, run_id=SUBMISSION_RUN, liaisons=liaisons)


def test_a_liaisons_review_writes_a_signed_decision_record_next_to_the_batch(airflow_db, env):
    dag_run = _review_dag().test(run_conf=_conf(env))
    ti = _ti(dag_run, "record_decision")
    assert str(ti.state) == "success"
    result = ti.xcom_pull(task_ids="record_decision")
    assert result["accepted"] is True and result["who"] == AIRFLOW_TEST_USER
    assert result["record"].startswith(env.batch.rstrip("/") + "_htan/signoff/manual__2026-01-05T10_00_00+00_00/")
    assert result["record"].endswith("-airflow.json")
    bucket, key = result["record"][5:].split("/", 1)
    body = json.loads(env.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert {k: body[k] for k in ("center_id", "run_id", "decision", "comment", "who", "source")} == {
        "center_id": "HTA200", "run_id": SUBMISSION_RUN, "decision": "approved", "comment": "complete and clean",
        "who": AIRFLOW_TEST_USER, "source": "airflow"}
    assert body["ref"] == {"dag_id": "htan_liaison_review", "run_id": dag_run.run_id} and body["signature"]
    assert KEY not in json.dumps(body) and KEY not in json.dumps(result)
    [record] = read_decisions(env.s3, env.batch, SUBMISSION_RUN, KEY.encode())
    assert record.problem is None


def test_an_approval_may_leave_the_comment_empty_as_the_ui_form_sends_it(airflow_db, env):
    dag_run = _review_dag().test(run_conf=_conf(env, comment=None))  # an empty field: the form sends null
    assert str(_ti(dag_run, "record_decision").state) == "success"
    [record] = read_decisions(env.s3, env.batch, SUBMISSION_RUN, KEY.encode())
    assert record.decision.comment == ""  # not "None"


def test_a_non_liaisons_review_is_recorded_as_an_attempt_and_fails_without_retry(airflow_db, env):
    env.liaisons("someone_else")
    dag_run = _review_dag().test(run_conf=_conf(env))
    ti = _ti(dag_run, "record_decision")
    assert (str(ti.state), ti.try_number) == ("failed", 1)
    [row] = read_audit(env.s3, _request(env, "someone_else"), KEY.encode())
    assert row.who == f"{AIRFLOW_TEST_USER} via airflow"
    assert row.what.startswith(f"approved (ignored: {AIRFLOW_TEST_USER} is not a liaison of HTA200")


def test_a_rejection_without_a_comment_writes_nothing(airflow_db, env):
    dag_run = _review_dag().test(run_conf=_conf(env, decision="rejected", comment=""))
    ti = _ti(dag_run, "record_decision")
    assert (str(ti.state), ti.try_number) == ("failed", 1)
    assert read_decisions(env.s3, env.batch, SUBMISSION_RUN, KEY.encode()) == []


def _signoff_dag(env, timeout: timedelta, name: str):
    """A one-task DAG around the sensor, as the submission DAG wires it (without Synapse)."""
    from airflow.sdk import DAG

    from htan_submission.airflow.sensors import LiaisonSignOffSensor

    with DAG(dag_id=f"htan_signoff_sensor_under_test_{name}", schedule=None, start_date=pendulum.datetime(2026, 1, 1),
             catchup=False, params={"batch": ""}, tags=["test"],
             default_args={"owner": "htan-test", "retries": 2}) as dag:
        LiaisonSignOffSensor(task_id="liaison_signoff", center_id="HTA200", batch="{{ params.batch }}",
                             poll_interval=0.1, timeout=timeout, doc_md="waits for the liaison")
    _register(dag)
    return dag


def _register(dag) -> None:
    """``dag.test()`` runs only DAGs Airflow has serialized; this test DAG lives in no bundle
    file, so write it to the metadata DB the way the DAG processor would."""
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    bag = DagBag(collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def test_the_sensor_passes_on_a_liaisons_approval(airflow_db, env):
    from airflow.models.dagrun import DagRun
    from airflow.utils.types import DagRunType

    from htan_submission.signoff import record_review

    dag = _signoff_dag(env, timedelta(days=14), "approval")
    # The decision names the run it is about: choose the logical date so the run id is known before.
    logical = pendulum.now("UTC")
    run_id = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=logical, run_after=logical)
    record_review(env.s3, center_id="HTA200", batch=env.batch, run_id=run_id, decision="approved", comment="go",
                  who=AIRFLOW_TEST_USER, liaisons=(AIRFLOW_TEST_USER,), key=KEY.encode())
    dag_run = dag.test(logical_date=logical, run_after=logical, run_conf={"batch": env.batch})
    assert dag_run.run_id == run_id
    ti = _ti(dag_run, "liaison_signoff")
    assert str(ti.state) == "success"
    assert ti.xcom_pull(task_ids="liaison_signoff")["who"] == AIRFLOW_TEST_USER


@pytest.fixture
def webhook(monkeypatch):
    """A local HTTP endpoint standing in for a Slack incoming webhook; returns the posted bodies."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    posted: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/services/T000/B000/secret-part"
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_HTA200", json.dumps({"conn_type": "generic", "password": url}))
    yield posted
    server.shutdown()
    thread.join(timeout=10)


def test_the_sensor_defers_and_times_out_without_retry_telling_the_liaison(airflow_db, env, webhook, caplog,
                                                                          tmp_path):
    import yaml

    path = tmp_path / "centers.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["centers"]["HTA200"]["notify"] = {"channels": ["log", "slack"], "slack_webhook_conn_id": "slack_hta200"}
    path.write_text(yaml.safe_dump(spec))
    caplog.set_level("INFO")
    dag_run = _signoff_dag(env, timedelta(seconds=1), "timeout").test(run_conf={"batch": env.batch})
    ti = _ti(dag_run, "liaison_signoff")
    assert (str(ti.state), ti.try_number) == ("failed", 1)
    assert "running trigger in line" in caplog.text  # it deferred: the wait ran in the trigger
    [message] = webhook  # and the liaison was told
    assert "sign-off timed out" in message["text"] and dag_run.run_id in message["text"]
