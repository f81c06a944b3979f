"""Multipart uploads and manifest bulk uploads with the real synapseclient 4.14.0.

The emulator plays S3 too (presigned part URLs), so these tests check the bytes that landed
(``admin.file_content``), the MD5 the emulator computed from them, and the multipart protocol's
rules: resume by request, ``forceRestart``, per-part MD5 check, missing parts, signatures.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import synapseutils
from synapseclient.core.exceptions import SynapseHTTPError
from synapseclient.core.upload.multipart_upload_async import multipart_upload_file_async
from synapseclient.models import File, Folder, Project

from htan_submission.synapse.client import SynapseTarget, connect

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("every_call_served")]


MIB = 1024 * 1024
PART = 8 * MIB
MULTIPART_REQUEST = "org.sagebionetworks.repo.model.file.MultipartUploadRequest"


@pytest.fixture
def project(syn):
    return Project(name=f"upload-{uuid.uuid4().hex[:8]}").store(synapse_client=syn)


@pytest.fixture
def big_file(tmp_path):
    """11 MiB of random bytes: two parts at the client's default 8 MiB part size."""
    data = os.urandom(11 * MIB)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path, data


def _request(path, data: bytes, storage_location_id: int | None = None) -> dict:
    """The MultipartUploadRequest synapseclient sends for ``path`` (same fields, same values)."""
    return {
        "concreteType": MULTIPART_REQUEST,
        "contentType": "application/octet-stream",
        "contentMD5Hex": hashlib.md5(data).hexdigest(),
        "fileName": path.name,
        "fileSizeBytes": len(data),
        "generatePreview": True,
        "partSizeBytes": PART,
        "storageLocationId": storage_location_id,
    }


def _start(syn, request: dict, force_restart: bool = False) -> dict:
    flag = "true" if force_restart else "false"
    return syn.restPOST(f"/file/multipart?forceRestart={flag}", body=json.dumps(request),
                        endpoint=syn.fileHandleEndpoint)


def _presigned(syn, upload_id: str, parts: list[int]) -> dict[int, str]:
    body = {"uploadId": upload_id, "partNumbers": parts}
    response = syn.restPOST(f"/file/multipart/{upload_id}/presigned/url/batch", body=json.dumps(body),
                            endpoint=syn.fileHandleEndpoint)
    return {p["partNumber"]: p["uploadPresignedUrl"] for p in response["partPresignedUrls"]}


def _add_part(syn, upload_id: str, number: int, md5_hex: str) -> dict:
    return syn.restPUT(f"/file/multipart/{upload_id}/add/{number}?partMD5Hex={md5_hex}",
                       endpoint=syn.fileHandleEndpoint)


def _part_puts(emulator, upload_id: str) -> list[str]:
    prefix = f"/_storage/upload/{upload_id}/"
    return [c["path"][len(prefix):] for c in emulator.admin.calls()
            if c["method"] == "PUT" and c["path"].startswith(prefix) and c["status"] == 200]


def test_large_file_goes_up_in_two_parts_with_its_md5(syn, synapse_user, emulator, project, big_file):
    path, data = big_file
    stored = File(path=str(path), parent_id=project.id).store(synapse_client=syn)

    entity = emulator.admin.entity(stored.id)["entity"]
    handle = emulator.admin.file_handle(entity["dataFileHandleId"])
    assert handle["storedMd5"] == hashlib.md5(data).hexdigest() == handle["fileHandle"]["contentMd5"]
    assert handle["storedBytes"] == handle["fileHandle"]["contentSize"] == len(data)
    assert emulator.admin.file_content(entity["dataFileHandleId"]) == data
    cache = path.parent / "fresh-cache"
    cache.mkdir()
    reader = connect(SynapseTarget(endpoint=emulator.base_url, token=synapse_user.token), cache_dir=str(cache))
    downloaded = File(id=stored.id, path=str(path.parent / "download")).get(synapse_client=reader)
    assert hashlib.md5(Path(downloaded.path).read_bytes()).hexdigest() == hashlib.md5(data).hexdigest()
    # Over 8 MiB the client downloads in byte ranges, each answered 206 Partial Content.
    statuses = [c["status"] for c in emulator.admin.calls()
                if c["path"].startswith(f"/_storage/download/{entity['dataFileHandleId']}/")]
    assert statuses.count(206) == 2, statuses

    # Repeating the client's request finds the finished upload: both parts added, same handle.
    status = _start(syn, _request(path, data, storage_location_id=1))
    assert status["state"] == "COMPLETED"
    assert status["partsState"] == "11"
    assert status["resultFileHandleId"] == entity["dataFileHandleId"]
    assert sorted(_part_puts(emulator, status["uploadId"])) == ["1", "2"]


def test_client_resumes_an_upload_started_with_the_same_request(syn, emulator, big_file):
    path, data = big_file
    started = _start(syn, _request(path, data))
    assert started["partsState"] == "00"
    assert _start(syn, _request(path, data))["uploadId"] == started["uploadId"]

    upload_id = started["uploadId"]
    first = data[:PART]
    assert httpx.put(_presigned(syn, upload_id, [1])[1], content=first).status_code == 200
    assert _add_part(syn, upload_id, 1, hashlib.md5(first).hexdigest())["addPartState"] == "ADD_SUCCESS"
    assert _start(syn, _request(path, data))["partsState"] == "10"

    handle_id = asyncio.run(multipart_upload_file_async(syn, str(path)))

    assert _part_puts(emulator, upload_id) == ["1", "2"]  # the client sent only part 2 itself
    finished = _start(syn, _request(path, data))
    assert (finished["uploadId"], finished["state"], finished["partsState"]) == (upload_id, "COMPLETED", "11")
    assert str(finished["resultFileHandleId"]) == str(handle_id)
    assert emulator.admin.file_content(handle_id) == data


def test_force_restart_starts_a_new_upload(syn, big_file):
    path, data = big_file
    first = _start(syn, _request(path, data))
    upload_id = first["uploadId"]
    part = data[:PART]
    httpx.put(_presigned(syn, upload_id, [1])[1], content=part).raise_for_status()
    _add_part(syn, upload_id, 1, hashlib.md5(part).hexdigest())

    restarted = _start(syn, _request(path, data), force_restart=True)
    assert restarted["uploadId"] != upload_id
    assert restarted["partsState"] == "00"
    # The restart replaced the cached upload: the plain request now resumes the new one.
    assert _start(syn, _request(path, data))["uploadId"] == restarted["uploadId"]


def test_add_part_checks_the_md5_of_the_stored_bytes(syn, tmp_path):
    data = os.urandom(6 * MIB)
    path = tmp_path / "six.bin"
    upload_id = _start(syn, _request(path, data))["uploadId"]

    not_yet = _add_part(syn, upload_id, 1, hashlib.md5(data).hexdigest())
    assert not_yet["addPartState"] == "ADD_FAILED"

    httpx.put(_presigned(syn, upload_id, [1])[1], content=data).raise_for_status()
    wrong = _add_part(syn, upload_id, 1, hashlib.md5(b"other bytes").hexdigest())
    assert wrong["addPartState"] == "ADD_FAILED"
    assert "MD5" in wrong["errorMessage"]
    assert _start(syn, _request(path, data))["partsState"] == "0"

    right = _add_part(syn, upload_id, 1, hashlib.md5(data).hexdigest())
    assert right["addPartState"] == "ADD_SUCCESS"
    done = syn.restPUT(f"/file/multipart/{upload_id}/complete", endpoint=syn.fileHandleEndpoint)
    assert done["state"] == "COMPLETED"


def test_complete_with_missing_parts_is_400(syn, big_file):
    path, data = big_file
    upload_id = _start(syn, _request(path, data))["uploadId"]
    part = data[:PART]
    httpx.put(_presigned(syn, upload_id, [1])[1], content=part).raise_for_status()
    _add_part(syn, upload_id, 1, hashlib.md5(part).hexdigest())

    with pytest.raises(SynapseHTTPError) as err:
        syn.restPUT(f"/file/multipart/{upload_id}/complete", endpoint=syn.fileHandleEndpoint)
    assert err.value.response.status_code == 400
    assert "2" in err.value.response.json()["reason"]


def test_presigned_url_with_a_bad_or_expired_signature_is_403(syn, emulator, big_file):
    path, data = big_file
    upload_id = _start(syn, _request(path, data))["uploadId"]
    url = _presigned(syn, upload_id, [1])[1]
    base, query = url.split("?", 1)
    params = dict(parse_qsl(query))
    assert {"X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature"} <= set(params), "S3's presigned-URL shape"

    def put(**changes: str | None) -> int:
        changed = {k: v for k, v in {**params, **changes}.items() if v is not None}
        return httpx.put(f"{base}?{urlencode(changed)}", content=b"x").status_code

    assert put(**{"X-Amz-Signature": "0" * 64}) == 403
    assert put(**{"X-Amz-Expires": str(int(params["X-Amz-Expires"]) + 3600)}) == 403
    assert put(**{"X-Amz-Date": "20200101T000000Z"}) == 403  # long expired, and not what was signed
    assert put(**{"X-Amz-Date": "yesterday"}) == 403
    assert put(**{"X-Amz-Signature": None}) == 403
    assert httpx.put(url.replace(f"/{upload_id}/1?", f"/{upload_id}/2?"), content=b"x").status_code == 403
    assert _part_puts(emulator, upload_id) == []
    assert put() == 200


def test_client_refreshes_urls_after_a_403_on_a_part(syn, emulator, project, tmp_path):
    data = os.urandom(64 * 1024)
    path = tmp_path / "refresh.bin"
    path.write_bytes(data)
    rule = emulator.admin.add_fault(r"^/_storage/upload/", method="PUT", status=403, count=1)
    try:
        stored = File(path=str(path), parent_id=project.id).store(synapse_client=syn)
        fired = {r["id"]: r["fired"] for r in emulator.admin.faults()}[rule["id"]]
    finally:
        emulator.admin.clear_faults()
    assert fired == 1
    handle_id = emulator.admin.entity(stored.id)["entity"]["dataFileHandleId"]
    assert emulator.admin.file_content(handle_id) == data
    batch_route = "/file/v1/file/multipart/{upload_id}/presigned/url/batch"
    batches = [c for c in emulator.admin.calls()
               if c["route"] == batch_route and c["user"] == syn.credentials.owner_id]
    assert len(batches) == 2, "the client asks for fresh URLs after a 403"


# --- manifests -------------------------------------------------------------------------------------

def _files(tmp_path, names: list[str]) -> dict[str, bytes]:
    out = {}
    for name in names:
        data = os.urandom(1024) + name.encode()
        (tmp_path / name).write_bytes(data)
        out[name] = data
    return out


def _by_name(emulator, parent_id: str) -> dict[str, dict]:
    records = [emulator.admin.entity(c) for c in emulator.admin.entity(parent_id)["children"]]
    return {r["entity"]["name"]: r for r in records}


def test_legacy_sync_to_synapse_with_a_tsv_manifest(syn, emulator, project, tmp_path):
    folder = Folder(name="legacy", parent_id=project.id).store(synapse_client=syn)
    contents = _files(tmp_path, ["a.txt", "b.txt", "c.txt"])
    rows = ["path\tparent\tassay\treplicate\tcenter"]
    for i, name in enumerate(contents):
        rows.append(f"{tmp_path / name}\t{folder.id}\tscRNA-seq\t{i + 1}\t[HTA1, HTA2]")
    manifest = tmp_path / "manifest.tsv"
    manifest.write_text("\n".join(rows) + "\n")

    synapseutils.syncToSynapse(syn, str(manifest), sendMessages=False)

    stored = _by_name(emulator, folder.id)
    assert sorted(stored) == sorted(contents)
    for i, name in enumerate(contents):
        record = stored[name]
        assert emulator.admin.file_content(record["entity"]["dataFileHandleId"]) == contents[name]
        assert record["annotations"] == {
            "assay": {"type": "STRING", "value": ["scRNA-seq"]},
            "replicate": {"type": "LONG", "value": [str(i + 1)]},
            "center": {"type": "STRING", "value": ["HTA1", "HTA2"]},
        }


def test_models_sync_to_synapse_with_a_csv_manifest(syn, emulator, project, tmp_path):
    folder = Folder(name="models", parent_id=project.id).store(synapse_client=syn)
    sub = Folder(name="sub", parent_id=folder.id).store(synapse_client=syn)
    contents = _files(tmp_path, ["x.csv", "y.csv", "z.csv"])
    parents = {"x.csv": folder.id, "y.csv": folder.id, "z.csv": sub.id}
    rows = ["path,parentId,name,tissue,depth"]
    for i, name in enumerate(contents):
        rows.append(f"{tmp_path / name},{parents[name]},renamed_{name},liver,{i * 0.5 + 0.25}")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(rows) + "\n")

    # manifest_path by keyword: 4.14.0's tracing wrapper rejects it as a positional argument.
    result = Folder(id=folder.id).sync_to_synapse(manifest_path=str(manifest), send_messages=False,
                                                  synapse_client=syn)

    assert len(result) == 3
    stored = {**_by_name(emulator, folder.id), **_by_name(emulator, sub.id)}
    for i, name in enumerate(contents):
        record = stored[f"renamed_{name}"]
        assert record["entity"]["parentId"] == parents[name]
        assert emulator.admin.file_content(record["entity"]["dataFileHandleId"]) == contents[name]
        assert record["annotations"] == {
            "tissue": {"type": "STRING", "value": ["liver"]},
            "depth": {"type": "DOUBLE", "value": [str(i * 0.5 + 0.25)]},
        }
