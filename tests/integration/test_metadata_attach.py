"""Metadata attachment end to end: the demo batch in moto, transferred (index mode) into the
emulator with its annotations, then RecordSets upserted, annotations repaired and everything
verified by the emulator's own draft-07 validation of annotations and RecordSet rows.

The DCC's part is played by a separate user who registers the components' schemas in an
organization of its own (organizations are global in the emulator, so each test makes one).
"""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest

from htan_submission.datamodel import get_component
from htan_submission.dev.demo_batch import build_demo_batch, upload_batch
from htan_submission.metadata.batch import attach_batch, read_manifests, verify_batch
from htan_submission.metadata.files import file_refs_with_annotations
from htan_submission.metadata.records import schema_id
from htan_submission.synapse import records as api
from htan_submission.synapse import schemas
from htan_submission.transfer import plan_batch, transfer_chunk
from tests.integration.test_transfer_world import actions, make_world

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]

RECORDS = ("Demographics", "VitalStatus", "BiospecimenData")
FILES = ("scRNALevel1", "DigitalPathologyData")


@pytest.fixture
def dcc_org(make_user, syn_for) -> str:
    """The DCC registers each component's schema as ``<org>-<Component>-<version>``."""
    from synapseclient.extensions.curator import register_jsonschema
    from synapseclient.models import Organization

    syn = syn_for(make_user(prefix="dcc"))
    org = Organization(name=f"HTAN2Organization{uuid.uuid4().hex[:8]}").store(synapse_client=syn).name
    for name in RECORDS + FILES:
        component = get_component(name)
        register_jsonschema(schema_path=str(component.path), organization_name=org, schema_name=component.name,
                            schema_version=component.version, synapse_client=syn)
    return org


@pytest.fixture
def submitted(emulator, moto_s3, make_user, tmp_path):
    """The demo batch uploaded and transferred: (world, local batch folder, manifests)."""
    world = make_world(emulator, moto_s3, make_user)
    world.register()
    root = build_demo_batch(tmp_path / "batch", slide_size=(256, 192))
    url = upload_batch(world.s3, root, world.bucket, world.batch_prefix)
    manifests = _manifests(root)
    refs, findings = file_refs_with_annotations(manifests)
    assert findings == [] and len(refs) == 5
    plan = plan_batch(url, refs, ingest_folder=world.center.ingest_folder_name, s3=world.s3,
                      manifest_keys=[world.batch_prefix + p.name for p in root.glob("*.csv")])
    assert plan.findings == []
    results = [transfer_chunk(c, world.target(), "index", synapse=world.files, s3=world.s3) for c in plan.chunks]
    assert actions(results) == {"created": 5}
    return world, root, refs


def _manifests(root: Path):
    manifests, findings = read_manifests((p, p.name) for p in sorted(root.glob("*.csv")))
    assert findings == []
    return manifests


def _record_csv(emulator, entity_id: str) -> list[dict]:
    entity = emulator.admin.entity(entity_id)["entity"]
    return list(csv.DictReader(io.StringIO(emulator.admin.file_content(entity["dataFileHandleId"]).decode())))


def test_attach_creates_bound_record_sets_and_files_carry_their_typed_annotations(submitted, emulator, dcc_org):
    world, root, refs = submitted
    result = attach_batch(world.files, world.center, _manifests(root), organization=dcc_org)
    assert result.findings == []
    assert result.files == {"checked": 5, "repaired": 0, "unchanged": 5, "missing": 0, "failed": 0}

    for ref in refs:
        module = {"scRNALevel1": "scRNA_seq/Level_1", "DigitalPathologyData": "Imaging/DigitalPathology"}
        stored = world.listing(module[ref.component])[ref.filename.rsplit("/", 1)[-1]]
        assert stored["annotations"] == ref.annotations
    slide = next(r for r in refs if r.component == "DigitalPathologyData").annotations
    assert slide["NOMINAL_MAGNIFICATION"] == {"type": "LONG", "value": ["20"]}
    assert slide["PASSED_QC"] == {"type": "BOOLEAN", "value": ["true"]}

    by_component = {r.component: r for r in result.record_sets}
    assert sorted(by_component) == sorted(RECORDS)
    for name in RECORDS:
        component = get_component(name)
        record = by_component[name]
        assert (record.created, record.version, record.added) == (True, 1, 2)
        entity = emulator.admin.entity(record.record_set_id)["entity"]
        assert entity["concreteType"].endswith(".RecordSet") and entity["upsertKey"] == list(component.key)
        assert entity["parentId"] == world.folder(component.folder) and entity["name"] == name
        binding = schemas.get_binding(world.files, record.record_set_id)
        assert schemas.bound_schema_id(binding) == schema_id(component, dcc_org)
        rows = _record_csv(emulator, record.record_set_id)
        assert list(rows[0]) == list(component.schema()["properties"])
    assert len(result.bindings) == 2  # scRNA_seq/Level_1 and Imaging/DigitalPathology


def test_a_rerun_changes_nothing_and_a_changed_row_is_updated_in_place(submitted, emulator, dcc_org):
    world, root, _ = submitted
    first = attach_batch(world.files, world.center, _manifests(root), organization=dcc_org)
    again = attach_batch(world.files, world.center, _manifests(root), organization=dcc_org)
    assert [(r.record_set_id, r.version, r.added, r.updated, r.unchanged, r.created) for r in again.record_sets] == [
        (r.record_set_id, r.version, 0, 0, 2, False) for r in first.record_sets]

    vital = (root / "VitalStatus.csv").read_text().replace("Alive,22000", "Alive,22400")
    assert "22400" in vital
    (root / "VitalStatus.csv").write_text(vital)
    changed = {r.component: r for r in attach_batch(world.files, world.center, _manifests(root),
                                                    organization=dcc_org).record_sets}
    status = changed["VitalStatus"]
    assert (status.version, status.added, status.updated, status.unchanged) == (2, 0, 1, 1)
    assert changed["Demographics"].version == 1
    rows = _record_csv(emulator, status.record_set_id)
    assert [r["HTAN_PARTICIPANT_ID"] for r in rows] == ["HTA200_1", "HTA200_2"]
    assert rows[0]["AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS"] == "22400"


def test_changed_annotations_of_an_existing_file_are_repaired(submitted, emulator, dcc_org):
    world, root, refs = submitted
    ref = next(r for r in refs if r.component == "scRNALevel1")
    entity_id = world.listing("scRNA_seq/Level_1")[ref.filename.rsplit("/", 1)[-1]]["entity"]["id"]
    current = api.get_annotations(world.files, entity_id)
    api.put_annotations(world.files, entity_id, current["etag"], {"STALE": {"type": "STRING", "value": ["x"]}})
    result = attach_batch(world.files, world.center, _manifests(root), organization=dcc_org)
    assert result.files["repaired"] == 1 and result.files["unchanged"] == 4
    assert emulator.admin.entity(entity_id)["annotations"] == ref.annotations


def test_verify_passes_on_the_clean_batch_and_reports_planted_invalid_items(submitted, emulator, dcc_org):
    world, root, refs = submitted
    manifests = _manifests(root)
    attached = attach_batch(world.files, world.center, manifests, organization=dcc_org)
    clean = verify_batch(world.files, world.center, manifests, deadline_s=30, interval_s=0.1)
    assert clean.findings == []
    assert clean.extra == {**clean.extra, "checked": 8, "record_sets": 3, "valid": 8, "invalid": 0,
                                "not_validated": 0}

    # An annotation made invalid behind the pipeline's back: a READ_INDICATOR that is not in the enum.
    ref = next(r for r in refs if r.component == "scRNALevel1")
    entity_id = world.listing("scRNA_seq/Level_1")[ref.filename.rsplit("/", 1)[-1]]["entity"]["id"]
    current = api.get_annotations(world.files, entity_id)
    api.put_annotations(world.files, entity_id, current["etag"],
                        {**ref.annotations, "READ_INDICATOR": {"type": "STRING", "value": ["Sideways"]}})
    # A RecordSet row made invalid: VitalStatus "Deceased" is not a VITAL_STATUS value.
    vital = next(r for r in attached.record_sets if r.component == "VitalStatus")
    entity = api.get_entity(world.files, vital.record_set_id)
    text = emulator.admin.file_content(entity["dataFileHandleId"]).decode().replace("Alive", "Deceased")
    handle = api.upload_bytes(world.files, text.encode(), "VitalStatus.csv")
    api.update_entity(world.files, {**entity, "dataFileHandleId": handle}, new_version=True)

    report = verify_batch(world.files, world.center, manifests, deadline_s=30, interval_s=0.1)
    rules = sorted((f.rule, f.file, f.row) for f in report.findings)
    assert ("verify.annotations_mismatch", "scRNALevel1.csv", ref.row) in rules
    assert ("verify.schema_invalid", "scRNALevel1.csv", ref.row) in rules
    assert ("verify.schema_invalid", f"{world.center.ingest_folder_name}/Clinical/VitalStatus/VitalStatus", 2) in rules
    invalid = [f for f in report.findings if f.rule == "verify.schema_invalid"]
    assert any("Sideways is not a valid enum value" in f.message for f in invalid)
    assert any("Deceased is not a valid enum value" in f.message for f in invalid)
    assert report.extra["invalid"] == 2 and report.extra["valid"] == 6


# --- the same steps from the CLI and as Airflow operators -------------------------------------------

@pytest.fixture
def cli_env(submitted, emulator, moto_s3, tmp_path, monkeypatch):
    world = submitted[0]
    centers = tmp_path / "centers.yaml"
    centers.write_text(f"centers:\n  {world.center.center_id}:\n    name: Metadata Test Center\n"
                       f"    synapse_project_id: {world.center.synapse_project_id}\n"
                       f"    s3: {{bucket: {world.bucket}, prefix: batches/}}\n")
    monkeypatch.setenv("HTAN_CENTERS_FILE", str(centers))
    monkeypatch.setenv("SYNAPSE_AUTH_TOKEN", world.user.token)
    monkeypatch.setenv("HTAN_SYNAPSE_ENDPOINT", emulator.base_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_s3.endpoint_url)
    monkeypatch.setenv("HTAN_REPORTS_DIR", str(tmp_path / "reports"))
    return submitted


def test_cli_attach_then_verify(cli_env, dcc_org, tmp_path, capsys):
    import json

    from htan_submission.cli import main

    world = cli_env[0]
    args = ["--center", world.center.center_id, "--batch", world.batch_url, "--organization", dcc_org]
    assert main(["attach", *args, "--json", str(tmp_path / "attach.json")]) == 0
    assert "VitalStatus: RecordSet syn" in capsys.readouterr().out
    attached = json.loads((tmp_path / "attach.json").read_text())
    assert sorted(r["component"] for r in attached["record_sets"]) == sorted(RECORDS)
    assert main(["verify", *args, "--deadline", "30", "--json", str(tmp_path / "verify.json")]) == 0
    verified = json.loads((tmp_path / "verify.json").read_text())
    assert verified["summary"]["checked"] == 8 and verified["summary"]["errors"] == 0
    assert main(["attach", "--center", world.center.center_id, "--batch", world.batch_url,
                 "--organization", "HTAN2OrganizationNobody"]) == 1  # an unregistered schema is an error
    assert "metadata.schema_not_registered" in capsys.readouterr().out


def test_operators_attach_and_verify_and_fail_on_an_invalid_record(cli_env, dcc_org, emulator, tmp_path):
    from types import SimpleNamespace

    from airflow.sdk.exceptions import AirflowFailException

    from htan_submission.airflow.metadata_operators import AttachMetadataOperator, VerifySubmissionOperator

    world = cli_env[0]
    context = {"dag": SimpleNamespace(dag_id="htan_submission__HTA201"), "run_id": "manual__1"}

    def operator(cls, **kwargs):
        op = cls(task_id=cls.__name__, center_id=world.center.center_id, batch=world.batch_url,
                 organization=dcc_org, **kwargs)
        op.s3, op.synapse = world.s3, world.files  # what the lazy hooks would build
        return op

    attached = operator(AttachMetadataOperator).execute(context)
    assert attached["errors"] == 0 and len(attached["record_sets"]) == 3 and attached["bindings"] == 2
    verified = operator(VerifySubmissionOperator, deadline_s=30, interval_s=0.1).execute(context)
    assert (verified["checked"], verified["valid"], verified["errors"]) == (8, 8, 0)
    assert (tmp_path / "reports/htan_submission__HTA201/manual__1/verify.html").is_file()

    demographics = next(r for r in attached["record_sets"] if r["component"] == "Demographics")
    entity = api.get_entity(world.files, demographics["record_set_id"])
    text = emulator.admin.file_content(entity["dataFileHandleId"]).decode().replace("Female", "Femme")
    handle = api.upload_bytes(world.files, text.encode(), "Demographics.csv")
    api.update_entity(world.files, {**entity, "dataFileHandleId": handle}, new_version=True)
    with pytest.raises(AirflowFailException, match="verification error"):
        operator(VerifySubmissionOperator, deadline_s=30, interval_s=0.1).execute(context)
    written = (tmp_path / "reports/htan_submission__HTA201/manual__1/verify.json").read_text()
    assert "verify.schema_invalid" in written and "Femme is not a valid enum value" in written
