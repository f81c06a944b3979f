"""The real synapseclient 4.14.0 against the emulator: JSON-schema organizations, registration,
binding and validation, with a real HTAN2 schema (VitalStatus v2.0.0, vendored beside this file).

Organizations are global in Synapse, so each test registers its own ``HTAN2Organization<hex>``;
each test also makes its own user and project.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from synapseclient.core.exceptions import SynapseHTTPError
from synapseclient.extensions.curator import register_jsonschema
from synapseclient.models import Annotations, File, Folder, JSONSchema, Organization, Project
from synapseclient.models.mixins.json_schema import InvalidJSONSchemaValidation, JSONSchemaValidation

pytestmark = pytest.mark.integration

VITAL_STATUS = Path(__file__).parent / "data" / "HTAN.VitalStatus-v2.0.0-schema.json"
PARTICIPANT_PATTERN = "^(?=.{1,50}$)(HTA2[0-2][0-9])_(0000|EXT[0-9]{1,18}|[0-9]{1,21})$"
ALIVE = {"HTAN_PARTICIPANT_ID": ["HTA200_1"], "VITAL_STATUS": ["Alive"],
         "AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS": [12000]}


def _status(exc_info) -> int:
    return exc_info.value.response.status_code


@pytest.fixture
def org_name() -> str:
    return f"HTAN2Organization{uuid.uuid4().hex[:8]}"


@pytest.fixture
def organization(syn, org_name) -> Organization:
    return Organization(name=org_name).store(synapse_client=syn)


@pytest.fixture
def vital_status_uri(syn, organization) -> str:
    """VitalStatus registered through the curator helper, as the DCC registers HTAN2 schemas."""
    registered = register_jsonschema(schema_path=str(VITAL_STATUS), organization_name=organization.name,
                                      schema_name="VitalStatus", schema_version="2.0.0", synapse_client=syn)
    return f"{registered.uri}-2.0.0"


@pytest.fixture
def folder(syn) -> Folder:
    project = Project(name=f"schemas-{uuid.uuid4().hex[:8]}").store(synapse_client=syn)
    return Folder(name="clinical", parent_id=project.id).store(synapse_client=syn)


def _file(syn, tmp_path, folder: Folder, name: str, annotations: dict) -> File:
    path = tmp_path / name
    path.write_text(f"{name}\n")
    return File(path=str(path), parent_id=folder.id, annotations=annotations).store(synapse_client=syn)


# --- organizations and registration --------------------------------------------------------------

def test_register_an_htan_schema_with_the_id_the_client_builds(syn, synapse_user, organization, org_name,
                                                               vital_status_uri):
    assert organization.id and str(organization.created_by) == synapse_user.owner_id
    assert Organization(name=org_name).get(synapse_client=syn).id == organization.id
    assert vital_status_uri == f"{org_name}-VitalStatus-2.0.0"

    schema = JSONSchema(organization_name=org_name, name="VitalStatus").get(synapse_client=syn)
    assert (schema.id, schema.organization_id) == (f"{org_name}-VitalStatus", organization.id)
    body = schema.get_body(version="2.0.0", synapse_client=syn)
    # The client rewrites $id to <repoEndpoint>/schema/type/registered/<org>-<name>-<version>.
    assert body["$id"] == f"{syn.repoEndpoint}/schema/type/registered/{vital_status_uri}"
    assert body["properties"]["VITAL_STATUS"]["title"] == "VitalStatusEnum"
    versions = list(schema.get_versions(synapse_client=syn))
    assert [(v.semantic_version, v.id) for v in versions] == [("2.0.0", vital_status_uri)]


def test_registering_the_same_semantic_version_twice_is_refused(syn, org_name, vital_status_uri):
    # Synapse's DAO raises IllegalArgumentException for the duplicate key and the async job's
    # get rethrows it, so the client sees a 400 (not a 409).
    with pytest.raises(SynapseHTTPError) as exc_info:
        register_jsonschema(schema_path=str(VITAL_STATUS), organization_name=org_name, schema_name="VitalStatus",
                            schema_version="2.0.0", synapse_client=syn)
    assert _status(exc_info) == 400
    assert "Semantic version: '2.0.0' already exists" in str(exc_info.value)

    newer = JSONSchema(organization_name=org_name, name="VitalStatus")
    newer.store(schema_body={"type": "object"}, version="2.0.1", synapse_client=syn)
    versions = [v.semantic_version for v in newer.get_versions(synapse_client=syn)]
    assert versions == ["2.0.0", "2.0.1"]


def test_a_duplicate_organization_name_is_refused(syn, organization, org_name):
    with pytest.raises(SynapseHTTPError) as exc_info:
        Organization(name=org_name).store(synapse_client=syn)
    assert _status(exc_info) == 400
    assert "already exists" in str(exc_info.value)


def test_only_users_with_create_on_the_organization_may_register(make_user, syn_for, organization, org_name,
                                                                 syn):
    center = make_user(prefix="center")
    center_syn = syn_for(center)
    attempt = JSONSchema(organization_name=org_name, name="Center.Schema")
    with pytest.raises(SynapseHTTPError) as exc_info:
        attempt.store(schema_body={"type": "object"}, version="0.0.1", synapse_client=center_syn)
    assert _status(exc_info) == 403

    organization.update_acl(principal_id=int(center.owner_id), access_type=["READ", "CREATE"], synapse_client=syn)
    acl = organization.get_acl(synapse_client=syn)
    assert {"principalId": int(center.owner_id), "accessType": ["READ", "CREATE"]} in acl["resourceAccess"]
    attempt.store(schema_body={"type": "object"}, version="0.0.1", synapse_client=center_syn)
    assert str(attempt.created_by) == center.owner_id


# --- binding and validation ----------------------------------------------------------------------

def test_files_under_a_bound_folder_validate_against_the_htan_schema(syn, tmp_path, folder, vital_status_uri):
    binding = folder.bind_schema(json_schema_uri=vital_status_uri, synapse_client=syn)
    assert binding.json_schema_version_info.id == vital_status_uri
    assert binding.json_schema_version_info.semantic_version == "2.0.0"
    assert str(binding.object_id) == folder.id[3:]
    assert folder.get_schema(synapse_client=syn).json_schema_version_info.id == vital_status_uri

    valid = _file(syn, tmp_path, folder, "alive.txt", ALIVE)
    dead = _file(syn, tmp_path, folder, "dead.txt", {
        "HTAN_PARTICIPANT_ID": ["HTA200_2"], "VITAL_STATUS": ["Dead"],
        "AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS": ["twelve thousand"]})
    bad_id = _file(syn, tmp_path, folder, "bad-id.txt", {**ALIVE, "HTAN_PARTICIPANT_ID": ["HTA999_1"]})

    result = valid.validate_schema(synapse_client=syn)
    assert isinstance(result, JSONSchemaValidation) and result.is_valid is True
    assert (result.object_id, result.object_etag, result.id) == (valid.id, valid.etag, vital_status_uri)

    dead_result = dead.validate_schema(synapse_client=syn)
    assert isinstance(dead_result, InvalidJSONSchemaValidation)
    assert dead_result.validation_response.is_valid is False
    assert dead_result.validation_error_message == "4 schema violations found"
    assert sorted(dead_result.all_validation_messages) == [
        "#/AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS: expected type: Integer, found: String",
        "#: required key [AGE_IN_DAYS_AT_DEATH] not found",
        "#: required key [CAUSE_OF_DEATH] not found",
        "#: required key [CAUSE_OF_DEATH_SOURCE] not found",
    ]
    causes = dead_result.validation_exception.causing_exceptions
    assert sorted(c.keyword for c in causes) == ["required", "required", "required", "type"]

    bad_id_result = bad_id.validate_schema(synapse_client=syn)
    assert bad_id_result.validation_error_message == f"string [HTA999_1] does not match pattern {PARTICIPANT_PATTERN}"
    assert bad_id_result.validation_exception.pointer_to_violation == "#/HTAN_PARTICIPANT_ID"
    assert bad_id_result.validation_exception.causing_exceptions == []

    stats = folder.get_schema_validation_statistics(synapse_client=syn)
    assert (stats.container_id, stats.total_number_of_children) == (folder.id, 3)
    assert (stats.number_of_valid_children, stats.number_of_invalid_children,
            stats.number_of_unknown_children) == (1, 2, 0)
    invalid = list(folder.get_invalid_validation(synapse_client=syn))
    assert sorted(i.validation_response.object_id for i in invalid) == sorted([dead.id, bad_id.id])
    assert all(i.validation_response.is_valid is False for i in invalid)


def test_fixing_the_annotations_makes_the_file_valid_at_its_new_etag(syn, tmp_path, folder, vital_status_uri):
    folder.bind_schema(json_schema_uri=vital_status_uri, synapse_client=syn)
    record = _file(syn, tmp_path, folder, "record.txt", {**ALIVE, "VITAL_STATUS": ["Alive and well"]})
    before = record.validate_schema(synapse_client=syn)
    assert before.validation_error_message == "Alive and well is not a valid enum value"

    fixed = Annotations(id=record.id, etag=record.etag, annotations=ALIVE).store(synapse_client=syn)
    after = record.validate_schema(synapse_client=syn)
    assert after.is_valid is True
    assert after.object_etag == fixed.etag != before.validation_response.object_etag


def test_the_entity_fields_are_validated_with_the_annotations(syn, tmp_path, folder, org_name, organization):
    """Synapse validates the entity's flat JSON: its own fields (name, id...) plus annotations."""
    JSONSchema(organization_name=org_name, name="Named").store(
        schema_body={"type": "object", "properties": {"name": {"type": "string", "pattern": "^HTA2"}},
                     "required": ["name", "concreteType"]},
        version="1.0.0", synapse_client=syn)
    folder.bind_schema(json_schema_uri=f"{org_name}-Named-1.0.0", synapse_client=syn)
    good = _file(syn, tmp_path, folder, "HTA200_1_R1.fastq", {})
    bad = _file(syn, tmp_path, folder, "reads.fastq", {})
    assert good.validate_schema(synapse_client=syn).is_valid is True
    assert bad.validate_schema(synapse_client=syn).validation_error_message == (
        "string [reads.fastq] does not match pattern ^HTA2")


def test_unbinding_leaves_children_without_validation(syn, tmp_path, folder, vital_status_uri):
    folder.bind_schema(json_schema_uri=vital_status_uri, synapse_client=syn)
    record = _file(syn, tmp_path, folder, "alive.txt", ALIVE)
    assert record.validate_schema(synapse_client=syn).is_valid is True

    folder.unbind_schema(synapse_client=syn)

    with pytest.raises(SynapseHTTPError) as exc_info:
        record.validate_schema(synapse_client=syn)
    assert _status(exc_info) == 404
    with pytest.raises(SynapseHTTPError) as exc_info:
        folder.get_schema(synapse_client=syn)
    assert _status(exc_info) == 404
    stats = folder.get_schema_validation_statistics(synapse_client=syn)
    assert (stats.total_number_of_children, stats.number_of_unknown_children) == (1, 1)
    with pytest.raises(SynapseHTTPError) as exc_info:
        folder.unbind_schema(synapse_client=syn)
    assert _status(exc_info) == 404


def test_validation_is_404_when_nothing_is_bound(syn, tmp_path, folder):
    record = _file(syn, tmp_path, folder, "unbound.txt", ALIVE)
    with pytest.raises(SynapseHTTPError) as exc_info:
        record.validate_schema(synapse_client=syn)
    assert _status(exc_info) == 404
    assert list(folder.get_invalid_validation(synapse_client=syn)) == []


def test_a_binding_on_the_file_overrides_the_folders(syn, tmp_path, folder, org_name, vital_status_uri):
    folder.bind_schema(json_schema_uri=vital_status_uri, synapse_client=syn)
    JSONSchema(organization_name=org_name, name="Anything").store(schema_body={"type": "object"}, version="0.0.1",
                                                                 synapse_client=syn)
    record = _file(syn, tmp_path, folder, "free.txt", {"note": ["no HTAN keys at all"]})
    assert record.validate_schema(synapse_client=syn).validation_response.is_valid is False
    record.bind_schema(json_schema_uri=f"{org_name}-Anything-0.0.1", synapse_client=syn)
    result = record.validate_schema(synapse_client=syn)
    assert result.is_valid is True and result.id == f"{org_name}-Anything-0.0.1"
