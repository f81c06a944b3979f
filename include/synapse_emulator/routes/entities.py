"""Entities: CRUD, look-ups, children, bundles, ACLs, permissions, annotations, schema binding."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from synapse_emulator.errors import BadRequest, NotFound
from synapse_emulator.models import Backend, acl, annotations_v2, entities, files, schemas
from synapse_emulator.models.common import parse_syn_id
from synapse_emulator.routes.deps import backend, caller, json_body

router = APIRouter(prefix="/repo/v1")


@router.post("/entity", status_code=201)
def create(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return entities.view(entities.create(b, user, body))


@router.get("/entity/{entity_id}")
def get(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return entities.view(entities.read(b, user, entity_id))


@router.put("/entity/{entity_id}")
def update(entity_id: str, newVersion: bool = False, body: dict = Depends(json_body),
           user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    if body.get("id") and parse_syn_id(body["id"]) != parse_syn_id(entity_id):
        raise BadRequest("The id in the body does not match the id in the path")
    return entities.view(entities.update(b, user, entity_id, body, new_version=newVersion))


@router.delete("/entity/{entity_id}", status_code=204)
def delete(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> Response:
    entities.delete(b, user, entity_id)
    return Response(status_code=204)


@router.get("/entity/{entity_id}/version/{version}")
def get_version(entity_id: str, version: int, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return entities.view(entities.get_version(b, user, entity_id, version))


@router.post("/entity/child")
def child(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    if body.get("parentId"):
        entities.read(b, user, body["parentId"])
    found = entities.find_child(b, body.get("parentId"), body.get("entityName") or "")
    if found is None or "READ" not in acl.access_of(b, user, found["id"]):
        raise NotFound("Entity not found")
    return {"id": found["id"]}


@router.post("/entity/children")
def children(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return entities.list_children(b, user, body)


@router.get("/entity/{entity_id}/type")
def entity_type(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return entities.header(b, entities.read(b, user, entity_id))


@router.get("/entity/{entity_id}/path")
def path(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return entities.path(b, user, entity_id)


@router.get("/entity/{entity_id}/benefactor")
def benefactor(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    entities.read(b, user, entity_id)
    return entities.header(b, entities.get(b, acl.benefactor_id(b, parse_syn_id(entity_id))))


@router.get("/entity/{entity_id}/permissions")
def permissions(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return acl.permissions(b, user, entities.get(b, entity_id))


@router.get("/entity/{entity_id}/acl")
def get_acl(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    entity = entities.read(b, user, entity_id)
    return acl.get_acl(b, entity["id"])


@router.put("/entity/{entity_id}/acl")
@router.post("/entity/{entity_id}/acl", status_code=201)
def put_acl(entity_id: str, body: dict = Depends(json_body), user: dict = Depends(caller),
            b: Backend = Depends(backend)) -> dict:
    entity = entities.read(b, user, entity_id)
    acl.require(b, user, entity["id"], "CHANGE_PERMISSIONS")
    return acl.put_acl(b, entity["id"], body)


@router.delete("/entity/{entity_id}/acl", status_code=204)
def delete_acl(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> Response:
    entity = entities.read(b, user, entity_id)
    acl.require(b, user, entity["id"], "CHANGE_PERMISSIONS")
    if entities.entity_type(entity) == "project":
        raise BadRequest("Cannot restore inheritance for a project")
    b.state.delete("acl", entity["id"])
    return Response(status_code=204)


def _bundle(b: Backend, user: dict, entity: dict, request: dict) -> dict:
    bundle: dict = {}
    if request.get("includeEntity", True):
        bundle["entity"] = entities.view(entity)
        bundle["entityType"] = entities.entity_type(entity)
    if request.get("includeAnnotations"):
        bundle["annotations"] = {"id": entity["id"], "etag": entity["etag"],
                                 "annotations": annotations_v2.stored(b, entity["id"])}
    if request.get("includePermissions"):
        bundle["permissions"] = acl.permissions(b, user, entity)
    if request.get("includeEntityPath"):
        bundle["path"] = entities.path(b, user, entity["id"])
    if request.get("includeHasChildren"):
        bundle["hasChildren"] = bool(entities.children(b, entity["id"]))
    if request.get("includeAccessControlList") and b.state.get("acl", entity["id"]):
        bundle["accessControlList"] = acl.get_acl(b, entity["id"])
    if request.get("includeBenefactorACL"):
        bundle["benefactorAcl"] = acl.get_acl(b, acl.benefactor_id(b, entity["id"]))
    if request.get("includeFileHandles"):
        handle = b.state.get("filehandle", str(entity.get("dataFileHandleId", "")))
        bundle["fileHandles"] = [files.view(handle)] if handle else []
    if request.get("includeFileName") and entity.get("dataFileHandleId"):
        handle = b.state.get("filehandle", str(entity["dataFileHandleId"]))
        bundle["fileName"] = handle.get("fileName") if handle else None
    if request.get("includeRestrictionInformation"):
        bundle["restrictionInformation"] = _restriction(entity["id"])
    return bundle


def _restriction(entity_id: str) -> dict:
    return {"objectId": int(entity_id[3:]), "restrictionLevel": "OPEN", "hasUnmetAccessRequirement": False,
            "restrictionDetails": [], "isUserDataContributor": False}


@router.post("/entity/{entity_id}/bundle2")
def bundle(entity_id: str, body: dict = Depends(json_body), user: dict = Depends(caller),
           b: Backend = Depends(backend)) -> dict:
    return _bundle(b, user, entities.read(b, user, entity_id), body)


@router.post("/entity/{entity_id}/version/{version}/bundle2")
def bundle_version(entity_id: str, version: int, body: dict = Depends(json_body), user: dict = Depends(caller),
                   b: Backend = Depends(backend)) -> dict:
    return _bundle(b, user, entities.get_version(b, user, entity_id, version), body)


@router.post("/entity/bundle2/create")
def bundle_create(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    """Create an entity with its annotations (and ACL) in one call: all or nothing."""
    new_annotations = annotations_v2.validate((body.get("annotations") or {}).get("annotations") or {})
    with b.state.locked():
        entity = entities.create(b, user, body.get("entity") or {})
        if new_annotations:
            b.state.put("annotations", entity["id"], {"annotations": new_annotations})
        if body.get("accessControlList"):
            acl.put_acl(b, entity["id"], body["accessControlList"])
    return _bundle(b, user, entity, {"includeEntity": True, "includeAnnotations": True,
                                     "includeAccessControlList": bool(body.get("accessControlList"))})


@router.post("/restrictionInformation")
def restriction(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    entity = entities.read(b, user, body.get("objectId") or "")
    return _restriction(entity["id"])


@router.get("/entity/{entity_id}/accessRequirement")
def access_requirements(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    entities.read(b, user, entity_id)
    return {"results": [], "totalNumberOfResults": 0}


@router.get("/entity/{entity_id}/generatedBy")
@router.get("/entity/{entity_id}/version/{version}/generatedBy")
def generated_by(entity_id: str, version: int | None = None, user: dict = Depends(caller),
                 b: Backend = Depends(backend)) -> dict:
    """The emulator keeps no provenance, so every entity is one without an activity: Synapse's
    404, which the client's downloads and ``sync_from_synapse`` read as "no provenance"."""
    entity = entities.get_version(b, user, entity_id, version) if version else entities.read(b, user, entity_id)
    raise NotFound(f"No activity found for entity {entity['id']}")


@router.get("/entity/{entity_id}/annotations2")
def get_annotations(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return annotations_v2.get(b, user, entity_id)


@router.get("/entity/{entity_id}/version/{version}/annotations2")
def get_version_annotations(entity_id: str, version: int, user: dict = Depends(caller),
                            b: Backend = Depends(backend)) -> dict:
    snapshot = entities.get_version(b, user, entity_id, version)
    return {"id": snapshot["id"], "etag": snapshot["etag"], "annotations": annotations_v2.stored(b, snapshot["id"])}


@router.put("/entity/{entity_id}/annotations2")
def put_annotations(entity_id: str, body: dict = Depends(json_body), user: dict = Depends(caller),
                    b: Backend = Depends(backend)) -> dict:
    return annotations_v2.put(b, user, entity_id, body)


@router.put("/entity/{entity_id}/schema/binding")
def bind_schema(entity_id: str, body: dict = Depends(json_body), user: dict = Depends(caller),
                b: Backend = Depends(backend)) -> dict:
    return schemas.bind(b, user, entity_id, body)


@router.get("/entity/{entity_id}/schema/binding")
def get_binding(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return schemas.get_binding(b, user, entity_id)


@router.delete("/entity/{entity_id}/schema/binding", status_code=204)
def unbind_schema(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> Response:
    schemas.unbind(b, user, entity_id)
    return Response(status_code=204)


@router.get("/entity/{entity_id}/schema/validation")
def validation(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return schemas.validate_entity(b, user, entity_id)


@router.get("/entity/{entity_id}/schema/validation/statistics")
def validation_statistics(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return schemas.statistics(b, user, entity_id)


@router.post("/entity/{entity_id}/schema/validation/invalid")
def invalid(entity_id: str, body: dict = Depends(json_body), user: dict = Depends(caller),
            b: Backend = Depends(backend)) -> dict:
    return schemas.invalid_children(b, user, entity_id, body)


@router.get("/entity/{entity_id}/derivedKeys")
def derived_keys(entity_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    entities.read(b, user, entity_id)
    return {"keys": []}

