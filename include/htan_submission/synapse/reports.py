"""The batch report as a Synapse File entity, and the liaison's decision written on it.

The report step uploads the HTML report into the center's ingest folder (``vN_ingest/_reports``)
so the liaison can read it where they already work. They decide by setting two annotations on
that entity, ``liaison_decision`` (approved/rejected) and ``liaison_comment``. Who decided is not
an annotation (anyone could type a name): it is the entity's ``modifiedBy``, which Synapse sets on
every write, annotations included, and which no client can forge.

The report is uploaded to Synapse's own storage (location 1) on purpose: in index mode the
project's default upload destination is the center's bucket, and a report must not land there.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import synapseclient

REPORTS_FOLDER = "_reports"
DECISION_ANNOTATION = "liaison_decision"
COMMENT_ANNOTATION = "liaison_comment"
SYNAPSE_STORAGE_LOCATION_ID = 1
FILE_ENTITY = "org.sagebionetworks.repo.model.FileEntity"
FOLDER = "org.sagebionetworks.repo.model.Folder"
_NOT_IN_NAMES = re.compile(r"[^A-Za-z0-9 _\-.+()',]")


@dataclass(frozen=True)
class ReportAnnotations:
    """What the report entity says now: the decision annotations (raw, may be absent) and who
    last modified the entity, when, at which etag."""

    entity_id: str
    etag: str
    version: int | None
    decision: str | None
    comment: str | None
    modified_by: str
    modified_by_name: str | None
    modified_on: str


def _client(syn_or_gateway: Any) -> synapseclient.Synapse:
    """Accept a ``SynapseGateway`` or a raw logged-in client."""
    return getattr(syn_or_gateway, "client", syn_or_gateway)


def report_entity_name(center_id: str, run_id: str) -> str:
    """A Synapse-safe, per-run name (run ids carry ``:`` which Synapse refuses in names)."""
    name = _NOT_IN_NAMES.sub("_", f"{center_id} batch report {run_id}")[:250]
    return f"{name}.html"


def _status(exc: BaseException) -> int | None:
    return getattr(getattr(exc, "response", None), "status_code", None)


def _find_child(syn: synapseclient.Synapse, parent_id: str, name: str) -> str | None:
    from synapseclient.core.exceptions import SynapseHTTPError

    try:
        return syn.restPOST("/entity/child", body=json.dumps({"parentId": parent_id, "entityName": name}))["id"]
    except SynapseHTTPError as exc:
        if _status(exc) == 404:
            return None
        raise


def _create(syn: synapseclient.Synapse, body: dict) -> str:
    """POST /entity; a 409 (a concurrent run made it first) resolves to the existing one."""
    from synapseclient.core.exceptions import SynapseHTTPError

    try:
        return syn.restPOST("/entity", body=json.dumps(body))["id"]
    except SynapseHTTPError as exc:
        found = _find_child(syn, body["parentId"], body["name"]) if _status(exc) == 409 else None
        if found is None:
            raise
        return found


def ensure_folder(syn_or_gateway: Any, parent_id: str, name: str) -> str:
    syn = _client(syn_or_gateway)
    return _find_child(syn, parent_id, name) or _create(syn, {"concreteType": FOLDER, "name": name,
                                                              "parentId": parent_id})


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _upload_handle(syn: synapseclient.Synapse, path: Path) -> str:
    from synapseclient.core.async_utils import wrap_async_to_sync
    from synapseclient.core.upload.multipart_upload_async import multipart_upload_file_async

    return str(wrap_async_to_sync(multipart_upload_file_async(
        syn, str(path), content_type="text/html", storage_location_id=SYNAPSE_STORAGE_LOCATION_ID)))


def upload_report_entity(syn_or_gateway: Any, parent_folder_id: str, html_path: str | Path, name: str,
                         *, subfolder: str | None = REPORTS_FOLDER) -> str:
    """Upload the HTML report as a File named ``name`` under ``parent_folder_id/<subfolder>``
    (the center's ingest folder, ``_reports`` by default); returns the entity id.

    Idempotent by name: the same bytes again change nothing (a decision already made stays);
    other bytes make a new version and clear ``liaison_decision``/``liaison_comment``, because a
    decision on another report must not count for this one.
    """
    syn = _client(syn_or_gateway)
    path = Path(html_path)
    if _NOT_IN_NAMES.search(name) or not 0 < len(name) <= 256:
        raise ValueError(f"{name!r} is not a Synapse entity name (use report_entity_name())")
    folder_id = ensure_folder(syn, parent_folder_id, subfolder) if subfolder else parent_folder_id
    md5 = _md5(path)
    existing = _find_child(syn, folder_id, name)
    if existing is None:
        handle_id = _upload_handle(syn, path)
        return _create(syn, {"concreteType": FILE_ENTITY, "name": name, "parentId": folder_id,
                             "dataFileHandleId": handle_id})
    bundle = syn.restPOST(f"/entity/{existing}/bundle2", body=json.dumps(
        {"includeEntity": True, "includeFileHandles": True}))
    if any(h.get("contentMd5") == md5 for h in bundle.get("fileHandles") or []):
        return existing
    entity = bundle["entity"]
    entity["dataFileHandleId"] = _upload_handle(syn, path)
    syn.restPUT(f"/entity/{existing}", body=json.dumps(entity))
    clear_decision(syn, existing)
    return existing


def clear_decision(syn_or_gateway: Any, entity_id: str) -> bool:
    """Remove the decision annotations (keeping any other); True when there were some."""
    syn = _client(syn_or_gateway)
    current = syn.restGET(f"/entity/{entity_id}/annotations2")
    annotations = current.get("annotations") or {}
    if not {DECISION_ANNOTATION, COMMENT_ANNOTATION} & set(annotations):
        return False
    kept = {k: v for k, v in annotations.items() if k not in (DECISION_ANNOTATION, COMMENT_ANNOTATION)}
    syn.restPUT(f"/entity/{entity_id}/annotations2",
                body=json.dumps({"id": current["id"], "etag": current["etag"], "annotations": kept}))
    return True


def _first(annotations: dict, key: str) -> str | None:
    values = (annotations.get(key) or {}).get("value") or []
    return str(values[0]) if values else None


def read_report_annotations(syn_or_gateway: Any, entity_id: str,
                            names: dict[str, str] | None = None) -> ReportAnnotations:
    """The report entity's decision annotations and its last modifier, read in one call
    (``bundle2``: entity and annotations from the same state, so they cannot disagree).
    ``names`` caches principal id -> user name across polls."""
    syn = _client(syn_or_gateway)
    bundle = syn.restPOST(f"/entity/{entity_id}/bundle2", body=json.dumps(
        {"includeEntity": True, "includeAnnotations": True}))
    entity = bundle["entity"]
    annotations = (bundle.get("annotations") or {}).get("annotations") or {}
    modified_by = str(entity.get("modifiedBy") or "")
    return ReportAnnotations(
        entity_id=str(entity["id"]), etag=str(entity.get("etag") or ""),
        version=entity.get("versionNumber"), decision=_first(annotations, DECISION_ANNOTATION),
        comment=_first(annotations, COMMENT_ANNOTATION), modified_by=modified_by,
        modified_by_name=user_name(syn, modified_by, names) if modified_by else None,
        modified_on=str(entity.get("modifiedOn") or ""))


def user_name(syn_or_gateway: Any, principal_id: str, names: dict[str, str] | None = None) -> str | None:
    """A principal id's user name (``GET /userProfile/{id}``); None when Synapse has no profile
    for it (a team, a deleted user): such a principal is nobody's liaison."""
    from synapseclient.core.exceptions import SynapseHTTPError

    if names is not None and principal_id in names:
        return names[principal_id]
    try:
        profile = _client(syn_or_gateway).restGET(f"/userProfile/{principal_id}")
    except SynapseHTTPError as exc:
        if _status(exc) == 404:
            return None
        raise
    name = profile.get("userName")
    if names is not None and name:
        names[principal_id] = str(name)
    return str(name) if name else None


def entity_url(portal_url: str, entity_id: str) -> str:
    """Where a person opens an entity in the Synapse web UI."""
    return f"{portal_url.rstrip('/')}/Synapse:{entity_id}"
