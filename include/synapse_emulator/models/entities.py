"""Entities (Project, Folder, File, RecordSet): create, read, update, delete, look up, list.

The rules here are Synapse's: names unique under a parent (409), etags for optimistic
concurrency (412), certification needed for anything but a project (403), a File needs a file
handle its creator owns, a changed file handle makes a new version.
"""

from __future__ import annotations

from synapse_emulator.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed
from synapse_emulator.models import Backend, acl
from synapse_emulator.models.common import ROOT_ENTITY_ID, new_etag, now_iso, parse_syn_id, public, syn_id

PREFIX = "org.sagebionetworks.repo.model."
TYPES = {
    PREFIX + "Project": "project",
    PREFIX + "Folder": "folder",
    PREFIX + "FileEntity": "file",
    PREFIX + "RecordSet": "recordset",
}
CONTAINERS = {"project", "folder"}
VERSIONABLE = {"file", "recordset"}
CERTIFICATION_REQUIRED = (
    "Only certified users may create or update content in Synapse. "
    "Take the certification quiz: https://help.synapse.org/docs/User-Types.2007072795.html#UserTypes-CertifiedUser"
)
_ALLOWED_FIELDS = {
    "name", "description", "parentId", "concreteType", "dataFileHandleId", "versionLabel",
    "versionComment", "upsertKey", "csvDescriptor", "alias", "etag", "id",
}
PAGE_SIZE = 50
SERVER_SET_FIELDS = ("validationSummary", "validationFileHandleId")


def entity_type(entity: dict) -> str:
    return TYPES[entity["concreteType"]]


def get(backend: Backend, entity_id: str) -> dict:
    entity = backend.state.get("entity", parse_syn_id(entity_id))
    if entity is None:
        raise NotFound(f"Entity {parse_syn_id(entity_id)} is in trash can or does not exist.")
    return entity


def read(backend: Backend, user: dict, entity_id: str) -> dict:
    entity = get(backend, entity_id)
    acl.require(backend, user, entity["id"], "READ")
    return entity


def _check_certified_write(backend: Backend, user: dict, entity: dict) -> None:
    if entity_type(entity) != "project" and not user["certified"]:
        raise Forbidden(CERTIFICATION_REQUIRED)


def _validate_name(name: str) -> None:
    if not name or len(name) > 256:
        raise BadRequest("Name must be 1 to 256 characters long.")
    bad = set(name) - set(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-.+()',"
    )
    if bad:
        raise BadRequest(
            f"Invalid Name: '{name}'. Names may only contain: letters, numbers, spaces, underscores, "
            "hyphens, periods, plus signs, apostrophes, and parentheses"
        )


def find_child(backend: Backend, parent_id: str | None, name: str) -> dict | None:
    parent = parse_syn_id(parent_id) if parent_id else ROOT_ENTITY_ID
    found = backend.state.select("entity", lambda e: e.get("parentId") == parent and e["name"] == name)
    return found[0] if found else None


def children(backend: Backend, parent_id: str) -> list[dict]:
    parent = parse_syn_id(parent_id)
    return sorted(
        backend.state.select("entity", lambda e: e.get("parentId") == parent),
        key=lambda e: int(e["id"][3:]),
    )


def create(backend: Backend, user: dict, body: dict, entity_id: str | None = None) -> dict:
    """POST /entity. ``entity_id`` lets the admin seed an entity at a fixed id."""
    concrete = body.get("concreteType") or ""
    if concrete not in TYPES:
        raise BadRequest(f"Unsupported concreteType: {concrete!r}")
    kind = TYPES[concrete]
    with backend.state.locked():
        if kind == "project":
            parent_id = ROOT_ENTITY_ID
        else:
            if not body.get("parentId"):
                raise BadRequest("parentId cannot be null")
            parent = get(backend, body["parentId"])
            if entity_type(parent) not in CONTAINERS:
                raise BadRequest(f"{parent['id']} is a {entity_type(parent)} and cannot have children.")
            parent_id = parent["id"]
            acl.require(backend, user, parent_id, "CREATE")
            if not user["certified"]:
                raise Forbidden(CERTIFICATION_REQUIRED)
        new_id = entity_id or syn_id(backend.state.next_id("entity", 1000001))
        name = body.get("name") or new_id
        _validate_name(name)
        if find_child(backend, parent_id, name) is not None:
            raise Conflict(f"An entity with the name: {name} already exists with a parentId: {parent_id}")
        now = now_iso()
        entity = {k: v for k, v in body.items() if k in _ALLOWED_FIELDS and v is not None}
        entity.update({
            "id": new_id,
            "name": name,
            "parentId": parent_id,
            "concreteType": concrete,
            "etag": new_etag(),
            "createdOn": now,
            "modifiedOn": now,
            "createdBy": user["ownerId"],
            "modifiedBy": user["ownerId"],
        })
        if kind in VERSIONABLE:
            _check_file_handle(backend, user, entity)
            entity.update({"versionNumber": 1, "versionLabel": body.get("versionLabel") or "1",
                           "isLatestVersion": True})
            if kind == "recordset":
                entity.setdefault("csvDescriptor", {"isFirstLineHeader": True})
        backend.state.put("entity", new_id, entity)
        if kind == "project":
            backend.state.put("acl", new_id, acl.new_acl(new_id, user["ownerId"]))
        _snapshot_version(backend, entity)
        return entity


def _check_file_handle(backend: Backend, user: dict, entity: dict) -> None:
    handle_id = entity.get("dataFileHandleId")
    if not handle_id:
        raise BadRequest("FileEntity.dataFileHandleId cannot be null")
    handle = backend.state.get("filehandle", str(handle_id))
    if handle is None:
        raise NotFound(f"FileHandle does not exist for id: {handle_id}")
    if str(handle["createdBy"]) != str(user["ownerId"]):
        raise Forbidden(
            f"Only the creator of a FileHandle can assign it to an Entity.  FileHandleId = {handle_id}"
        )
    entity["dataFileHandleId"] = str(handle_id)


def _snapshot_version(backend: Backend, entity: dict) -> None:
    if entity_type(entity) in VERSIONABLE:
        backend.state.put("entity_version", f"{entity['id']}.{entity['versionNumber']}", entity)


def update(backend: Backend, user: dict, entity_id: str, body: dict, new_version: bool = False) -> dict:
    with backend.state.locked():
        entity = get(backend, entity_id)
        acl.require(backend, user, entity["id"], "UPDATE")
        _check_certified_write(backend, user, entity)
        if body.get("etag") != entity["etag"]:
            raise PreconditionFailed(
                f"Object: {entity['id']} was updated since you last fetched it, "
                "retrieve it again and reapply the update"
            )
        kind = entity_type(entity)
        if body.get("concreteType") and body["concreteType"] != entity["concreteType"]:
            raise BadRequest("Cannot change the concreteType of an entity.")
        name = body.get("name") or entity["name"]
        _validate_name(name)
        parent_id = parse_syn_id(body["parentId"]) if body.get("parentId") and kind != "project" else entity["parentId"]
        if (name, parent_id) != (entity["name"], entity["parentId"]):
            other = find_child(backend, parent_id, name)
            if other is not None and other["id"] != entity["id"]:
                raise Conflict(f"An entity with the name: {name} already exists with a parentId: {parent_id}")
            if parent_id != entity["parentId"]:
                acl.require(backend, user, parent_id, "CREATE")
        updated = dict(entity)
        for key in _ALLOWED_FIELDS - {"id", "etag", "concreteType", "parentId"}:
            if key in body:
                if body[key] is None:
                    updated.pop(key, None)
                else:
                    updated[key] = body[key]
        updated.update({"name": name, "parentId": parent_id, "etag": new_etag(), "modifiedOn": now_iso(),
                        "modifiedBy": user["ownerId"]})
        if kind in VERSIONABLE:
            handle_changed = str(updated.get("dataFileHandleId")) != str(entity.get("dataFileHandleId"))
            if handle_changed:
                _check_file_handle(backend, user, updated)
            if new_version or handle_changed:
                for key in SERVER_SET_FIELDS:  # results of the old version's data
                    updated.pop(key, None)
                updated["versionNumber"] = entity["versionNumber"] + 1
                if body.get("versionLabel") in (None, entity.get("versionLabel")):
                    updated["versionLabel"] = str(updated["versionNumber"])
            updated["isLatestVersion"] = True
        backend.state.put("entity", entity["id"], updated)
        _snapshot_version(backend, updated)
        return updated


def set_server_fields(backend: Backend, entity_id: str, fields: dict) -> dict:
    """Fields only Synapse writes (a RecordSet's ``validationSummary`` and
    ``validationFileHandleId`` from a grid export) on the current version. Clients cannot send
    them (they are not in ``_ALLOWED_FIELDS``) and a client's new version drops them."""
    entity = {**get(backend, entity_id), **fields}
    backend.state.put("entity", entity["id"], entity)
    _snapshot_version(backend, entity)
    return entity


def touch(backend: Backend, user: dict, entity: dict) -> dict:
    """A new etag and modification stamp, as any write to an entity's annotations makes."""
    entity = dict(entity)
    entity.update({"etag": new_etag(), "modifiedOn": now_iso(), "modifiedBy": user["ownerId"]})
    backend.state.put("entity", entity["id"], entity)
    if entity_type(entity) in VERSIONABLE:
        _snapshot_version(backend, entity)
    return entity


def delete(backend: Backend, user: dict, entity_id: str) -> None:
    with backend.state.locked():
        entity = get(backend, entity_id)
        acl.require(backend, user, entity["id"], "DELETE")
        _delete_tree(backend, entity)


def _delete_tree(backend: Backend, entity: dict) -> None:
    for child in children(backend, entity["id"]):
        _delete_tree(backend, child)
    for kind in ("entity", "acl", "annotations", "schema_binding", "validation"):
        backend.state.delete(kind, entity["id"])
    for version in range(1, int(entity.get("versionNumber", 0)) + 1):
        backend.state.delete("entity_version", f"{entity['id']}.{version}")


def get_version(backend: Backend, user: dict, entity_id: str, version: int) -> dict:
    entity = read(backend, user, entity_id)
    snapshot = backend.state.get("entity_version", f"{entity['id']}.{version}")
    if snapshot is None:
        raise NotFound(f"Cannot find a node with id {entity['id']} and version {version}")
    snapshot["isLatestVersion"] = snapshot["versionNumber"] == entity.get("versionNumber")
    return snapshot


def header(backend: Backend, entity: dict) -> dict:
    """EntityHeader, the shape of /type, /path and children listings."""
    body = {
        "id": entity["id"],
        "name": entity["name"],
        "type": entity["concreteType"],
        "benefactorId": int(acl.benefactor_id(backend, entity["id"])[3:]),
        "createdOn": entity["createdOn"],
        "modifiedOn": entity["modifiedOn"],
        "createdBy": entity["createdBy"],
        "modifiedBy": entity["modifiedBy"],
    }
    if "versionNumber" in entity:
        body.update({"versionNumber": entity["versionNumber"], "versionLabel": entity["versionLabel"],
                     "isLatestVersion": entity.get("isLatestVersion", True)})
    else:
        body.update({"versionNumber": 1, "versionLabel": "1", "isLatestVersion": True})
    return body


def path(backend: Backend, user: dict, entity_id: str) -> dict:
    entity = read(backend, user, entity_id)
    chain = [entity]
    while chain[-1]["parentId"] != ROOT_ENTITY_ID:
        chain.append(get(backend, chain[-1]["parentId"]))
    root = {"id": ROOT_ENTITY_ID, "name": "root", "type": PREFIX + "Folder"}
    return {"path": [root] + [header(backend, e) for e in reversed(chain)]}


def list_children(backend: Backend, user: dict, request: dict) -> dict:
    """POST /entity/children: one page of EntityHeaders, with a ``nextPageToken`` while more remain.

    Like Synapse, only children the caller may READ are listed (and counted): a child with its
    own ACL that leaves the caller out is hidden even though the parent is readable.
    """
    parent_id = request.get("parentId")
    if parent_id:
        read(backend, user, parent_id)
    found = children(backend, parent_id or ROOT_ENTITY_ID)
    found = [e for e in found if "READ" in acl.access_of(backend, user, e["id"])]
    include = request.get("includeTypes") or ["file", "folder", "project", "recordset"]
    found = [e for e in found if entity_type(e) in {t.lower() for t in include}]
    if request.get("sortBy") == "NAME":
        found.sort(key=lambda e: e["name"])
    if request.get("sortDirection") == "DESC":
        found.reverse()
    offset, limit = _parse_page_token(request.get("nextPageToken"))
    page = found[offset : offset + limit]
    body: dict = {"page": [header(backend, e) for e in page]}
    if offset + limit < len(found):
        body["nextPageToken"] = f"{limit}a{offset + limit}"
    if request.get("includeTotalChildCount"):
        body["totalChildCount"] = len(found)
    if request.get("includeSumFileSizes"):
        total = 0
        for entity in found:
            handle = backend.state.get("filehandle", str(entity.get("dataFileHandleId", "")))
            total += int(handle.get("contentSize") or 0) if handle else 0
        body["sumFileSizesBytes"] = total
    return body


def _parse_page_token(token: str | None) -> tuple[int, int]:
    """Synapse's tokens read ``<limit>a<offset>``."""
    if not token:
        return 0, PAGE_SIZE
    try:
        limit, offset = token.split("a", 1)
        return int(offset), max(1, min(int(limit), PAGE_SIZE))
    except ValueError as exc:
        raise BadRequest(f"Invalid nextPageToken: {token}") from exc


def view(entity: dict) -> dict:
    return public(entity)
