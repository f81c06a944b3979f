"""The real synapseclient 4.14.0 against the emulator: RecordSets (the CSV-backed metadata entity),
their versions, a bound HTAN schema validating each row, and the grid push that gives a RecordSet
its validation summary and per-row results file.

Each test makes its own user, project and (where a schema is needed) organization.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from synapseclient.models import Folder, Grid, Project, RecordSet
from synapseclient.models.mixins.json_schema import InvalidJSONSchemaValidation, JSONSchemaValidation

pytestmark = pytest.mark.integration

VITAL_STATUS = Path(__file__).parent / "data" / "HTAN.VitalStatus-v2.0.0-schema.json"
RECORD_SET = "org.sagebionetworks.repo.model.RecordSet"
HEADER = "HTAN_PARTICIPANT_ID,VITAL_STATUS,AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS"
ROWS = [
    "HTA200_1,Alive,12000",
    "HTA200_2,Deceased,13000",  # the planted invalid row: not a VITAL_STATUS value
    "HTA200_3,Not reported,-1",
]


def _csv(directory: Path, rows: list[str]) -> Path:
    """A fresh file for each content: the client's cache takes a path whose mtime has not moved
    (second resolution) as unchanged and would skip the upload of a rewritten file."""
    path = directory / uuid.uuid4().hex[:8] / "vital_status.csv"
    path.parent.mkdir()
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


@pytest.fixture
def folder(syn) -> Folder:
    project = Project(name=f"records-{uuid.uuid4().hex[:8]}").store(synapse_client=syn)
    return Folder(name="clinical", parent_id=project.id).store(synapse_client=syn)


@pytest.fixture
def vital_status_uri(syn) -> str:
    from synapseclient.extensions.curator import register_jsonschema
    from synapseclient.models import Organization

    org = Organization(name=f"HTAN2Organization{uuid.uuid4().hex[:8]}").store(synapse_client=syn)
    register_jsonschema(schema_path=str(VITAL_STATUS), organization_name=org.name, schema_name="VitalStatus",
                        schema_version="2.0.0", synapse_client=syn)
    return f"{org.name}-VitalStatus-2.0.0"


def _store(syn, folder: Folder, path: Path) -> RecordSet:
    return RecordSet(path=str(path), parent_id=folder.id, name="VitalStatus", description="HTAN2 VitalStatus records",
                     upsert_keys=["HTAN_PARTICIPANT_ID"]).store(synapse_client=syn)


# --- store, get, versions ------------------------------------------------------------------------

def test_store_and_get_a_record_set(syn, emulator, folder, tmp_path):
    path = _csv(tmp_path, ROWS)
    stored = _store(syn, folder, path)

    assert stored.id and stored.version_number == 1
    assert stored.upsert_keys == ["HTAN_PARTICIPANT_ID"]
    assert stored.csv_descriptor.is_first_line_header is True
    record = emulator.admin.entity(stored.id)["entity"]
    assert record["concreteType"] == RECORD_SET
    assert (record["upsertKey"], record["parentId"]) == (["HTAN_PARTICIPANT_ID"], folder.id)
    assert emulator.admin.file_content(stored.data_file_handle_id) == path.read_bytes()

    got = RecordSet(id=stored.id, path=str(tmp_path / "download")).get(synapse_client=syn)
    assert (got.name, got.description, got.version_number) == ("VitalStatus", "HTAN2 VitalStatus records", 1)
    assert got.data_file_handle_id == stored.data_file_handle_id
    assert got.upsert_keys == ["HTAN_PARTICIPANT_ID"]
    assert got.csv_descriptor.is_first_line_header is True
    assert got.validation_summary is None and got.validation_file_handle_id is None
    assert Path(got.path).read_bytes() == path.read_bytes()


def test_a_changed_csv_makes_a_new_version(syn, folder, tmp_path):
    path = _csv(tmp_path, ROWS[:1])
    first = _store(syn, folder, path)
    unchanged = _store(syn, folder, path)
    assert (unchanged.id, unchanged.version_number) == (first.id, 1)

    second = _store(syn, folder, _csv(tmp_path, ROWS))
    assert (second.id, second.version_number) == (first.id, 2)
    assert second.data_file_handle_id != first.data_file_handle_id

    old = RecordSet(id=first.id, version_number=1, download_file=False).get(synapse_client=syn)
    assert (old.version_number, old.data_file_handle_id) == (1, first.data_file_handle_id)
    latest = RecordSet(id=first.id, download_file=False).get(synapse_client=syn)
    assert (latest.version_number, latest.data_file_handle_id) == (2, second.data_file_handle_id)


# --- a bound schema over the rows ----------------------------------------------------------------

def test_a_bound_schema_validates_each_row_and_reports_the_planted_one(syn, folder, tmp_path, vital_status_uri):
    record_set = _store(syn, folder, _csv(tmp_path, ROWS))
    binding = record_set.bind_schema(json_schema_uri=vital_status_uri, synapse_client=syn)
    assert binding.json_schema_version_info.id == vital_status_uri

    result = record_set.validate_schema(synapse_client=syn)
    assert isinstance(result, InvalidJSONSchemaValidation)
    assert result.validation_response.object_id == record_set.id
    assert result.all_validation_messages == ["#/1/VITAL_STATUS: Deceased is not a valid enum value"]

    fixed = _store(syn, folder, _csv(tmp_path, [ROWS[0], "HTA200_2,Dead,13000", ROWS[2]]))
    fixed_result = fixed.validate_schema(synapse_client=syn)
    assert sorted(fixed_result.all_validation_messages) == [
        "#/1: required key [AGE_IN_DAYS_AT_DEATH] not found",
        "#/1: required key [CAUSE_OF_DEATH] not found",
        "#/1: required key [CAUSE_OF_DEATH_SOURCE] not found",
    ]
    _store(syn, folder, _csv(tmp_path, [ROWS[0], ROWS[2]]))
    assert isinstance(record_set.validate_schema(synapse_client=syn), JSONSchemaValidation)


def test_a_grid_push_gives_the_record_set_its_row_results(syn, make_user, syn_for, emulator, folder, tmp_path,
                                                          vital_status_uri):
    source = _csv(tmp_path, ROWS)
    record_set = _store(syn, folder, source)
    record_set.bind_schema(json_schema_uri=vital_status_uri, synapse_client=syn)

    grid = Grid(record_set_id=record_set.id).create(synapse_client=syn)
    assert grid.session_id and grid.source_entity_id == record_set.id
    assert grid.grid_json_schema_id == vital_status_uri
    grid.synchronize(synapse_client=syn)

    pushed = RecordSet(id=record_set.id, download_file=False).get(synapse_client=syn)
    assert pushed.version_number == 2
    summary = pushed.validation_summary
    assert (summary.container_id, summary.total_number_of_children) == (record_set.id, 3)
    assert (summary.number_of_valid_children, summary.number_of_invalid_children,
            summary.number_of_unknown_children) == (2, 1, 0)
    assert emulator.admin.file_content(pushed.data_file_handle_id) == source.read_bytes()

    results = pushed.get_detailed_validation_results(download_location=str(tmp_path / "results"), synapse_client=syn)
    assert list(results.columns) == ["row_index", "is_valid", "validation_error_message", "all_validation_messages"]
    assert results["row_index"].tolist() == [0, 1, 2]
    assert results["is_valid"].tolist() == [True, False, True]
    assert results.loc[1, "validation_error_message"] == "Deceased is not a valid enum value"
    assert "#/VITAL_STATUS: Deceased is not a valid enum value" in results.loc[1, "all_validation_messages"]

    # A reader of the RecordSet can read its results too: they come with the entity.
    reader = make_user(prefix="reader")
    emulator.admin.grant(folder.parent_id, reader.user_name, "view")
    as_reader = RecordSet(id=record_set.id, download_file=False).get(synapse_client=syn_for(reader))
    downloaded = as_reader.get_detailed_validation_results(download_location=str(tmp_path / "reader"),
                                                           synapse_client=syn_for(reader))
    assert downloaded["is_valid"].tolist() == [True, False, True]

    # The client's next CSV is a new version without results; version 2 keeps its own.
    _store(syn, folder, _csv(tmp_path, ROWS[:1]))
    latest = RecordSet(id=record_set.id, download_file=False).get(synapse_client=syn)
    assert (latest.version_number, latest.validation_summary, latest.validation_file_handle_id) == (3, None, None)
    second = RecordSet(id=record_set.id, version_number=2, download_file=False).get(synapse_client=syn)
    assert second.validation_file_handle_id == pushed.validation_file_handle_id


def test_an_export_without_a_schema_leaves_every_row_unknown(syn, folder, tmp_path):
    record_set = _store(syn, folder, _csv(tmp_path, ROWS))
    grid = Grid(record_set_id=record_set.id).create(synapse_client=syn)
    assert [g.session_id for g in Grid.list(source_id=record_set.id, synapse_client=syn)] == [grid.session_id]

    exported = grid.export_to_record_set(synapse_client=syn)
    assert (exported.record_set_id, exported.record_set_version_number) == (record_set.id, 2)
    stats = exported.validation_summary_statistics
    assert (stats.total_number_of_children, stats.number_of_unknown_children) == (3, 3)
    pushed = RecordSet(id=record_set.id, download_file=False).get(synapse_client=syn)
    assert pushed.validation_file_handle_id is None
    assert pushed.get_detailed_validation_results(synapse_client=syn) is None

    grid.delete(synapse_client=syn)
    assert list(Grid.list(source_id=record_set.id, synapse_client=syn)) == []
