"""The sign-off's Airflow-free core: who counts as a liaison, which decision stands, signed
records, record locations next to the batch, the audit rows and the liaison's message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from htan_submission.config import ConfigError, load_centers
from htan_submission.reports.html import render_batch_report
from htan_submission.signoff import Notice, audit_entries, evaluate, is_liaison, judge, ready_message, timeout_message
from htan_submission.signoff.model import Decision, iso, parse_when
from htan_submission.signoff.signing import sign, verify
from htan_submission.signoff.store import StoredRecord, record_name, signoff_location
from htan_submission.synapse.reports import report_entity_name

BATCH = "s3://bucket/batches/b1/"
RUN = "manual__2026-01-05T10:00:00+00:00"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _decision(who="alice", decision="approved", source="airflow", minutes=0, run_id=RUN, batch=BATCH, **ref):
    return Decision(center_id="HTA200", batch=batch, run_id=run_id, decision=decision, comment="c", who=who,
                    when=T0 + timedelta(minutes=minutes), source=source, ref=ref)


def _evaluate(*records, liaisons=("alice",), extra=()):
    return evaluate(records, center_id="HTA200", batch=BATCH, run_id=RUN, liaisons=liaisons, extra=extra)


@pytest.mark.parametrize(("who", "source", "liaisons", "expected"), [
    ("alice", "airflow", ["alice"], True),
    ("alice", "synapse", ["alice"], True),
    ("Alice", "airflow", ["alice"], False),  # identities are exact: no case folding
    ("alice ", "airflow", ["alice"], False),
    ("alice", "airflow", ["synapse:alice"], False),  # that entry allows only the Synapse route
    ("alice", "synapse", ["synapse:alice"], True),
    ("alice", "airflow", ["airflow:alice"], True),
    ("bob", "airflow", ["alice", "synapse:bob"], False),
    ("x:y", "airflow", ["x:y"], True),  # a colon that is not a route prefix is part of the name
])
def test_is_liaison(who, source, liaisons, expected):
    assert is_liaison(who, source, liaisons) is expected


def test_latest_accepted_decision_stands_and_ignored_ones_are_kept():
    evaluation = _evaluate(StoredRecord("s3://r/1", _decision("alice", "rejected", minutes=0)),
                           StoredRecord("s3://r/2", _decision("mallory", "approved", minutes=5)),
                           StoredRecord("s3://r/3", _decision("alice", "approved", minutes=3)))
    assert evaluation.outcome == "approved"
    assert evaluation.accepted.uri == "s3://r/3"
    assert [v.decision.who for v in evaluation.ignored] == ["mallory"]
    assert "mallory is not a liaison of HTA200" in evaluation.ignored[0].reason


def test_nothing_counts_without_a_liaison_decision():
    evaluation = _evaluate(StoredRecord("s3://r/1", _decision("mallory")))
    assert evaluation.outcome is None and evaluation.accepted is None and len(evaluation.ignored) == 1


@pytest.mark.parametrize(("decision", "problem", "reason"), [
    (_decision(run_id="manual__other"), None, "about another run"),
    (_decision(batch="s3://bucket/batches/b2/"), None, "about another run"),
    (_decision(decision="aproved"), None, "neither approved nor rejected"),
    (_decision(who=""), None, "nobody is named"),
    (_decision(source="email"), None, "unknown route"),
    (_decision(), "its signature does not verify", "signature"),
])
def test_a_decision_that_cannot_count_says_why(decision, problem, reason):
    verdict = judge(decision, center_id="HTA200", batch=BATCH, run_id=RUN, liaisons=("alice",), problem=problem)
    assert not verdict.accepted and reason in verdict.reason


def test_same_batch_with_or_without_trailing_slash_counts():
    verdict = judge(_decision(batch="s3://bucket/batches/b1"), center_id="HTA200", batch=BATCH, run_id=RUN,
                    liaisons=("alice",))
    assert verdict.accepted


def test_a_synapse_state_seen_live_and_stored_counts_once():
    seen = _decision(source="synapse", etag="e1")
    evaluation = _evaluate(StoredRecord("s3://r/1", seen), extra=[seen])
    assert len(evaluation.verdicts) == 1
    assert _evaluate(extra=[seen]).outcome == "approved"  # not stored (S3 write failed): still counts


def test_signature_covers_every_field():
    key = b"k" * 32
    body = sign(_decision().to_dict(), key)
    assert verify(body, key)
    assert not verify(body, b"other-key")
    assert not verify({**body, "who": "alice2"}, key)
    assert not verify({k: v for k, v in body.items() if k != "signature"}, key)
    with pytest.raises(ValueError):
        sign(body, b"")


def test_records_live_next_to_the_batch_never_inside_it():
    where = signoff_location("s3://bucket/batches/b1/", RUN)
    assert (where.bucket, where.prefix) == ("bucket", "batches/b1_htan/signoff/manual__2026-01-05T10_00_00+00_00/")
    assert not where.prefix.startswith("batches/b1/")
    assert signoff_location("s3://bucket/batches/b1", RUN) == where
    assert signoff_location("s3://bucket", RUN).prefix.startswith("_htan/signoff/")
    with pytest.raises(ValueError):
        signoff_location("/local/path", RUN)
    with pytest.raises(ValueError):
        signoff_location(BATCH, "")


def test_record_names_sort_by_time_and_a_synapse_state_has_one_name():
    assert record_name(_decision()) == "20260105T120000.000000Z-airflow.json"
    assert record_name(_decision(source="synapse", etag="abc/def")) == "20260105T120000.000000Z-synapse-abc_def.json"
    assert record_name(_decision(minutes=1)) > record_name(_decision())


def test_decision_round_trips_through_json_and_times_are_utc():
    d = _decision(source="synapse", etag="e", principal_id="3400001")
    assert Decision.from_dict(d.to_dict()) == d
    assert iso(parse_when("2026-01-05T07:00:00.123-05:00")) == "2026-01-05T12:00:00.123000Z"
    with pytest.raises(ValueError):
        Decision.from_dict({"schema": "something else"})


def test_audit_rows_show_every_decision_and_render_escaped():
    evaluation = _evaluate(StoredRecord("s3://r/1", _decision("alice", "rejected", minutes=0)),
                           StoredRecord("s3://r/2", _decision("<b>mallory</b>", "approved", minutes=1)),
                           StoredRecord("s3://r/3", _decision("alice", "approved", minutes=2)),
                           StoredRecord("s3://r/4", None, "not a decision record"))
    rows = audit_entries(evaluation)
    assert [(r.who, r.what.split(" — ")[0]) for r in rows] == [
        ("alice via airflow", "rejected (accepted, superseded by a later decision)"),
        ("<b>mallory</b> via airflow", "approved (ignored: <b>mallory</b> is not a liaison of HTA200 for airflow "
                                       "decisions)"),
        ("alice via airflow", "approved (accepted, stands)"),
        ("(unreadable)", "s3://r/4: ignored: not a decision record"),
    ]
    page = render_batch_report(title="t", sections=[], audit=rows)
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page and "<b>mallory" not in page
    assert "2026-01-05 12:02:00 UTC" in page


def test_ready_message_carries_links_counts_note_and_both_ways_to_answer():
    notice = Notice(center_id="HTA200", center_name="Demo", batch=BATCH, run_id=RUN,
                    report_url="https://reports.example/r.html", review_url="https://airflow.example/dags/x",
                    report_entity_url="https://www.synapse.org/Synapse:syn9", counts={"manifests": 5, "files": 12},
                    note="first batch of 2026", timeout_days=14)
    subject, body = ready_message(notice)
    assert "HTA200" in subject
    for text in ("https://reports.example/r.html", "https://airflow.example/dags/x", "Synapse:syn9", "manifests: 5",
                 "files: 12", "first batch of 2026", RUN, BATCH, "liaison_decision", "liaison_comment", "14 days"):
        assert text in body, text
    subject, body = timeout_message(notice)
    assert "timed out" in subject and "14 days" in body and RUN in body


def test_report_entity_names_are_synapse_safe():
    name = report_entity_name("HTA200", RUN)
    assert name == "HTA200 batch report manual__2026-01-05T10_00_00+00_00.html"
    assert len(report_entity_name("HTA200", "x" * 400)) <= 256


def _centers(tmp_path, extra: str) -> dict:
    path = tmp_path / "centers.yaml"
    path.write_text(f"centers:\n  HTA201: {{name: A, synapse_project_id: syn1, s3: {{bucket: b}}{extra}}}\n")
    return load_centers(path)


def test_signoff_settings_default_and_validate(tmp_path):
    center = _centers(tmp_path, "")["HTA201"]
    assert (center.signoff_timeout_days, center.signoff_key_conn_id, center.notify.channels) == (
        14.0, "htan_signoff", ("log",))
    center = _centers(tmp_path, ", signoff_timeout_days: 0.5, notify: {channels: [log, email, slack], "
                                "email: [l@example.org], slack_webhook_conn_id: slack_hta201}")["HTA201"]
    assert center.signoff_timeout_days == 0.5
    assert center.notify.email == ("l@example.org",) and center.notify.slack_webhook_conn_id == "slack_hta201"


@pytest.mark.parametrize(("extra", "message"), [
    (", signoff_timeout_days: 0", "signoff_timeout_days"),
    (", signoff_timeout_days: soon", "signoff_timeout_days"),
    (", notify: {channels: [pager]}", "notify.channels"),
    (", notify: {channels: [email]}", "notify.email"),
    (", notify: {channels: [log], email: [not-an-address]}", "notify.email"),
    (", notify: {channels: [slack]}", "slack_webhook_conn_id"),
    (", notify: [log]", "notify"),
])
def test_wrong_signoff_settings_name_the_key(tmp_path, extra, message):
    with pytest.raises(ConfigError, match=message):
        _centers(tmp_path, extra)
