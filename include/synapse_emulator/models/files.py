"""File handles, multipart uploads, storage locations and upload destinations.

Uploaded bytes go through presigned part URLs that the emulator itself serves (signed with an
HMAC and valid for 15 minutes, like S3's); add-part checks each part's MD5 against the stored
bytes, as Synapse checks against S3. External S3 locations and file handles talk to a real S3
endpoint (moto in tests) for the ``owner.txt`` handshake and the object-exists check.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import math
import re
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from urllib.parse import quote, urlencode

from synapse_emulator.errors import BadRequest, Forbidden, NotFound
from synapse_emulator.models import Backend, acl, entities
from synapse_emulator.models.common import new_etag, now_iso, parse_syn_id

FILE = "org.sagebionetworks.repo.model.file."
PROJECT = "org.sagebionetworks.repo.model.project."
SYNAPSE_STORAGE_ID = 1
SYNAPSE_BUCKET = "proddata.sagebase.org"
MIN_PART = 5 * 1024 * 1024
MAX_PART = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000
MAX_FILE = 5 * 1024**4
URL_LIFETIME_S = 15 * 60
AMZ_DATE = "%Y%m%dT%H%M%SZ"  # S3's X-Amz-Date, the format synapseclient parses
MD5_HEX = re.compile(r"^[0-9a-fA-F]{32}$")
OWNER_TXT_HELP = "https://help.synapse.org/docs/Custom-Storage-Locations.2048327803.html"


# --- signing of the URLs the emulator serves -------------------------------------------------

def _secret(backend: Backend) -> bytes:
    record = backend.state.get("setting", "url_secret")
    if record is None:
        record = backend.state.put("setting", "url_secret", {"value": secrets.token_hex(16)})
    return record["value"].encode()


def sign(backend: Backend, path: str, lifetime_s: int = URL_LIFETIME_S, issued_at: float | None = None) -> str:
    """A signed relative URL for ``path``, given decoded (``/_storage/download/1/a b.txt``).

    The query has S3's SigV4 shape (``X-Amz-Date``, ``X-Amz-Expires``, ``X-Amz-Signature``):
    synapseclient parses ``X-Amz-Date`` and ``X-Amz-Expires`` from a download URL to know when
    to refresh it, and fails with a KeyError on a file over 8 MiB without them. The signature
    covers the decoded path, which is what the server sees once the ASGI server decodes the
    percent-encoded URL, so file names with spaces, ``+``, ``(`` or ``'`` work like any other.
    ``issued_at`` lets tests issue a URL that has already expired.
    """
    amz_date = time.strftime(AMZ_DATE, time.gmtime(time.time() if issued_at is None else issued_at))
    query = urlencode({"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Date": amz_date,
                       "X-Amz-Expires": str(lifetime_s), "X-Amz-SignedHeaders": "host"})
    return f"{quote(path)}?{query}&X-Amz-Signature={_signature(backend, path, amz_date, str(lifetime_s))}"


def _signature(backend: Backend, path: str, amz_date: str, expires: str) -> str:
    return hmac.new(_secret(backend), f"{path}:{amz_date}:{expires}".encode(), hashlib.sha256).hexdigest()


def verify_signature(backend: Backend, path: str, query: Mapping[str, str]) -> None:
    """403 on a bad or expired signature: what S3 answers, and what the client treats as expiry.
    A mangled date or lifetime is a bad signature too, never a server error."""
    amz_date, expires, signature = (query.get(k) for k in ("X-Amz-Date", "X-Amz-Expires", "X-Amz-Signature"))
    if not amz_date or not signature or not expires or not expires.isdecimal():
        raise Forbidden("Request is not signed")
    try:
        issued = calendar.timegm(time.strptime(amz_date, AMZ_DATE))
    except ValueError as exc:
        raise Forbidden("X-Amz-Date must be in the ISO8601 Long Format yyyyMMdd'T'HHmmss'Z'") from exc
    if not hmac.compare_digest(_signature(backend, path, amz_date, expires), signature):
        raise Forbidden("The request signature we calculated does not match the signature you provided.")
    if issued + int(expires) < time.time():
        raise Forbidden("Request has expired")


# --- storage locations and upload destinations -------------------------------------------------

def synapse_storage_location() -> dict:
    return {
        "concreteType": PROJECT + "S3StorageLocationSetting",
        "storageLocationId": SYNAPSE_STORAGE_ID,
        "uploadType": "S3",
        "banner": None,
        "etag": "synapse-default",
        "createdOn": "2014-01-01T00:00:00.000Z",
    }


def get_storage_location(backend: Backend, location_id: int | str) -> dict:
    if str(location_id) == str(SYNAPSE_STORAGE_ID):
        return synapse_storage_location()
    location = backend.state.get("storage_location", str(location_id))
    if location is None:
        raise NotFound(f"StorageLocationSetting {location_id} does not exist")
    return location


def create_storage_location(backend: Backend, user: dict, body: dict) -> dict:
    concrete = body.get("concreteType", "")
    if concrete == PROJECT + "ExternalS3StorageLocationSetting":
        if not body.get("bucket"):
            raise BadRequest("bucket is required")
        _verify_owner_txt(backend, user, body)
    elif concrete == PROJECT + "ExternalObjectStorageLocationSetting":
        if not body.get("bucket") or not body.get("endpointUrl"):
            raise BadRequest("bucket and endpointUrl are required")
    elif concrete != PROJECT + "S3StorageLocationSetting":
        raise BadRequest(f"Unsupported storage location type: {concrete!r}")
    settings = {k: v for k, v in body.items() if v is not None and k not in _SERVER_ASSIGNED}
    settings["uploadType"] = body.get("uploadType") or "S3"
    with backend.state.locked():
        existing = _same_location(backend, user, settings)
        if existing is not None:
            return existing
        location = {**settings, "storageLocationId": backend.state.next_id("storage_location", 10001),
                    "createdBy": int(user["ownerId"]), "createdOn": now_iso(), "etag": new_etag()}
        return backend.state.put("storage_location", str(location["storageLocationId"]), location)


_SERVER_ASSIGNED = ("storageLocationId", "createdBy", "createdOn", "etag")


def _same_location(backend: Backend, user: dict, settings: dict) -> dict | None:
    """Synapse keeps one row per (creator, settings hash): creating the same location twice
    returns the first one, which is what makes the client's ``StorageLocation.store`` idempotent."""
    for location in backend.state.values("storage_location"):
        mine = str(location["createdBy"]) == str(user["ownerId"])
        if mine and {k: v for k, v in location.items() if k not in _SERVER_ASSIGNED} == settings:
            return location
    return None


def get_my_storage_location(backend: Backend, user: dict, location_id: int | str) -> dict:
    """GET /storageLocation/{id}: only its creator may read a location by id (403 otherwise);
    everyone else learns a folder's destination through ``uploadDestination``."""
    location = get_storage_location(backend, location_id)
    if location["storageLocationId"] != SYNAPSE_STORAGE_ID and str(location["createdBy"]) != str(user["ownerId"]):
        raise Forbidden("Only the creator of a StorageLocationSetting can retrieve it by its id.")
    return location


def s3_client(backend: Backend, endpoint_url: str | None = None):
    """boto3 S3 client for the emulator's S3 (moto in tests); Synapse uses its own IAM role.

    One client per endpoint, kept: building a boto3 client costs ~90 ms, which made every
    external file handle take that long (boto3 clients are thread-safe)."""
    endpoint = endpoint_url if endpoint_url and "amazonaws.com" not in endpoint_url else backend.s3_endpoint_url
    if not endpoint:
        raise BadRequest("The emulator has no S3 endpoint configured (start it with --s3-endpoint-url)")
    with _S3_CLIENTS_LOCK:
        client = _S3_CLIENTS.get(endpoint)
        if client is None:
            import boto3

            client = _S3_CLIENTS[endpoint] = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        return client


_S3_CLIENTS: dict[str, object] = {}
_S3_CLIENTS_LOCK = threading.Lock()


def _verify_owner_txt(backend: Backend, user: dict, body: dict) -> None:
    base_key = (body.get("baseKey") or "").strip("/")
    key = f"{base_key}/owner.txt" if base_key else "owner.txt"
    try:
        obj = s3_client(backend, body.get("endpointUrl")).get_object(Bucket=body["bucket"], Key=key)
        text = obj["Body"].read().decode("utf-8", "replace")
    except BadRequest:
        raise
    except Exception as exc:  # any S3 failure means Synapse could not read owner.txt
        raise BadRequest(
            f"Did not find S3 object at key {key} from bucket {body['bucket']}. "
            f"If the S3 object is in a folder, please make sure you specify a trailing '/' in the folder name. "
            f"See {OWNER_TXT_HELP}"
        ) from exc
    tokens = {t.strip().lower() for t in re.split(r"[,\n\r]", text) if t.strip()}
    identities = {user["ownerId"], user["userName"].lower(), *[e.lower() for e in user["emails"]]}
    if not tokens & identities:
        raise BadRequest(
            f"The username {user['userName']} found under key {key} is not what was expected. "
            f"owner.txt must name the user's id, username or e-mail. See {OWNER_TXT_HELP}"
        )


def create_project_setting(backend: Backend, user: dict, body: dict) -> dict:
    if body.get("settingsType") != "upload":
        raise BadRequest("Only settingsType 'upload' is supported")
    project_id = parse_syn_id(body.get("projectId") or "")
    entity = entities.read(backend, user, project_id)
    acl.require(backend, user, entity["id"], "CHANGE_SETTINGS")
    for location_id in body.get("locations") or []:
        get_storage_location(backend, location_id)
    with backend.state.locked():
        existing = _setting_for(backend, entity["id"])
        setting = {k: v for k, v in body.items() if v is not None}
        setting.update({
            "id": existing["id"] if existing else str(backend.state.next_id("project_setting", 501)),
            "projectId": entity["id"],
            "etag": new_etag(),
            "concreteType": body.get("concreteType") or PROJECT + "UploadDestinationListSetting",
        })
        return backend.state.put("project_setting", setting["id"], setting)


def _setting_for(backend: Backend, entity_id: str) -> dict | None:
    for setting in backend.state.values("project_setting"):
        if setting["projectId"] == entity_id:
            return setting
    return None


def get_project_setting(backend: Backend, user: dict, project_id: str) -> dict | None:
    entity = entities.read(backend, user, project_id)
    return _setting_for(backend, entity["id"])


def delete_project_setting(backend: Backend, user: dict, setting_id: str) -> None:
    setting = backend.state.get("project_setting", setting_id)
    if setting is None:
        raise NotFound(f"ProjectSetting {setting_id} does not exist")
    acl.require(backend, user, setting["projectId"], "DELETE")
    backend.state.delete("project_setting", setting_id)


def upload_destination(backend: Backend, user: dict, entity_id: str, location_id: int | None = None) -> dict:
    """The destination of the nearest ancestor's upload setting, else Synapse storage."""
    entity = entities.read(backend, user, entity_id)
    location_ids = [SYNAPSE_STORAGE_ID]
    current: dict | None = entity
    while current is not None:
        setting = _setting_for(backend, current["id"])
        if setting and setting.get("locations"):
            location_ids = [int(x) for x in setting["locations"]]
            break
        current = backend.state.get("entity", current.get("parentId") or "")
    chosen = location_ids[0] if location_id is None else int(location_id)
    if chosen not in location_ids:
        raise BadRequest(f"Storage location {chosen} is not a destination of {entity['id']}")
    return destination_of(get_storage_location(backend, chosen))


def destination_locations(backend: Backend, user: dict, entity_id: str) -> list[dict]:
    first = upload_destination(backend, user, entity_id)
    return [{"storageLocationId": first["storageLocationId"], "uploadType": first["uploadType"], "banner": None}]


def destination_of(location: dict) -> dict:
    kind = location["concreteType"].rsplit(".", 1)[-1]
    body = {"storageLocationId": location["storageLocationId"], "uploadType": location.get("uploadType", "S3"),
            "banner": location.get("banner")}
    if kind == "S3StorageLocationSetting":
        body["concreteType"] = FILE + "S3UploadDestination"
        body["stsEnabled"] = False
    elif kind == "ExternalS3StorageLocationSetting":
        body.update({"concreteType": FILE + "ExternalS3UploadDestination", "bucket": location["bucket"],
                     "baseKey": location.get("baseKey"), "stsEnabled": bool(location.get("stsEnabled")),
                     "endpointUrl": location.get("endpointUrl") or "https://s3.amazonaws.com"})
    else:
        body.update({"concreteType": FILE + "ExternalObjectStoreUploadDestination", "bucket": location["bucket"],
                     "endpointUrl": location["endpointUrl"], "keyPrefixUUID": str(uuid.uuid4())})
    return body


# --- file handles ------------------------------------------------------------------------------

def get_handle(backend: Backend, handle_id: str) -> dict:
    handle = backend.state.get("filehandle", str(handle_id))
    if handle is None:
        raise NotFound(f"FileHandle does not exist for id: {handle_id}")
    return handle


def read_handle(backend: Backend, user: dict, handle_id: str) -> dict:
    handle = get_handle(backend, handle_id)
    if str(handle["createdBy"]) != str(user["ownerId"]):
        raise Forbidden("Only the creator of a FileHandle can access it directly by its ID.")
    return handle


def _new_handle(backend: Backend, user: dict, fields: dict) -> dict:
    handle_id = str(backend.state.next_id("filehandle", 100001))
    now = now_iso()
    handle = {
        "id": handle_id,
        "etag": new_etag(),
        "createdBy": user["ownerId"],
        "createdOn": now,
        "modifiedOn": now,
        "status": "AVAILABLE",
        "isPreview": False,
        **fields,
    }
    return backend.state.put("filehandle", handle_id, handle)


def create_external_s3_handle(backend: Backend, user: dict, body: dict) -> dict:
    location = get_storage_location(backend, body.get("storageLocationId") or 0)
    if not location["concreteType"].endswith("ExternalS3StorageLocationSetting"):
        raise BadRequest(f"Storage location {location['storageLocationId']} is not an ExternalS3StorageLocationSetting")
    if str(location["createdBy"]) != str(user["ownerId"]):
        raise Forbidden("Only the creator of a storage location can create external file handles in it.")
    if body.get("bucketName") != location["bucket"]:
        raise BadRequest(f"The bucket {body.get('bucketName')} does not match the storage location's bucket")
    key = body.get("key") or ""
    if not key:
        raise BadRequest("key is required")
    if location.get("stsEnabled") and location.get("baseKey") and not key.startswith(location["baseKey"]):
        raise BadRequest("The key must start with the storage location's baseKey")
    if not MD5_HEX.match(body.get("contentMd5") or ""):
        raise BadRequest("contentMd5 must be a 32-character hexadecimal MD5")
    try:
        head = s3_client(backend, location.get("endpointUrl")).head_object(Bucket=location["bucket"], Key=key)
    except BadRequest:
        raise
    except Exception as exc:
        raise BadRequest(f"Unable to access the file at bucket: {location['bucket']} key: {key}.") from exc
    return _new_handle(backend, user, {
        "concreteType": FILE + "S3FileHandle",
        "bucketName": location["bucket"],
        "key": key,
        "storageLocationId": location["storageLocationId"],
        "contentMd5": body["contentMd5"].lower(),
        "contentSize": int(body.get("contentSize") or head["ContentLength"]),
        "contentType": body.get("contentType") or "application/octet-stream",
        "fileName": body.get("fileName") or key.rsplit("/", 1)[-1],
        "_endpointUrl": location.get("endpointUrl"),
    })


def create_external_object_store_handle(backend: Backend, user: dict, body: dict) -> dict:
    location = get_storage_location(backend, body.get("storageLocationId") or 0)
    concrete = body.get("concreteType", "")
    if concrete.endswith("ExternalFileHandle"):
        if not body.get("externalURL"):
            raise BadRequest("externalURL is required")
        return _new_handle(backend, user, {"concreteType": FILE + "ExternalFileHandle",
                                           "externalURL": body["externalURL"],
                                           "fileName": body.get("fileName") or body["externalURL"].rsplit("/", 1)[-1],
                                           "contentType": body.get("contentType"),
                                           "contentMd5": body.get("contentMd5"),
                                           "contentSize": body.get("contentSize"),
                                           "storageLocationId": body.get("storageLocationId")})
    if not location["concreteType"].endswith("ExternalObjectStorageLocationSetting"):
        raise BadRequest("storageLocationId must name an ExternalObjectStorageLocationSetting")
    if not MD5_HEX.match(body.get("contentMd5") or "") or body.get("contentSize") is None:
        raise BadRequest("contentMd5 (32 hex characters) and contentSize are required")
    return _new_handle(backend, user, {
        "concreteType": FILE + "ExternalObjectStoreFileHandle",
        "fileKey": body.get("fileKey"),
        "storageLocationId": location["storageLocationId"],
        "endpointUrl": location["endpointUrl"],
        "bucket": location["bucket"],
        "contentMd5": body["contentMd5"].lower(),
        "contentSize": int(body["contentSize"]),
        "contentType": body.get("contentType") or "application/octet-stream",
        "fileName": body.get("fileName") or str(body.get("fileKey", "")).rsplit("/", 1)[-1],
    })


def download_url(backend: Backend, base_url: str, handle: dict) -> str:
    if handle["concreteType"].endswith("S3FileHandle") and handle.get("storageLocationId") != SYNAPSE_STORAGE_ID:
        client = s3_client(backend, handle.get("_endpointUrl"))
        return client.generate_presigned_url(
            "get_object", Params={"Bucket": handle["bucketName"], "Key": handle["key"]}, ExpiresIn=URL_LIFETIME_S
        )
    if handle["concreteType"].endswith("ExternalFileHandle"):
        return handle["externalURL"]
    path = f"/_storage/download/{handle['id']}/{(handle.get('fileName') or 'file').replace('/', '_')}"
    return base_url.rstrip("/") + sign(backend, path)


def batch(backend: Backend, user: dict, base_url: str, request: dict) -> dict:
    """POST /fileHandle/batch: handles and presigned URLs for handles the caller may read
    through the associated object (the entity's DOWNLOAD permission)."""
    results = []
    for item in request.get("requestedFiles") or []:
        handle_id = str(item.get("fileHandleId"))
        result: dict = {"fileHandleId": handle_id}
        handle = backend.state.get("filehandle", handle_id)
        if handle is None:
            result["failureCode"] = "NOT_FOUND"
            results.append(result)
            continue
        if not _may_download(backend, user, handle, item):
            result["failureCode"] = "UNAUTHORIZED"
            results.append(result)
            continue
        if request.get("includeFileHandles"):
            result["fileHandle"] = view(handle)
        if request.get("includePreSignedURLs"):
            result["preSignedURL"] = download_url(backend, base_url, handle)
        results.append(result)
    return {"requestedFiles": results}


def _may_download(backend: Backend, user: dict, handle: dict, item: dict) -> bool:
    if str(handle["createdBy"]) == str(user["ownerId"]):
        return True
    object_id = item.get("associateObjectId")
    if not object_id:
        return False
    entity = backend.state.get("entity", parse_syn_id(object_id))
    if entity is None:
        return False
    versions = [entity] + [
        backend.state.get("entity_version", f"{entity['id']}.{v}") or {}
        for v in range(1, entity.get("versionNumber", 1))
    ]
    # A RecordSet's validation results CSV is downloaded through the RecordSet, like its data.
    attached = {str(v.get(key)) for v in versions for key in ("dataFileHandleId", "validationFileHandleId")}
    if str(handle["id"]) not in attached:
        return False
    return {"READ", "DOWNLOAD"} <= acl.access_of(backend, user, entity["id"])


def view(handle: dict) -> dict:
    return {k: v for k, v in handle.items() if not k.startswith("_")}


# --- multipart upload ----------------------------------------------------------------------------

def start_multipart(backend: Backend, user: dict, request: dict, force_restart: bool) -> dict:
    concrete = request.get("concreteType", FILE + "MultipartUploadRequest")
    if not concrete.endswith("MultipartUploadRequest"):
        raise BadRequest(f"Unsupported multipart request type: {concrete}")
    size = int(request.get("fileSizeBytes") or 0)
    part_size = int(request.get("partSizeBytes") or 0)
    if not request.get("fileName"):
        raise BadRequest("fileName is required")
    if not MD5_HEX.match(request.get("contentMD5Hex") or ""):
        raise BadRequest("contentMD5Hex must be a 32-character hexadecimal MD5")
    if size < 0 or size > MAX_FILE:
        raise BadRequest(f"fileSizeBytes must be between 0 and {MAX_FILE}")
    if part_size < MIN_PART or part_size > MAX_PART:
        raise BadRequest(f"partSizeBytes must be between {MIN_PART} and {MAX_PART}")
    parts = max(1, math.ceil(size / part_size))
    if parts > MAX_PARTS:
        raise BadRequest(f"The number of parts ({parts}) exceeds the maximum of {MAX_PARTS}; use larger parts")
    location_id = request.get("storageLocationId")
    get_storage_location(backend, location_id if location_id is not None else SYNAPSE_STORAGE_ID)
    request_hash = hashlib.md5(
        (user["ownerId"] + json.dumps(request, sort_keys=True)).encode()
    ).hexdigest()
    with backend.state.locked():
        existing_id = (backend.state.get("multipart_hash", request_hash) or {}).get("uploadId")
        if existing_id and not force_restart:
            return _status(backend.state.get("multipart", existing_id))
        upload_id = str(backend.state.next_id("multipart", 9001))
        now = now_iso()
        upload = {
            "uploadId": upload_id,
            "startedBy": user["ownerId"],
            "startedOn": now,
            "updatedOn": now,
            "state": "UPLOADING",
            "partsState": "0" * parts,
            "request": request,
            "_parts": parts,
        }
        backend.state.put("multipart", upload_id, upload)
        backend.state.put("multipart_hash", request_hash, {"uploadId": upload_id})
        return _status(upload)


def _status(upload: dict) -> dict:
    keys = ("uploadId", "startedBy", "startedOn", "updatedOn", "state", "partsState", "resultFileHandleId")
    return {k: upload[k] for k in keys if k in upload}


def _upload(backend: Backend, user: dict, upload_id: str) -> dict:
    upload = backend.state.get("multipart", upload_id)
    if upload is None:
        raise NotFound(f"Upload {upload_id} does not exist")
    if upload["startedBy"] != user["ownerId"]:
        raise Forbidden("Only the user who started a multipart upload may continue it")
    return upload


def presigned_urls(backend: Backend, user: dict, base_url: str, upload_id: str, request: dict) -> dict:
    upload = _upload(backend, user, upload_id)
    urls = []
    for number in request.get("partNumbers") or []:
        if not 1 <= int(number) <= upload["_parts"]:
            raise BadRequest(f"Part number {number} is out of range 1..{upload['_parts']}")
        path = f"/_storage/upload/{upload_id}/{int(number)}"
        urls.append({"partNumber": int(number), "uploadPresignedUrl": base_url.rstrip("/") + sign(backend, path),
                     "signedHeaders": {"Content-Type": "application/octet-stream"}})
    return {"partPresignedUrls": urls}


def part_key(upload_id: str, number: int) -> str:
    return f"parts/{upload_id}/{number}"


def store_part(backend: Backend, upload_id: str, number: int, data: bytes) -> str:
    """The presigned PUT: keep the bytes, answer with an S3-style ETag (the part's MD5)."""
    upload = backend.state.get("multipart", upload_id)
    if upload is None or not 1 <= number <= upload["_parts"]:
        raise NotFound("NoSuchUpload")
    backend.blobs.write(part_key(upload_id, number), data)
    return hashlib.md5(data).hexdigest()


def add_part(backend: Backend, user: dict, upload_id: str, number: int, md5_hex: str) -> dict:
    with backend.state.locked():
        upload = _upload(backend, user, upload_id)
        result = {"uploadId": upload_id, "partNumber": number}
        key = part_key(upload_id, number)
        if not backend.blobs.exists(key):
            return {**result, "addPartState": "ADD_FAILED", "errorMessage": f"Part {number} has not been uploaded"}
        actual = backend.blobs.md5(key)
        if actual != (md5_hex or "").lower():
            return {**result, "addPartState": "ADD_FAILED",
                    "errorMessage": f"The provided MD5 {md5_hex} does not match the MD5 of the uploaded part {actual}"}
        if number < upload["_parts"] and backend.blobs.size(key) != int(upload["request"]["partSizeBytes"]):
            return {**result, "addPartState": "ADD_FAILED",
                    "errorMessage": f"Part {number} is not of the requested part size"}
        states = list(upload["partsState"])
        states[number - 1] = "1"
        upload["partsState"] = "".join(states)
        upload["updatedOn"] = now_iso()
        backend.state.put("multipart", upload_id, upload)
        return {**result, "addPartState": "ADD_SUCCESS"}


def complete(backend: Backend, user: dict, upload_id: str) -> dict:
    with backend.state.locked():
        upload = _upload(backend, user, upload_id)
        if upload["state"] == "COMPLETED":
            return _status(upload)
        missing = [str(i + 1) for i, s in enumerate(upload["partsState"]) if s != "1"]
        if missing:
            raise BadRequest(f"Missing parts: {', '.join(missing[:20])}")
        request = upload["request"]
        parts = [part_key(upload_id, n) for n in range(1, upload["_parts"] + 1)]
        location_id = request.get("storageLocationId")
        location = get_storage_location(backend, location_id if location_id is not None else SYNAPSE_STORAGE_ID)
        size = sum(backend.blobs.size(p) for p in parts)
        if size != int(request.get("fileSizeBytes") or 0):
            raise BadRequest(f"The uploaded size {size} does not match fileSizeBytes {request.get('fileSizeBytes')}")
        fields = {
            "concreteType": FILE + "S3FileHandle",
            "contentMd5": request["contentMD5Hex"].lower(),
            "contentSize": size,
            "contentType": request.get("contentType") or "application/octet-stream",
            "fileName": request["fileName"],
            "storageLocationId": location["storageLocationId"],
        }
        if location["concreteType"].endswith("ExternalS3StorageLocationSetting"):
            base_key = (location.get("baseKey") or "").strip("/")
            key = "/".join(p for p in (base_key, str(uuid.uuid4()), request["fileName"]) if p)
            tmp = f"complete/{upload_id}"
            backend.blobs.concatenate(tmp, parts)
            with backend.blobs.path(tmp).open("rb") as handle:
                s3_client(backend, location.get("endpointUrl")).upload_fileobj(handle, location["bucket"], key)
            backend.blobs.delete(tmp)
            handle_record = _new_handle(backend, user, {**fields, "bucketName": location["bucket"], "key": key,
                                                         "_endpointUrl": location.get("endpointUrl")})
        else:
            key = f"{user['ownerId']}/{uuid.uuid4()}/{request['fileName']}"
            handle_record = _new_handle(backend, user, {**fields, "bucketName": SYNAPSE_BUCKET, "key": key})
            backend.blobs.concatenate(blob_key(handle_record["id"]), parts)
        upload.update({"state": "COMPLETED", "resultFileHandleId": handle_record["id"], "updatedOn": now_iso()})
        backend.state.put("multipart", upload_id, upload)
        return _status(upload)


def blob_key(handle_id: str) -> str:
    return f"filehandles/{handle_id}"


def handle_bytes(backend: Backend, handle: dict) -> bytes | None:
    """The bytes behind a file handle, for the emulator's own reads (a RecordSet's CSV): its blob,
    or the object in the external bucket it names; None for a link it cannot read."""
    if backend.blobs.exists(blob_key(handle["id"])):
        return backend.blobs.read(blob_key(handle["id"]))
    if handle["concreteType"].endswith("S3FileHandle") and handle.get("storageLocationId") != SYNAPSE_STORAGE_ID:
        obj = s3_client(backend, handle.get("_endpointUrl")).get_object(Bucket=handle["bucketName"], Key=handle["key"])
        return obj["Body"].read()
    return None


def store_bytes(backend: Backend, user: dict, data: bytes, file_name: str, content_type: str = "text/csv") -> dict:
    """A file handle in Synapse storage for bytes the server itself writes (a grid export's CSVs)."""
    handle = _new_handle(backend, user, {
        "concreteType": FILE + "S3FileHandle", "bucketName": SYNAPSE_BUCKET,
        "key": f"{user['ownerId']}/{uuid.uuid4()}/{file_name}", "contentMd5": hashlib.md5(data).hexdigest(),
        "contentSize": len(data), "contentType": content_type, "fileName": file_name,
        "storageLocationId": SYNAPSE_STORAGE_ID,
    })
    backend.blobs.write(blob_key(handle["id"]), data)
    return handle
