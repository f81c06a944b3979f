"""The Synapse calls of a bulk transfer, by name: folders, children, file handles, multipart
upload, File entities with their annotations, storage locations.

Chosen for few calls per file (SYNAPSE.md §3, §7): one paged ``POST /entity/children`` per
folder instead of one ``POST /entity/child`` per file; ``POST /entity/bundle2/create`` makes the
File entity and its annotations in one atomic call (synapseclient's ``File.store`` makes three:
child lookup, ``POST /entity``, ``PUT annotations2``, and swallows annotation errors); an
external S3 object is registered with one raw ``POST /externalFileHandle/s3`` (the client's
helper needs a local file). Every call goes through ``SynapseRest`` (throttled, retried).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from htan_submission.synapse.errors import scrub
from htan_submission.synapse.rest import RetryPolicy, SynapseRest, http_status, is_transient_connection_error
from htan_submission.synapse.throttle import Limiter

if TYPE_CHECKING:
    import requests

    from htan_submission.synapse.client import SynapseTarget

MODEL = "org.sagebionetworks.repo.model."
FILE_ENTITY = MODEL + "FileEntity"
FOLDER = MODEL + "Folder"
S3_FILE_HANDLE = MODEL + "file.S3FileHandle"
MULTIPART_UPLOAD_REQUEST = MODEL + "file.MultipartUploadRequest"
EXTERNAL_S3_LOCATION = MODEL + "project.ExternalS3StorageLocationSetting"
EXTERNAL_S3_DESTINATION = MODEL + "file.ExternalS3UploadDestination"
UPLOAD_DESTINATION_LIST = MODEL + "project.UploadDestinationListSetting"
SYNAPSE_STORAGE_LOCATION_ID = 1
PRESIGN_BATCH = 100  # parts per presigned-URL request; the URLs live 15 minutes
_PRESIGNED_SECRET = re.compile(r"((?:X-Amz-Signature|X-Amz-Credential|X-Amz-Security-Token|Signature)=)[^&\s'\"]+",
                               re.IGNORECASE)


class NameConflict(Exception):
    """409: an entity of that name already exists in the folder (maybe our own retried POST)."""


class PresignedUrlExpired(Exception):
    """403 from a presigned part URL: S3's answer to an expired signature."""


class AddPartFailed(Exception):
    """Synapse refused a part at add-part (its MD5 does not match the bytes it received)."""


@dataclass(frozen=True)
class Caller:
    owner_id: str
    user_name: str


class SynapseFiles:
    """One submitter's file operations. Thread-safe; share one per process and user."""

    def __init__(self, rest: SynapseRest, part_policy: RetryPolicy = RetryPolicy(max_attempts=6)):
        self.rest = rest
        self.part_policy = part_policy
        self._local = threading.local()

    @classmethod
    def login(cls, target: SynapseTarget, cache_dir: str | None = None, limiter: Limiter | None = None) -> SynapseFiles:
        """Log in; REST calls share the process's limiter for this user unless one is given."""
        from htan_submission.synapse.client import connect

        return cls(SynapseRest(connect(target, cache_dir), limiter=limiter))

    @property
    def calls(self) -> int:
        """REST calls made so far (every attempt), for the per-file figures."""
        return self.rest.calls

    def scrub(self, text: str) -> str:
        """``text`` without this session's token (or anything that looks like one), and without
        the signatures of presigned URLs, which a connection error's message repeats and which
        are credentials for as long as they live."""
        text = _PRESIGNED_SECRET.sub(r"\1***", text)
        return scrub(text, getattr(self.rest.syn.credentials, "secret", None))

    def caller(self) -> Caller:
        credentials = self.rest.syn.credentials
        return Caller(owner_id=str(credentials.owner_id), user_name=str(credentials.username))

    # --- entities --------------------------------------------------------------------------------

    def child_id(self, parent_id: str, name: str) -> str | None:
        try:
            return self.rest.post("/entity/child", {"parentId": parent_id, "entityName": name})["id"]
        except Exception as exc:
            if http_status(exc) == 404:
                return None
            raise

    def list_children(self, parent_id: str, types: tuple[str, ...] = ("file",)) -> list[dict]:
        """Every child header of the given types, one call per page of 50."""
        request: dict[str, Any] = {"parentId": parent_id, "includeTypes": list(types)}
        children: list[dict] = []
        while True:
            page = self.rest.post("/entity/children", request)
            children.extend(page.get("page") or [])
            token = page.get("nextPageToken")
            if not token:
                return children
            request["nextPageToken"] = token

    def ensure_folder(self, parent_id: str, name: str) -> str:
        """The id of folder ``name`` under ``parent_id``, created if missing; safe to race (409)."""
        found = self.child_id(parent_id, name)
        if found:
            return found
        try:
            return self.rest.post("/entity", {"concreteType": FOLDER, "name": name, "parentId": parent_id})["id"]
        except Exception as exc:
            if http_status(exc) != 409:
                raise
        found = self.child_id(parent_id, name)
        if not found:
            raise RuntimeError(f"folder {name!r} under {parent_id} was reported to exist but cannot be found")
        return found

    def file_bundle(self, entity_id: str) -> dict:
        """The entity and its file handle (for its MD5) in one call."""
        return self.rest.post(f"/entity/{entity_id}/bundle2",
                              {"includeEntity": True, "includeFileHandles": True})

    def create_file(self, parent_id: str, name: str, file_handle_id: str,
                    annotations: dict | None = None) -> dict:
        """A File entity and its annotations (v2 shape ``{key: {type, value: [...]}}``) in one
        atomic call. Raises ``NameConflict`` on 409."""
        entity = {"concreteType": FILE_ENTITY, "name": name, "parentId": parent_id,
                  "dataFileHandleId": str(file_handle_id)}
        request: dict[str, Any] = {"entity": entity}
        if annotations:
            request["annotations"] = {"annotations": annotations}
        try:
            return self.rest.post("/entity/bundle2/create", request)["entity"]
        except Exception as exc:
            if http_status(exc) == 409:
                raise NameConflict(name) from None
            raise

    def new_version(self, entity: dict, file_handle_id: str, annotations: dict | None = None) -> dict:
        """Point an existing File at a new file handle as a new version (and replace its
        annotations when given). ``entity`` must carry the current etag (412 otherwise)."""
        body = {**entity, "dataFileHandleId": str(file_handle_id)}
        updated = self.rest.put(f"/entity/{entity['id']}?newVersion=true", body)
        if annotations is not None:
            self.rest.put(f"/entity/{entity['id']}/annotations2",
                          {"id": entity["id"], "etag": updated["etag"], "annotations": annotations})
        return updated

    # --- file handles and storage ----------------------------------------------------------------

    def upload_destination(self, entity_id: str) -> dict:
        return self.rest.get(f"/entity/{entity_id}/uploadDestination", endpoint=self.rest.file)

    def external_s3_handle(self, storage_location_id: int, bucket: str, key: str, md5_hex: str, size: int,
                           file_name: str, content_type: str) -> dict:
        """Register an object in the center's bucket as an S3FileHandle: no byte moves.

        Raw REST on purpose: synapseclient's ``post_external_s3_file_handle`` stats a local file
        for the size and name and hashes it for the MD5; the object lives only in S3.
        """
        body = {"concreteType": S3_FILE_HANDLE, "storageLocationId": storage_location_id, "bucketName": bucket,
                "key": key, "contentMd5": md5_hex, "contentSize": size, "fileName": file_name,
                "contentType": content_type}
        return self.rest.post("/externalFileHandle/s3", body, endpoint=self.rest.file)

    def create_external_s3_location(self, bucket: str, base_key: str | None) -> dict:
        """An ExternalS3StorageLocationSetting; Synapse reads ``owner.txt`` first (400 if it does
        not name the caller) and returns the caller's existing one for identical settings, so
        the body must stay exactly this (no description, no banner) for look-ups to find it."""
        body: dict[str, Any] = {"concreteType": EXTERNAL_S3_LOCATION, "uploadType": "S3", "bucket": bucket}
        if base_key:
            body["baseKey"] = base_key
        return self.rest.post("/storageLocation", body)

    def upload_setting(self, project_id: str) -> dict | None:
        """The project's upload-destination setting, None when it uses Synapse storage."""
        found = self.rest.get(f"/projectSettings/{project_id}/type/upload")
        return found if isinstance(found, dict) and found.get("locations") is not None else None

    def set_upload_locations(self, project_id: str, locations: list[int], existing: dict | None) -> dict:
        body = {**(existing or {}), "concreteType": UPLOAD_DESTINATION_LIST, "settingsType": "upload",
                "projectId": project_id, "locations": locations}
        if existing:
            self.rest.put("/projectSettings", body)
            return body
        return self.rest.post("/projectSettings", body)

    # --- multipart upload ------------------------------------------------------------------------

    def start_multipart(self, file_name: str, size: int, md5_hex: str, part_size: int, content_type: str,
                        storage_location_id: int | None) -> dict:
        """Start, or resume, an upload. Synapse keys uploads by (user, request): the same request
        again returns the same ``uploadId`` and ``partsState``, so a killed run resumes."""
        request = {"concreteType": MULTIPART_UPLOAD_REQUEST, "contentMD5Hex": md5_hex, "contentType": content_type,
                   "fileName": file_name, "fileSizeBytes": size, "generatePreview": True,
                   "partSizeBytes": part_size, "storageLocationId": storage_location_id}
        return self.rest.post("/file/multipart?forceRestart=false", request, endpoint=self.rest.file)

    def presign_parts(self, upload_id: str, part_numbers: list[int]) -> dict[int, tuple[str, dict]]:
        """Presigned PUT URLs (and their signed headers) for up to ``PRESIGN_BATCH`` parts per call."""
        urls: dict[int, tuple[str, dict]] = {}
        for start in range(0, len(part_numbers), PRESIGN_BATCH):
            body = {"uploadId": upload_id, "partNumbers": part_numbers[start:start + PRESIGN_BATCH]}
            answer = self.rest.post(f"/file/multipart/{upload_id}/presigned/url/batch", body,
                                    endpoint=self.rest.file)
            for part in answer["partPresignedUrls"]:
                urls[int(part["partNumber"])] = (part["uploadPresignedUrl"], part.get("signedHeaders") or {})
        return urls

    def put_part(self, url: str, headers: dict, data: bytes) -> None:
        """PUT one part's bytes to its presigned URL (S3, not Synapse: no token, no throttle).

        No synapseclient function PUTs bytes we already hold to one URL (its upload attempt pulls
        parts from its own reader and drives the whole upload); this mirrors its retry rules:
        connection errors and 5xx are retried with backoff, 403 means the URL expired.
        """
        import time

        for attempt in range(1, self.part_policy.max_attempts + 1):
            try:
                response = self._session().put(url, data=data, headers=headers, timeout=300)
            except Exception as exc:
                if not is_transient_connection_error(exc) or attempt == self.part_policy.max_attempts:
                    raise
            else:
                if response.status_code < 300:
                    return
                if response.status_code == 403:
                    raise PresignedUrlExpired()
                if response.status_code < 500 or attempt == self.part_policy.max_attempts:
                    raise RuntimeError(f"storage refused a part: HTTP {response.status_code}")
            time.sleep(self.part_policy.backoff(attempt))

    def add_part(self, upload_id: str, part_number: int, md5_hex: str) -> None:
        answer = self.rest.put(f"/file/multipart/{upload_id}/add/{part_number}?partMD5Hex={md5_hex}",
                               endpoint=self.rest.file)
        if answer.get("addPartState") != "ADD_SUCCESS":
            raise AddPartFailed(f"part {part_number}: {answer.get('errorMessage') or answer.get('addPartState')}")

    def complete_multipart(self, upload_id: str) -> dict:
        return self.rest.put(f"/file/multipart/{upload_id}/complete", endpoint=self.rest.file)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = self._local.session = requests.Session()
        return session
