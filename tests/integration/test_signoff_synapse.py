"""The Synapse route with the real synapseclient against the emulator: the report is uploaded as
a File entity into ``v1_ingest/_reports`` (idempotent by name), the liaison sets
``liaison_decision``/``liaison_comment`` on it, and the decision reads back as theirs (the
entity's ``modifiedBy``), not as whatever name someone types."""

from __future__ import annotations

import pytest
from synapseclient.models import File

from htan_submission.signoff.synapse_route import observe_report
from htan_submission.synapse.reports import (
    REPORTS_FOLDER,
    clear_decision,
    read_report_annotations,
    report_entity_name,
    upload_report_entity,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]

RUN = "manual__2026-01-05T10:00:00+00:00"
BATCH = "s3://bucket/batches/b1/"


@pytest.fixture
def report(tmp_path):
    path = tmp_path / "report.html"
    path.write_text("<!DOCTYPE html><title>r</title><p>5 manifests, 0 errors</p>\n")
    return path


@pytest.fixture
def liaison(make_user, emulator, seeded_center):
    _, seeded = seeded_center
    user = make_user(prefix="liaison")
    emulator.admin.grant(seeded.project_id, user.user_name, "view")
    emulator.admin.grant(seeded.ingest_folder_id, user.user_name, "edit")
    return user


def _set_decision(syn, entity_id: str, decision: str, comment: str | None = None) -> None:
    """What a liaison does in Python (the web UI makes the same PUT annotations2 call)."""
    annotations = syn.get_annotations(entity_id)
    annotations["liaison_decision"] = [decision]
    if comment is not None:
        annotations["liaison_comment"] = [comment]
    syn.set_annotations(annotations)


def test_report_upload_is_idempotent_by_name_and_lands_in_reports_folder(syn, emulator, seeded_center, report):
    _, seeded = seeded_center
    name = report_entity_name("HTA200", RUN)
    entity_id = upload_report_entity(syn, seeded.ingest_folder_id, report, name)
    assert upload_report_entity(syn, seeded.ingest_folder_id, report, name) == entity_id
    stored = emulator.admin.entity(entity_id)["entity"]
    folder = emulator.admin.entity(stored["parentId"])["entity"]
    assert (folder["name"], folder["parentId"]) == (REPORTS_FOLDER, seeded.ingest_folder_id)
    assert stored["versionNumber"] == 1 and stored["name"] == name
    handle = emulator.admin.file_handle(stored["dataFileHandleId"])
    assert emulator.admin.file_content(handle["fileHandle"]["id"]) == report.read_bytes()
    with pytest.raises(ValueError, match="not a Synapse entity name"):
        upload_report_entity(syn, seeded.ingest_folder_id, report, "a:b.html")


def test_liaison_annotations_read_as_the_liaisons_decision(syn, syn_for, liaison, seeded_center, report):
    _, seeded = seeded_center
    entity_id = upload_report_entity(syn, seeded.ingest_folder_id, report, report_entity_name("HTA200", RUN))
    assert observe_report(syn, entity_id, center_id="HTA200", batch=BATCH, run_id=RUN) is None
    _set_decision(syn_for(liaison), entity_id, " Approved ", "looks complete")
    seen = observe_report(syn, entity_id, center_id="HTA200", batch=BATCH, run_id=RUN)
    assert (seen.decision, seen.comment, seen.who, seen.source) == ("approved", "looks complete",
                                                                    liaison.user_name, "synapse")
    assert seen.ref["principal_id"] == liaison.owner_id and seen.ref["entity_id"] == entity_id


def test_a_submitter_typing_the_decision_is_the_submitter_not_the_liaison(syn, synapse_user, liaison, seeded_center,
                                                                           report):
    _, seeded = seeded_center
    entity_id = upload_report_entity(syn, seeded.ingest_folder_id, report, report_entity_name("HTA200", RUN))
    _set_decision(syn, entity_id, "approved", f"approved by {liaison.user_name}")
    state = read_report_annotations(syn, entity_id)
    assert (state.decision, state.modified_by, state.modified_by_name) == ("approved", synapse_user.owner_id,
                                                                           synapse_user.user_name)


def test_the_models_api_store_also_records_the_liaison(syn, syn_for, liaison, seeded_center, report):
    _, seeded = seeded_center
    entity_id = upload_report_entity(syn, seeded.ingest_folder_id, report, report_entity_name("HTA200", RUN))
    liaison_syn = syn_for(liaison)
    entity = File(id=entity_id, download_file=False).get(synapse_client=liaison_syn)
    entity.annotations = {**(entity.annotations or {}), "liaison_decision": ["rejected"],
                          "liaison_comment": ["Demographics missing for 2 participants"]}
    entity.store(synapse_client=liaison_syn)
    seen = observe_report(syn, entity_id, center_id="HTA200", batch=BATCH, run_id=RUN)
    assert (seen.decision, seen.who, seen.comment) == ("rejected", liaison.user_name,
                                                       "Demographics missing for 2 participants")


def test_new_report_bytes_make_a_new_version_and_clear_the_decision(syn, syn_for, emulator, liaison, seeded_center,
                                                                     report):
    _, seeded = seeded_center
    name = report_entity_name("HTA200", RUN)
    entity_id = upload_report_entity(syn, seeded.ingest_folder_id, report, name)
    _set_decision(syn_for(liaison), entity_id, "approved", "ok")
    assert upload_report_entity(syn, seeded.ingest_folder_id, report, name) == entity_id  # same bytes: kept
    assert read_report_annotations(syn, entity_id).decision == "approved"
    report.write_text(report.read_text() + "<p>re-validated</p>\n")
    assert upload_report_entity(syn, seeded.ingest_folder_id, report, name) == entity_id
    stored = emulator.admin.entity(entity_id)
    assert stored["entity"]["versionNumber"] == 2
    assert "liaison_decision" not in stored["annotations"] and "liaison_comment" not in stored["annotations"]
    assert clear_decision(syn, entity_id) is False
