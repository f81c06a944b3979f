"""The emulator's own admin API (not Synapse's): seed users and entities, read state, inject
faults, read the call log. Tests and the demo use it; Synapse clients never do."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from synapse_emulator.errors import BadRequest, NotFound
from synapse_emulator.models import Backend, acl, annotations_v2, entities, files, users
from synapse_emulator.models.common import parse_syn_id
from synapse_emulator.routes.deps import backend, json_body
from synapse_emulator.throttle import ThrottleSettings

router = APIRouter(prefix="/_emulator")


def _user_view(user: dict) -> dict:
    return {k: v for k, v in user.items() if k != "token"}


def _principal(b: Backend, name_or_id: str) -> dict:
    user = users.find_by_name(b, str(name_or_id)) or b.state.get("user", str(name_or_id))
    if user is None:
        raise NotFound(f"No user {name_or_id}")
    return user


@router.get("/health")
def health() -> dict:
    return {"status": "ok"}


@router.post("/users", status_code=201)
def add_user(body: dict = Depends(json_body), b: Backend = Depends(backend)) -> dict:
    if not body.get("userName") or not body.get("token"):
        raise BadRequest("userName and token are required")
    fields = {k: body[k] for k in ("certified", "twoFactor", "tos", "email", "firstName", "lastName") if k in body}
    return _user_view(users.create_user(b, body["userName"], body["token"], **fields))


@router.patch("/users/{name}")
def update_user(name: str, body: dict = Depends(json_body), b: Backend = Depends(backend)) -> dict:
    user = _principal(b, name)
    flags = {k: body.get(k) for k in ("certified", "twoFactor", "tos")}
    return _user_view(users.update_flags(b, user["ownerId"], **flags))


@router.get("/users")
def list_users(b: Backend = Depends(backend)) -> list[dict]:
    return [_user_view(u) for u in b.state.values("user")]


@router.post("/entities", status_code=201)
def seed_entity(body: dict = Depends(json_body), b: Backend = Depends(backend)) -> dict:
    """Create an entity as ``owner`` (a user name), optionally at a fixed ``id`` (for configs
    that name Synapse ids, such as centers.yaml). Idempotent: an existing entity of that id, or
    of that name under that parent, is returned as it is."""
    owner = _principal(b, body.get("owner") or "")
    entity_id = parse_syn_id(body["id"]) if body.get("id") else None
    if entity_id and b.state.get("entity", entity_id):
        return entities.view(b.state.get("entity", entity_id))
    fields = {k: v for k, v in body.items() if k not in ("owner", "id")}
    existing = entities.find_child(b, fields.get("parentId"), fields.get("name") or "")
    if existing is not None and not entity_id:
        return entities.view(existing)
    # Seeding bypasses certification, as the DCC's own admins create the projects.
    return entities.view(entities.create(b, {**owner, "certified": True}, fields, entity_id=entity_id))


@router.post("/entities/{entity_id}/grant")
def grant(entity_id: str, body: dict = Depends(json_body), b: Backend = Depends(backend)) -> dict:
    principal = _principal(b, body.get("principal") or "")
    access = body.get("access", "edit")
    access_types = acl.ACCESS_LEVELS[access] if isinstance(access, str) else list(access)
    return acl.grant(b, parse_syn_id(entity_id), principal["ownerId"], access_types)


@router.get("/entities/{entity_id}")
def read_entity(entity_id: str, b: Backend = Depends(backend)) -> dict:
    entity = entities.get(b, entity_id)
    return {"entity": entities.view(entity), "annotations": annotations_v2.stored(b, entity["id"]),
            "children": [c["id"] for c in entities.children(b, entity["id"])]}


@router.get("/filehandles/{handle_id}")
def read_handle(handle_id: str, b: Backend = Depends(backend)) -> dict:
    handle = files.get_handle(b, handle_id)
    key = files.blob_key(handle["id"])
    stored = b.blobs.exists(key)
    return {"fileHandle": files.view(handle), "storedBytes": b.blobs.size(key) if stored else None,
            "storedMd5": b.blobs.md5(key) if stored else None}


@router.get("/filehandles/{handle_id}/content")
def handle_content(handle_id: str, b: Backend = Depends(backend)) -> Response:
    handle = files.get_handle(b, handle_id)
    if not b.blobs.exists(files.blob_key(handle["id"])):
        raise NotFound("This file handle's bytes are not stored by the emulator (external storage)")
    return Response(content=b.blobs.read(files.blob_key(handle["id"])), media_type="application/octet-stream")


@router.get("/state")
def state_counts(b: Backend = Depends(backend)) -> dict:
    kinds = ("user", "entity", "filehandle", "multipart", "annotations", "acl", "schema", "schema_binding",
             "storage_location", "project_setting", "organization", "job")
    return {kind: b.state.count(kind) for kind in kinds}


@router.post("/faults", status_code=201)
def add_fault(request: Request, body: dict = Depends(json_body)) -> dict:
    try:
        return request.app.state.faults.add(body).view()
    except (KeyError, ValueError) as exc:
        raise BadRequest(f"Invalid fault: {exc}") from exc


@router.get("/faults")
def list_faults(request: Request) -> list[dict]:
    return request.app.state.faults.rules()


@router.delete("/faults", status_code=204)
def clear_faults(request: Request) -> Response:
    request.app.state.faults.clear()
    return Response(status_code=204)


@router.put("/throttle")
def set_throttle(request: Request, body: dict = Depends(json_body)) -> dict:
    """Switch Synapse's per-user throttles on (defaults: 3 in flight, 600 requests per 60 s)."""
    try:
        settings = ThrottleSettings(max_concurrent=int(body.get("maxConcurrent", 3)),
                                    max_requests=int(body.get("maxRequests", 600)),
                                    window_s=float(body.get("windowSeconds", 60)))
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"Invalid throttle: {exc}") from exc
    request.app.state.throttle.configure(settings)
    return request.app.state.throttle.view()


@router.get("/throttle")
def get_throttle(request: Request) -> dict:
    return request.app.state.throttle.view()


@router.delete("/throttle", status_code=204)
def clear_throttle(request: Request) -> Response:
    request.app.state.throttle.configure(None)
    return Response(status_code=204)


@router.get("/calls")
def calls(request: Request) -> list[dict]:
    return list(request.app.state.faults.calls)


@router.delete("/calls", status_code=204)
def clear_calls(request: Request) -> Response:
    request.app.state.faults.calls.clear()
    return Response(status_code=204)


@router.post("/reset", status_code=204)
def reset(request: Request, b: Backend = Depends(backend)) -> Response:
    b.state.clear()
    b.blobs.clear()
    request.app.state.faults.clear()
    request.app.state.faults.calls.clear()
    request.app.state.throttle.configure(None)
    return Response(status_code=204)
