"""The sign-off wait for real: the sensor's one poke and deferral, and the trigger's ``run()``
under asyncio against moto's S3 server and the Synapse emulator, with the real synapseclient
setting the liaison's annotations. Poll intervals are fractions of a second; the tests wait on
conditions (the trigger has polled), never on time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from datetime import datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, TaskDeferred

from htan_submission.airflow.sensors import LiaisonSignOffSensor
from htan_submission.airflow.triggers import CLASSPATH, LiaisonSignOffTrigger, deadline_after
from htan_submission.signoff import SignOffRequest, read_audit, read_decisions, record_review
from htan_submission.signoff.model import Decision, utcnow
from htan_submission.signoff.watch import SignOffWatcher
from htan_submission.synapse.reports import report_entity_name, upload_report_entity

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]

KEY = "test-signing-key-0123456789abcdef"
RUN = "manual__2026-01-05T10:00:00+00:00"
FAST = 0.05  # seconds between polls in tests


@pytest.fixture
def polls(monkeypatch):
    """Counts finished ``SignOffWatcher.poll`` calls (the real method runs; a call that raises
    counts too)."""
    count = {"n": 0}
    real = SignOffWatcher.poll

    def counting(self):
        try:
            return real(self)
        finally:
            count["n"] += 1

    monkeypatch.setattr(SignOffWatcher, "poll", counting)
    return count


@pytest.fixture
def world(monkeypatch, tmp_path, moto_s3, s3_bucket, emulator, seeded_center, synapse_user, make_user, syn_for):
    """A center whose liaison is a real emulator user with edit access to the ingest folder; the
    submitter's Synapse/AWS connections and the signing key as Airflow connections; a report entity."""
    import yaml

    center, seeded = seeded_center
    liaison = make_user(prefix="liaison")
    emulator.admin.grant(seeded.project_id, liaison.user_name, "view")
    emulator.admin.grant(seeded.ingest_folder_id, liaison.user_name, "edit")
    centers = tmp_path / "centers.yaml"
    centers.write_text(yaml.safe_dump({"centers": {center.center_id: {
        "name": center.name, "synapse_project_id": center.synapse_project_id, "s3": {"bucket": s3_bucket},
        "liaisons": [liaison.user_name, "airflow:reviewer"], "signoff_timeout_days": 3}}}))
    monkeypatch.setenv("HTAN_CENTERS_FILE", str(centers))
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto_s3.airflow_conn_uri())
    monkeypatch.setenv("AIRFLOW_CONN_HTAN_SIGNOFF", json.dumps({"conn_type": "generic", "password": KEY}))
    monkeypatch.setenv("AIRFLOW_CONN_SYNAPSE_DEFAULT", json.dumps(
        {"conn_type": "synapse", "host": emulator.base_url, "password": synapse_user.token}))
    report = tmp_path / "report.html"
    report.write_text("<!DOCTYPE html><p>report</p>\n")
    submitter_syn = syn_for(synapse_user)
    entity_id = upload_report_entity(submitter_syn, seeded.ingest_folder_id, report,
                                     report_entity_name(center.center_id, RUN))
    batch = f"s3://{s3_bucket}/batches/b1/"
    return type("World", (), {
        "center": center, "batch": batch, "entity_id": entity_id, "liaison": liaison, "submitter": synapse_user,
        "liaison_syn": syn_for(liaison), "submitter_syn": submitter_syn, "s3": moto_s3.client(),
        "request": SignOffRequest(center_id=center.center_id, batch=batch, run_id=RUN,
                                  liaisons=(liaison.user_name, "airflow:reviewer"), report_entity_id=entity_id),
    })


def _review(world, who: str, decision: str = "approved", comment: str = "ok"):
    return record_review(world.s3, center_id=world.center.center_id, batch=world.batch, run_id=RUN, decision=decision,
                         comment=comment, who=who, liaisons=world.request.liaisons, key=KEY.encode())


def _annotate(syn, entity_id: str, decision: str, comment: str) -> None:
    annotations = syn.get_annotations(entity_id)
    annotations.update({"liaison_decision": [decision], "liaison_comment": [comment]})
    syn.set_annotations(annotations)


def _trigger(world, seconds: float = 60, **kwargs) -> LiaisonSignOffTrigger:
    return LiaisonSignOffTrigger(request=world.request.to_dict(), deadline=deadline_after(seconds), poll_interval=FAST,
                                 aws_conn_id="aws_default", synapse_conn_id="synapse_default",
                                 signing_conn_id="htan_signoff", **kwargs)


def _logged(capfd, caplog) -> str:
    """Task and trigger logs: Airflow routes them through structlog to the console; plain
    ``logging`` records (the core's) may go either way."""
    out, err = capfd.readouterr()
    return out + err + caplog.text


async def _wait_for(condition, limit: float = 20.0) -> None:
    end = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < end, "condition not met in time"
        await asyncio.sleep(0.01)


def _run_until_event(trigger, polls, acts=(), limit: float = 30.0) -> dict:
    """Run the trigger; after each of its polls (n = 1, 2, ...) do the next act (in a thread:
    they are blocking client calls), then return the first event's payload."""

    async def main():
        events = trigger.run()
        pending = asyncio.ensure_future(events.__anext__())
        for number, act in enumerate(acts, start=1):
            await _wait_for(lambda n=number: polls["n"] >= n or pending.done())
            assert not pending.done(), f"the trigger fired before act {number}: {pending.result()}"
            await asyncio.to_thread(act)
        event = await asyncio.wait_for(pending, limit)
        await events.aclose()
        return event.payload

    return asyncio.run(main())


# -- the trigger ---------------------------------------------------------------------------------

def test_trigger_serializes_to_its_classpath_and_round_trips(world):
    trigger = _trigger(world)
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    assert LiaisonSignOffTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert json.loads(json.dumps(kwargs)) == kwargs  # plain JSON: no secret, no object
    assert KEY not in json.dumps(kwargs) and world.submitter.token not in json.dumps(kwargs)


def test_trigger_yields_approved_for_a_liaison_decision_made_while_it_waits(world, polls):
    event = _run_until_event(_trigger(world), polls, acts=[lambda: _review(world, "reviewer")])
    assert event["status"] == "approved" and polls["n"] >= 2
    assert (event["decision"]["who"], event["decision"]["source"]) == ("reviewer", "airflow")
    assert event["record"].startswith(f"{world.batch.rstrip('/')}_htan/signoff/")


def test_trigger_yields_rejected_from_the_liaisons_synapse_annotations(world, polls):
    event = _run_until_event(_trigger(world), polls, acts=[
        lambda: _annotate(world.liaison_syn, world.entity_id, "rejected", "2 biospecimens lack a parent")])
    assert event["status"] == "rejected"
    assert (event["decision"]["who"], event["decision"]["comment"]) == (world.liaison.user_name,
                                                                        "2 biospecimens lack a parent")
    records = read_decisions(world.s3, world.batch, RUN, KEY.encode())
    assert [(r.decision.source, r.decision.who, r.problem) for r in records] == [
        ("synapse", world.liaison.user_name, None)]  # the Synapse decision is kept in the audit store


def test_non_liaison_attempts_are_ignored_and_logged_until_a_liaison_decides(world, polls, capfd, caplog):
    bucket, prefix = world.batch[5:].split("/", 1)

    def forge():  # an unsigned record naming the liaison, written straight to the bucket
        forged = Decision(center_id=world.center.center_id, batch=world.batch, run_id=RUN, decision="approved",
                          comment="", who=world.liaison.user_name, when=utcnow(), source="airflow")
        world.s3.put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}_htan/signoff/{RUN.replace(':', '_')}/x.json",
                            Body=json.dumps(forged.to_dict()).encode())

    caplog.set_level("WARNING")
    event = _run_until_event(_trigger(world), polls, acts=[
        lambda: _annotate(world.submitter_syn, world.entity_id, "approved", "self-approved"),
        forge,
        lambda: _review(world, "mallory"),
        lambda: _review(world, world.liaison.user_name, "rejected", "not yet"),
    ])
    assert event["status"] == "rejected" and event["decision"]["who"] == world.liaison.user_name
    ignored = " ".join(event["ignored"])
    assert f"{world.submitter.user_name} is not a liaison" in ignored
    assert "mallory is not a liaison" in ignored and "signature does not verify" in ignored
    assert _logged(capfd, caplog).count("Ignored sign-off attempt") == 3  # each once, not every poll
    audit = read_audit(world.s3, world.request, KEY.encode())
    assert [row.who.split(" via ")[0] for row in audit] == [
        world.submitter.user_name, world.liaison.user_name, "mallory", world.liaison.user_name]
    assert audit[-1].what.startswith("rejected (accepted, stands)")


def test_trigger_times_out_without_a_decision(world, polls):
    _review(world, "mallory")
    event = _run_until_event(_trigger(world, seconds=0.3), polls)
    assert event["status"] == "timeout" and polls["n"] >= 1  # it looks at least once, even if set up late
    assert any("mallory" in line for line in event["ignored"])


def test_trigger_without_the_signing_key_fails_at_once(world, polls, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_HTAN_SIGNOFF")
    event = _run_until_event(_trigger(world), polls)
    assert event["status"] == "error" and "htan_signoff" in event["message"] and polls["n"] == 0


def test_a_synapse_failure_during_the_wait_is_logged_once_and_survived(world, polls, emulator, capfd, caplog):
    """The report entity cannot be read for three polls (403); the wait goes on, says so once,
    and finds the liaison's decision when Synapse answers again."""
    _annotate(world.liaison_syn, world.entity_id, "approved", "fine")
    emulator.admin.add_fault(rf"^/repo/v1/entity/{world.entity_id}/bundle2$", status=403, count=3)
    caplog.set_level("WARNING")
    try:
        event = _run_until_event(_trigger(world), polls)
    finally:
        emulator.admin.clear_faults()
    assert event["status"] == "approved" and event["decision"]["who"] == world.liaison.user_name
    assert polls["n"] == 4
    assert _logged(capfd, caplog).count("cannot read the report entity") == 1


def test_an_s3_that_never_answers_does_not_end_the_wait_and_is_logged_once(world, polls, monkeypatch, capfd,
                                                                            caplog):
    from htan_submission.dev.moto_s3 import free_port

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there: every S3 call fails
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "login": "testing",
                       "password": "testing", "extra": {"endpoint_url": dead, "region_name": "us-east-1",
                                                        "config_kwargs": {"retries": {"max_attempts": 1}}}}))
    trigger = _trigger(world, seconds=60)
    trigger.synapse_conn_id = None  # S3 alone

    async def main():
        events = trigger.run()
        pending = asyncio.ensure_future(events.__anext__())
        await _wait_for(lambda: polls["n"] >= 3 or pending.done())
        assert not pending.done(), pending.result()  # failed polls do not end the wait
        pending.cancel()  # what the triggerer does when the task is cleared
        with contextlib.suppress(asyncio.CancelledError):
            await pending

    asyncio.run(main())
    assert _logged(capfd, caplog).count("sign-off check failed") == 1


# -- the sensor ----------------------------------------------------------------------------------

def _sensor(world, **kwargs) -> LiaisonSignOffSensor:
    return LiaisonSignOffSensor(task_id="liaison_signoff", center_id=world.center.center_id, batch=world.batch,
                                report_entity_id=world.entity_id, poll_interval=FAST, **kwargs)


def test_sensor_pokes_once_then_defers_holding_no_worker_slot(world, polls):
    sensor = _sensor(world)
    assert sensor.timeout == timedelta(days=3).total_seconds()  # signoff_timeout_days from centers.yaml
    before = utcnow()
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"run_id": RUN})
    assert polls["n"] == 1
    trigger = deferred.value.trigger
    assert isinstance(trigger, LiaisonSignOffTrigger) and deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert LiaisonSignOffTrigger(**kwargs).serialize() == (classpath, kwargs)
    assert kwargs["request"] == world.request.to_dict()
    assert (kwargs["aws_conn_id"], kwargs["synapse_conn_id"], kwargs["signing_conn_id"]) == (
        "aws_default", "synapse_default", "htan_signoff")
    deadline = datetime.fromisoformat(kwargs["deadline"])
    assert timedelta(days=3) <= deadline - before <= timedelta(days=3, minutes=1)
    assert deferred.value.timeout > timedelta(days=3)  # Airflow's own timeout is only a safety net
    from airflow.sdk.serde import deserialize, serialize

    assert deserialize(serialize(kwargs)) == kwargs  # what Airflow stores for the triggerer


def test_sensor_continues_at_once_when_a_liaison_already_approved(world, polls):
    uri, _ = _review(world, "reviewer", "approved", "all good")
    result = _sensor(world).execute({"run_id": RUN})
    assert (result["decision"], result["who"], result["comment"], result["record"]) == (
        "approved", "reviewer", "all good", uri)
    assert polls["n"] == 1


def test_sensor_puts_every_decision_in_the_batch_reports_audit_trail(world, tmp_path, monkeypatch):
    from types import SimpleNamespace

    from htan_submission.reports.batch import run_report_dir

    monkeypatch.setenv("HTAN_REPORTS_DIR", str(tmp_path / "reports"))
    _review(world, "mallory", "approved", "let me in")
    _review(world, "reviewer", "approved", "all good")
    _sensor(world).execute({"run_id": RUN, "dag": SimpleNamespace(dag_id="htan_submission__X")})
    report = (run_report_dir("htan_submission__X", RUN) / "report.html").read_text()
    audit = report[report.index('id="audit"'):]
    assert "mallory via airflow" in audit and "ignored: mallory is not a liaison" in audit
    assert "reviewer via airflow" in audit and "approved (accepted, stands)" in audit


def test_sensor_fails_without_retry_on_rejection_carrying_the_comment(world):
    _annotate(world.liaison_syn, world.entity_id, "rejected", "Biospecimen HTA200_1_B9 has no parent")
    with pytest.raises(AirflowFailException, match="Biospecimen HTA200_1_B9 has no parent") as failed:
        _sensor(world).execute({"run_id": RUN})
    assert world.liaison.user_name in str(failed.value)


def test_sensor_ignores_and_logs_a_non_liaison_decision_and_keeps_waiting(world, capfd, caplog):
    _review(world, "mallory")
    _annotate(world.submitter_syn, world.entity_id, "approved", "mine")
    caplog.set_level("WARNING")
    with pytest.raises(TaskDeferred):
        _sensor(world).execute({"run_id": RUN})
    logged = _logged(capfd, caplog)
    assert "mallory is not a liaison" in logged and f"{world.submitter.user_name} is not a liaison" in logged


def test_sensor_resumes_from_the_triggers_events(world, capfd, caplog):
    sensor = _sensor(world)
    decision = {"who": "reviewer", "source": "airflow", "when": "2026-01-06T00:00:00.000000Z", "comment": "ok"}
    assert sensor.execute_complete({"run_id": RUN}, {"status": "approved", "decision": decision, "record": "s3://x",
                                                     "ignored": []})["who"] == "reviewer"
    with pytest.raises(AirflowFailException, match="needs fixing"):
        sensor.execute_complete({"run_id": RUN}, {"status": "rejected", "decision": {**decision,
                                                                                     "comment": "needs fixing"}})
    with pytest.raises(AirflowFailException, match="htan_signoff"):
        sensor.execute_complete({"run_id": RUN}, {"status": "error", "message": "connection 'htan_signoff' ..."})
    caplog.set_level("INFO")
    with pytest.raises(AirflowSensorTimeout, match="No liaison"):
        sensor.execute_complete({"run_id": RUN}, {"status": "timeout", "deadline": "2026-01-08T00:00:00Z",
                                                  "ignored": ["'approved' by mallory ..."]})
    logged = _logged(capfd, caplog)
    assert "sign-off timed out" in logged and RUN in logged  # the liaison was told (log channel)
    assert "mallory" in logged


def test_sensor_refuses_a_center_without_liaisons(world, tmp_path, monkeypatch):
    import yaml

    path = tmp_path / "no-liaisons.yaml"
    path.write_text(yaml.safe_dump({"centers": {world.center.center_id: {
        "name": "x", "synapse_project_id": world.center.synapse_project_id, "s3": {"bucket": "b"}}}}))
    with pytest.raises(AirflowFailException, match="no liaisons"):
        _sensor(world, centers_file=str(path)).execute({"run_id": RUN})
