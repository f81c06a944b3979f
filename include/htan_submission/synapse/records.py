"""The Synapse calls of metadata attachment: entities read and updated by etag, annotations v2,
RecordSet entities, and CSV bytes held in memory moved through Synapse's multipart upload.

Raw REST through ``SynapseRest`` (throttled, retried) rather than synapseclient's OOP models:
``File.store`` logs and swallows an annotation 400 (SYNAPSE.md §4, §8.4), and ``RecordSet.store``
wants a file on disk and decides by the file's mtime whether to upload (a rewritten CSV within the
same second would be skipped). Here every failure raises.
"""

from __future__ import annotations

import hashlib
from typing import Any

from htan_submission.synapse.files import MODEL, SYNAPSE_STORAGE_LOCATION_ID, SynapseFiles
from htan_submission.synapse.rest import http_status

RECORD_SET = MODEL + "RecordSet"
PART_SIZE = 5 * 1024 * 1024


def get_entity(files: SynapseFiles, entity_id: str) -> dict:
    return files.rest.get(f"/entity/{entity_id}")


def update_entity(files: SynapseFiles, entity: dict, new_version: bool = False) -> dict:
    """``PUT /entity/{id}``; ``entity`` carries the etag it was read with (412 otherwise)."""
    suffix = "?newVersion=true" if new_version else ""
    return files.rest.put(f"/entity/{entity['id']}{suffix}", entity)


def get_annotations(files: SynapseFiles, entity_id: str) -> dict:
    """``{id, etag, annotations}``; the etag is the entity's."""
    return files.rest.get(f"/entity/{entity_id}/annotations2")


def put_annotations(files: SynapseFiles, entity_id: str, etag: str, annotations: dict) -> dict:
    """Replace the whole annotation map; raises on 400 (limits) and 412 (stale etag)."""
    return files.rest.put(f"/entity/{entity_id}/annotations2",
                          {"id": entity_id, "etag": etag, "annotations": annotations})


def create_record_set(files: SynapseFiles, parent_id: str, name: str, file_handle_id: str,
                      upsert_key: list[str], description: str | None = None) -> dict:
    body: dict[str, Any] = {"concreteType": RECORD_SET, "name": name, "parentId": parent_id,
                            "dataFileHandleId": str(file_handle_id), "upsertKey": list(upsert_key),
                            "csvDescriptor": {"isFirstLineHeader": True}}
    if description:
        body["description"] = description
    return files.rest.post("/entity", body)


def upload_bytes(files: SynapseFiles, data: bytes, file_name: str, content_type: str = "text/csv",
                 storage_location_id: int = SYNAPSE_STORAGE_LOCATION_ID) -> str:
    """A new file handle in Synapse storage holding ``data`` (never written to disk).

    Synapse storage on purpose: a center's project may upload to its own bucket (index mode),
    but a RecordSet's CSV is Synapse's to keep. Synapse keys uploads by (user, request), so the
    same bytes again resume or return the completed handle.
    """
    md5 = hashlib.md5(data).hexdigest()
    part_size = PART_SIZE
    parts = max(1, -(-len(data) // part_size))
    status = files.start_multipart(file_name, len(data), md5, part_size, content_type, storage_location_id)
    if status.get("state") == "COMPLETED":
        return str(status["resultFileHandleId"])
    upload_id = status["uploadId"]
    done = status.get("partsState") or "0" * parts
    missing = [n for n in range(1, parts + 1) if done[n - 1:n] != "1"]
    urls = files.presign_parts(upload_id, missing) if missing else {}
    for number in missing:
        chunk = data[(number - 1) * part_size:number * part_size]
        url, headers = urls[number]
        files.put_part(url, headers, chunk)
        files.add_part(upload_id, number, hashlib.md5(chunk).hexdigest())
    return str(files.complete_multipart(upload_id)["resultFileHandleId"])


def download_entity_file(files: SynapseFiles, entity_id: str, file_handle_id: str) -> bytes:
    """The bytes of an entity's file, through a presigned URL granted by the entity (so it works
    for a CSV another user of the center uploaded)."""
    request = {"requestedFiles": [{"fileHandleId": str(file_handle_id), "associateObjectId": entity_id,
                                   "associateObjectType": "FileEntity"}],
               "includePreSignedURLs": True, "includeFileHandles": False}
    [found] = files.rest.post("/fileHandle/batch", request, endpoint=files.rest.file)["requestedFiles"]
    if found.get("failureCode"):
        raise RuntimeError(f"cannot read the file of {entity_id}: {found['failureCode']}")
    response = files._session().get(found["preSignedURL"], timeout=300)
    if response.status_code >= 300:
        raise RuntimeError(f"cannot read the file of {entity_id}: HTTP {response.status_code}")
    return response.content


def not_found_is_none(call, *args) -> Any:
    """``call(*args)``, or None when Synapse answers 404."""
    try:
        return call(*args)
    except Exception as exc:
        if http_status(exc) == 404:
            return None
        raise
