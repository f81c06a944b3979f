"""The real synapseclient 4.14.0 against the emulator: external S3 storage locations.

The emulator checks ``owner.txt`` and object existence against moto over HTTP, as Synapse checks
them against the real bucket, so these tests fail if a check is skipped or reads the wrong key.
Each test makes its own user, project and bucket.
"""

from __future__ import annotations

import hashlib
import json
import uuid

import pytest
from synapseclient.api import get_upload_destination
from synapseclient.core.async_utils import wrap_async_to_sync
from synapseclient.core.exceptions import SynapseHTTPError
from synapseclient.models import File, Folder, Project, ProjectSetting, StorageLocation, StorageLocationType

pytestmark = pytest.mark.integration

EXTERNAL_S3 = "org.sagebionetworks.repo.model.project.ExternalS3StorageLocationSetting"
BASE_KEY = "htan/center1"


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _status(exc_info) -> int:
    return exc_info.value.response.status_code


def _put(moto_s3, bucket: str, key: str, data: bytes) -> None:
    moto_s3.client().put_object(Bucket=bucket, Key=key, Body=data)


def _location(bucket: str, base_key: str | None = BASE_KEY) -> StorageLocation:
    return StorageLocation(storage_type=StorageLocationType.EXTERNAL_S3, bucket=bucket, base_key=base_key)


def _register(syn, body: dict) -> dict:
    """POST /file/v1/externalFileHandle/s3: the client's helper needs a local file, the DAG has none."""
    return syn.restPOST("/externalFileHandle/s3", body=json.dumps(body), endpoint=syn.fileHandleEndpoint)


def _handle_body(location_id: int, bucket: str, key: str, data: bytes, **extra) -> dict:
    return {"concreteType": "org.sagebionetworks.repo.model.file.S3FileHandle", "storageLocationId": location_id,
            "bucketName": bucket, "key": key, "contentMd5": hashlib.md5(data).hexdigest(),
            "fileName": key.rsplit("/", 1)[-1], "contentType": "text/plain", **extra}


@pytest.fixture
def owner(make_user):
    return make_user(prefix="s3owner")


@pytest.fixture
def owner_syn(syn_for, owner):
    return syn_for(owner)


@pytest.fixture
def owned_location(owner, owner_syn, moto_s3, s3_bucket) -> StorageLocation:
    """An ExternalS3 location under BASE_KEY whose owner.txt names ``owner``."""
    _put(moto_s3, s3_bucket, f"{BASE_KEY}/owner.txt", owner.user_name.encode())
    return _location(s3_bucket).store(synapse_client=owner_syn)


@pytest.fixture
def external_folder(owner_syn, owned_location) -> Folder:
    project = Project(name=_name("ext-s3")).store(synapse_client=owner_syn)
    folder = Folder(name="raw", parent_id=project.id).store(synapse_client=owner_syn)
    folder.set_storage_location(storage_location_id=owned_location.storage_location_id, synapse_client=owner_syn)
    return folder


# --- owner.txt handshake -----------------------------------------------------------------------

def test_storage_location_without_owner_txt_is_refused(owner_syn, s3_bucket):
    with pytest.raises(SynapseHTTPError) as exc_info:
        _location(s3_bucket).store(synapse_client=owner_syn)
    assert _status(exc_info) == 400
    assert f"{BASE_KEY}/owner.txt" in str(exc_info.value)


def test_storage_location_whose_owner_txt_names_someone_else_is_refused(owner, owner_syn, make_user, moto_s3,
                                                                        s3_bucket):
    someone_else = make_user(prefix="other")
    _put(moto_s3, s3_bucket, f"{BASE_KEY}/owner.txt", f"{someone_else.user_name}\n".encode())
    with pytest.raises(SynapseHTTPError) as exc_info:
        _location(s3_bucket).store(synapse_client=owner_syn)
    assert _status(exc_info) == 400
    assert owner.user_name in str(exc_info.value)


def test_owner_txt_at_the_bucket_root_serves_a_location_without_base_key(owner, owner_syn, moto_s3, s3_bucket):
    _put(moto_s3, s3_bucket, f"{BASE_KEY}/owner.txt", owner.user_name.encode())
    with pytest.raises(SynapseHTTPError) as exc_info:  # the root has no owner.txt yet
        _location(s3_bucket, base_key=None).store(synapse_client=owner_syn)
    assert _status(exc_info) == 400

    _put(moto_s3, s3_bucket, "owner.txt", f"someone,{owner.user_name}".encode())
    location = _location(s3_bucket, base_key=None).store(synapse_client=owner_syn)
    assert location.storage_location_id is not None
    assert location.base_key is None


def test_storage_location_whose_owner_txt_names_the_user_is_created(owner, owner_syn, owned_location, s3_bucket):
    assert owned_location.storage_location_id > 1
    assert owned_location.concrete_type == EXTERNAL_S3
    assert owned_location.storage_type == StorageLocationType.EXTERNAL_S3
    assert str(owned_location.created_by) == owner.owner_id
    assert (owned_location.bucket, owned_location.base_key) == (s3_bucket, BASE_KEY)

    again = StorageLocation(storage_location_id=owned_location.storage_location_id).get(synapse_client=owner_syn)
    assert (again.bucket, again.base_key, again.storage_type) == (s3_bucket, BASE_KEY, StorageLocationType.EXTERNAL_S3)


def test_storing_the_same_location_twice_returns_the_first(owner_syn, owned_location, s3_bucket):
    same = _location(s3_bucket).store(synapse_client=owner_syn)
    assert same.storage_location_id == owned_location.storage_location_id
    with_banner = StorageLocation(storage_type=StorageLocationType.EXTERNAL_S3, bucket=s3_bucket, base_key=BASE_KEY,
                                  banner="HTAN center 1").store(synapse_client=owner_syn)
    assert with_banner.storage_location_id != owned_location.storage_location_id
    assert with_banner.banner == "HTAN center 1"


def test_only_its_creator_may_read_a_location_by_id(make_user, syn_for, owned_location):
    other = syn_for(make_user(prefix="reader"))
    with pytest.raises(SynapseHTTPError) as exc_info:
        StorageLocation(storage_location_id=owned_location.storage_location_id).get(synapse_client=other)
    assert _status(exc_info) == 403


# --- upload destination ------------------------------------------------------------------------

def test_folder_setting_makes_the_location_its_upload_destination(owner_syn, owned_location, external_folder,
                                                                  s3_bucket):
    location_id = owned_location.storage_location_id
    setting = ProjectSetting(project_id=external_folder.id, settings_type="upload").get(synapse_client=owner_syn)
    assert setting is not None
    assert setting.locations == [location_id]
    assert setting.project_id == external_folder.id

    destination = wrap_async_to_sync(get_upload_destination(external_folder.id, synapse_client=owner_syn))
    assert destination["concreteType"] == "org.sagebionetworks.repo.model.file.ExternalS3UploadDestination"
    assert destination["storageLocationId"] == location_id
    assert (destination["bucket"], destination["baseKey"]) == (s3_bucket, BASE_KEY)

    # The project above the folder keeps Synapse storage.
    project_destination = wrap_async_to_sync(
        get_upload_destination(external_folder.parent_id, synapse_client=owner_syn))
    assert project_destination["concreteType"] == "org.sagebionetworks.repo.model.file.S3UploadDestination"
    assert project_destination["storageLocationId"] == 1


def test_project_set_storage_location_replaces_the_setting(owner_syn, owned_location):
    project = Project(name=_name("ext-s3-project")).store(synapse_client=owner_syn)
    assert ProjectSetting(project_id=project.id, settings_type="upload").get(synapse_client=owner_syn) is None
    first = project.set_storage_location(storage_location_id=owned_location.storage_location_id,
                                         synapse_client=owner_syn)
    second = project.set_storage_location(storage_location_id=1, synapse_client=owner_syn)
    assert second.id == first.id
    assert second.locations == [1]
    destination = wrap_async_to_sync(get_upload_destination(project.id, synapse_client=owner_syn))
    assert destination["storageLocationId"] == 1


# --- external S3 file handles ------------------------------------------------------------------

def test_external_handle_takes_its_size_from_s3_and_the_file_downloads(emulator, owner, owner_syn, owned_location,
                                                                        external_folder, moto_s3, s3_bucket,
                                                                        tmp_path):
    data = b"HTAN object already in the center's bucket\n" * 100
    key = f"{BASE_KEY}/level1/sample-1.fastq"
    _put(moto_s3, s3_bucket, key, data)
    emulator.admin.clear_calls()

    handle = _register(owner_syn, _handle_body(owned_location.storage_location_id, s3_bucket, key, data))

    posts = [c for c in emulator.admin.calls() if c["path"] == "/file/v1/externalFileHandle/s3"]
    assert [(c["status"], c["user"]) for c in posts] == [(201, owner.owner_id)]
    assert handle["contentSize"] == len(data)
    assert (handle["bucketName"], handle["key"]) == (s3_bucket, key)
    assert handle["storageLocationId"] == owned_location.storage_location_id
    assert str(handle["createdBy"]) == owner.owner_id

    stored = File(data_file_handle_id=handle["id"], parent_id=external_folder.id, name="sample-1.fastq",
                  annotations={"Component": ["scRNALevel1"]}).store(synapse_client=owner_syn)
    assert stored.id and stored.version_number == 1
    assert emulator.admin.entity(stored.id)["entity"]["dataFileHandleId"] == handle["id"]

    downloaded = File(id=stored.id, path=str(tmp_path / "download")).get(synapse_client=owner_syn)
    assert downloaded.path.endswith("sample-1.fastq")
    with open(downloaded.path, "rb") as fh:
        assert fh.read() == data
    assert downloaded.data_file_handle_id == handle["id"]
    assert downloaded.annotations == {"Component": ["scRNALevel1"]}


def test_only_the_location_creator_may_register_handles(make_user, syn_for, owned_location, moto_s3, s3_bucket):
    key = f"{BASE_KEY}/sample-2.txt"
    _put(moto_s3, s3_bucket, key, b"x")
    intruder = syn_for(make_user(prefix="intruder"))
    with pytest.raises(SynapseHTTPError) as exc_info:
        _register(intruder, _handle_body(owned_location.storage_location_id, s3_bucket, key, b"x"))
    assert _status(exc_info) == 403


def test_a_missing_object_is_refused(owner_syn, owned_location, s3_bucket):
    with pytest.raises(SynapseHTTPError) as exc_info:
        _register(owner_syn, _handle_body(owned_location.storage_location_id, s3_bucket,
                                          f"{BASE_KEY}/not-there.txt", b"x"))
    assert _status(exc_info) == 400
    assert "not-there.txt" in str(exc_info.value)


@pytest.mark.parametrize("md5", ["not-an-md5", "abc123", "g" * 32, ""])
def test_a_malformed_md5_is_refused(owner_syn, owned_location, moto_s3, s3_bucket, md5):
    key = f"{BASE_KEY}/sample-3.txt"
    _put(moto_s3, s3_bucket, key, b"y")
    with pytest.raises(SynapseHTTPError) as exc_info:
        _register(owner_syn, _handle_body(owned_location.storage_location_id, s3_bucket, key, b"y", contentMd5=md5))
    assert _status(exc_info) == 400
    assert "contentMd5" in str(exc_info.value)


def test_a_bucket_other_than_the_locations_is_refused(owner_syn, owned_location, moto_s3, s3_bucket):
    other_bucket = f"other-{uuid.uuid4().hex[:10]}"
    moto_s3.client().create_bucket(Bucket=other_bucket)
    _put(moto_s3, other_bucket, f"{BASE_KEY}/sample-4.txt", b"z")
    with pytest.raises(SynapseHTTPError) as exc_info:
        _register(owner_syn, _handle_body(owned_location.storage_location_id, other_bucket,
                                          f"{BASE_KEY}/sample-4.txt", b"z"))
    assert _status(exc_info) == 400


# --- uploads through the client into the external location --------------------------------------

def test_file_upload_into_the_external_folder_lands_in_the_bucket_under_base_key(emulator, owner_syn, owned_location,
                                                                                 external_folder, moto_s3, s3_bucket,
                                                                                 tmp_path):
    local = tmp_path / "clinical.csv"
    data = b"HTAN_PARTICIPANT_ID,VITAL_STATUS\nHTA200_1,Alive\n"
    local.write_bytes(data)

    stored = File(path=str(local), parent_id=external_folder.id).store(synapse_client=owner_syn)

    handle = emulator.admin.file_handle(stored.data_file_handle_id)["fileHandle"]
    assert handle["bucketName"] == s3_bucket
    assert handle["key"].startswith(f"{BASE_KEY}/") and handle["key"].endswith("/clinical.csv")
    assert handle["storageLocationId"] == owned_location.storage_location_id
    assert handle["contentMd5"] == hashlib.md5(data).hexdigest()
    body = moto_s3.client().get_object(Bucket=s3_bucket, Key=handle["key"])["Body"].read()
    assert body == data
