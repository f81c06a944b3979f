"""Nightly discovery against moto's S3 server: ready folders are claimed once, a claim survives a
crash on either side of the trigger, and nothing is ever triggered twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from htan_submission import discovery
from htan_submission.discovery import (
    BatchFileError,
    BatchOptions,
    Marker,
    batch_folders,
    claim,
    confirm,
    discover,
    parse_batch_file,
    run_id_for,
)
from htan_submission.transfer.keys import Batch

pytestmark = pytest.mark.integration

DAG = "htan_submission__HTA200"
NOW = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)


@pytest.fixture
def s3(moto_s3):
    return moto_s3.client()


@pytest.fixture
def center(s3, s3_bucket):
    """A center prefix with: a READY batch, a batch.yaml batch, a folder that is not ready."""
    put = lambda key, body=b"": s3.put_object(Bucket=s3_bucket, Key=key, Body=body)  # noqa: E731
    put("batches/b1/Demographics.csv", b"HTAN Participant ID\nHTA200_1\n")
    put("batches/b1/READY")
    put("batches/b2/Biospecimen.csv", b"x\n")
    put("batches/b2/batch.yaml", b"note: second release\ncomponents: [scRNALevel1, Demographics]\n"
                                 b"transfer_mode: copy\n")
    put("batches/b3/data/file.fastq.gz", b"not ready yet")
    return s3_bucket


class Airflow:
    """Stands in for Airflow's run table: the runs that exist, and the triggers asked for."""

    def __init__(self) -> None:
        self.runs: set[str] = set()

    def run_exists(self, run_id: str) -> bool:
        return run_id in self.runs

    def trigger(self, found) -> None:
        for claim_ in found.triggers:
            self.runs.add(claim_.run_id)  # Airflow refuses a duplicate run id: a set is exact


def _discover(s3, bucket, airflow: Airflow, **kwargs):
    return discover(s3, bucket=bucket, prefix="batches/", dag_id=DAG, claimed_by="test/run",
                    run_exists=airflow.run_exists, now=NOW, **kwargs)


def _record(s3, bucket, batch: str) -> dict:
    return json.loads(s3.get_object(Bucket=bucket, Key=f"batches/{batch}/SUBMITTED")["Body"].read())


def test_ready_folders_are_claimed_with_their_conf(s3, center):
    found = _discover(s3, center, Airflow())
    by_batch = {c.batch: c for c in found.triggers}
    assert set(by_batch) == {f"s3://{center}/batches/b1/", f"s3://{center}/batches/b2/"}
    assert by_batch[f"s3://{center}/batches/b1/"].conf == {"batch": f"s3://{center}/batches/b1/"}
    assert by_batch[f"s3://{center}/batches/b2/"].conf == {
        "batch": f"s3://{center}/batches/b2/", "note": "second release",
        "components": ["scRNALevel1", "Demographics"], "transfer_mode": "copy"}
    record = _record(s3, center, "b2")
    assert record["state"] == "claimed" and record["dag_id"] == DAG
    assert record["run_id"] == by_batch[f"s3://{center}/batches/b2/"].run_id
    assert record["run_id"].startswith("nightly__b2__")
    assert record["claimed_by"] == "test/run" and record["ready"]["key"] == "batches/b2/batch.yaml"
    assert found.batches == 2  # b3 has no ready marker


def test_a_batch_is_never_triggered_twice(s3, center):
    airflow = Airflow()
    first = _discover(s3, center, airflow)
    airflow.trigger(first)
    done = confirm(s3, [c.batch for c in first.triggers], [c.run_id for c in first.triggers],
                   run_exists=airflow.run_exists, now=NOW)
    assert sorted(done.confirmed) == sorted(c.batch for c in first.triggers) and not done.pending
    assert _record(s3, center, "b1")["state"] == "triggered"
    for _ in range(2):
        again = _discover(s3, center, airflow)
        assert again.triggers == [] and sorted(again.submitted) == sorted(c.batch for c in first.triggers)
    # even if Airflow forgot the runs (metadata cleanup), a triggered batch stays submitted
    assert _discover(s3, center, Airflow()).triggers == []


def test_crash_after_claim_before_trigger_retriggers_the_same_run(s3, center):
    first = _discover(s3, center, Airflow())  # claimed, then the worker died: no run exists
    b2 = next(c for c in first.triggers if c.batch.endswith("/b2/"))
    s3.put_object(Bucket=center, Key="batches/b2/batch.yaml", Body=b"note: edited after the claim\n")
    second = _discover(s3, center, Airflow())
    again = next(c for c in second.triggers if c.batch.endswith("/b2/"))
    assert (again.run_id, again.conf) == (b2.run_id, b2.conf)  # the claim, not the edited file
    assert len(second.triggers) == 2 and _record(s3, center, "b2")["claimed_by"] == "test/run"


def test_crash_after_trigger_before_confirm_confirms_without_retriggering(s3, center):
    airflow = Airflow()
    airflow.trigger(_discover(s3, center, airflow))  # triggered, then the confirm step never ran
    second = _discover(s3, center, airflow)
    assert second.triggers == []
    assert sorted(second.confirmed) == [f"s3://{center}/batches/b1/", f"s3://{center}/batches/b2/"]
    assert _record(s3, center, "b1")["state"] == "triggered"
    assert _record(s3, center, "b1")["triggered_at"] == NOW.isoformat()


def test_only_one_of_two_concurrent_claims_wins(s3, center, monkeypatch):
    stale = batch_folders(s3, center, "batches/")  # both discoveries listed before either claimed
    b1 = next(f for f in stale if f.batch.prefix == "batches/b1/")
    mine = claim(s3, b1, dag_id=DAG, options=BatchOptions(), claimed_by="other/run", now=NOW)
    assert mine is not None
    assert claim(s3, b1, dag_id=DAG, options=BatchOptions(), claimed_by="test/run", now=NOW) is None
    monkeypatch.setattr(discovery, "batch_folders", lambda *args: stale)
    found = _discover(s3, center, Airflow())
    taken = next(c for c in found.triggers if c.batch.endswith("/b1/"))
    assert taken.run_id == mine.run_id  # it takes the winner's claim: one run id, so one run
    assert _record(s3, center, "b1")["claimed_by"] == "other/run"


def test_a_wrong_batch_yaml_is_reported_and_not_claimed(s3, center):
    s3.put_object(Bucket=center, Key="batches/b2/batch.yaml", Body=b"component: [scRNALevel1]\n")
    found = _discover(s3, center, Airflow())
    assert [c.batch for c in found.triggers] == [f"s3://{center}/batches/b1/"]
    assert [p.batch for p in found.problems] == [f"s3://{center}/batches/b2/"]
    assert "unknown key(s) component" in found.problems[0].message
    assert "SUBMITTED" not in {o["Key"].rsplit("/", 1)[-1]
                               for o in s3.list_objects_v2(Bucket=center, Prefix="batches/b2/")["Contents"]}


def test_a_submitted_object_put_by_hand_holds_the_batch(s3, center):
    s3.put_object(Bucket=center, Key="batches/b1/SUBMITTED", Body=b"")
    found = _discover(s3, center, Airflow())
    assert found.held == [f"s3://{center}/batches/b1/"]
    assert [c.batch for c in found.triggers] == [f"s3://{center}/batches/b2/"]
    assert s3.get_object(Bucket=center, Key="batches/b1/SUBMITTED")["Body"].read() == b""


def test_a_claim_for_another_dag_is_left_alone(s3, center):
    b1 = next(f for f in batch_folders(s3, center, "batches/") if f.batch.prefix == "batches/b1/")
    claim(s3, b1, dag_id="htan_submission__HTA201", options=BatchOptions(), claimed_by="x", now=NOW)
    found = _discover(s3, center, Airflow())
    assert [p.batch for p in found.problems] == [f"s3://{center}/batches/b1/"]
    assert all(not c.batch.endswith("/b1/") for c in found.triggers)


def test_deleting_submitted_and_marking_ready_again_submits_again(s3, center):
    airflow = Airflow()
    first = _discover(s3, center, airflow)
    airflow.trigger(first)
    s3.delete_object(Bucket=center, Key="batches/b1/SUBMITTED")
    s3.put_object(Bucket=center, Key="batches/b1/READY", Body=b"")
    found = _discover(s3, center, airflow)
    assert [c.batch for c in found.triggers] == [f"s3://{center}/batches/b1/"]
    assert _record(s3, center, "b1")["state"] == "claimed"


def test_at_most_max_triggers_are_claimed_per_run(s3, center):
    found = _discover(s3, center, Airflow(), max_triggers=1)
    assert len(found.triggers) == 1 and len(found.deferred) == 1
    deferred = found.deferred[0].rsplit("/", 2)[-2]
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=center, Key=f"batches/{deferred}/SUBMITTED")
    assert [c.batch for c in _discover(s3, center, Airflow()).triggers] == [found.triggers[0].batch, found.deferred[0]]


def test_confirm_leaves_a_claim_without_run_pending(s3, center):
    first = _discover(s3, center, Airflow())
    result = confirm(s3, [c.batch for c in first.triggers], [c.run_id for c in first.triggers],
                     run_exists=lambda run_id: False, now=NOW)
    assert sorted(result.pending) == sorted(c.batch for c in first.triggers) and not result.confirmed
    assert _record(s3, center, "b1")["state"] == "claimed"
    wrong = confirm(s3, [first.triggers[0].batch], ["nightly__someone_else"], run_exists=lambda run_id: True, now=NOW)
    assert wrong.problems and not wrong.confirmed


def test_a_center_prefix_at_the_bucket_root(s3, s3_bucket):
    s3.put_object(Bucket=s3_bucket, Key="batch-7/READY", Body=b"")
    found = discover(s3, bucket=s3_bucket, prefix="", dag_id=DAG, claimed_by="t", run_exists=lambda r: False, now=NOW)
    assert [c.batch for c in found.triggers] == [f"s3://{s3_bucket}/batch-7/"]


def test_run_ids_are_deterministic_and_change_with_the_ready_marker():
    batch = Batch(bucket="htan-b", prefix="batches/release 2 (final)/")
    when = datetime(2026, 3, 1, 2, 0, 5, tzinfo=UTC)
    ready = Marker(key="batches/release 2 (final)/READY", etag="e", last_modified=when)
    run_id = run_id_for(batch, ready)
    assert run_id == run_id_for(batch, ready)
    assert run_id.startswith("nightly__release_2_final__20260301T020005Z__")
    assert all(ch.isalnum() or ch in "_.-" for ch in run_id)
    later = Marker(key=ready.key, etag="e", last_modified=when + timedelta(seconds=1))
    other = Batch(bucket="htan-b2", prefix=batch.prefix)
    assert len({run_id, run_id_for(batch, later), run_id_for(other, ready)}) == 3


@pytest.mark.parametrize(("text", "message"), [
    ("component: [x]\n", "unknown key(s) component"),
    ("- a\n- b\n", "a mapping"),
    ("note: [1]\n", "note"),
    ("note: " + "x" * 2001 + "\n", "note"),
    ("components: scRNALevel1\n", "components"),
    ("components: ['../x']\n", "components"),
    ("transfer_mode: move\n", "transfer_mode"),
    ("release: two\n", "release"),
    ("release: 0\n", "release"),
    ("release: true\n", "release"),
    ("note: 'unclosed\n", "not YAML"),
    ("#" * (64 * 1024 + 1), "larger than"),
])
def test_batch_yaml_errors_name_the_key(text, message):
    with pytest.raises(BatchFileError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_batch_file(text)


def test_batch_yaml_optional_keys():
    assert parse_batch_file("") == BatchOptions()
    assert parse_batch_file("note: hi\n").conf("s3://b/p/") == {"batch": "s3://b/p/", "note": "hi"}
    assert parse_batch_file("components: [A, A, B]\n").components == ("A", "B")
    assert parse_batch_file("release: 2\n").conf("s3://b/p/") == {"batch": "s3://b/p/", "release": 2}
