"""JSON schema organizations, registration (an async job) and look-ups."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from synapse_emulator.models import Backend, jobs, schemas
from synapse_emulator.routes.deps import backend, caller, json_body

router = APIRouter(prefix="/repo/v1")
_CREATE = "schema/type/create"


@router.get("/schema/organization")
def get_organization(name: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return schemas.get_organization(b, name)


@router.post("/schema/organization", status_code=201)
def create_organization(body: dict = Depends(json_body), user: dict = Depends(caller),
                        b: Backend = Depends(backend)) -> dict:
    return schemas.create_organization(b, user, body)


@router.get("/schema/organization/{org_id}/acl")
def get_organization_acl(org_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return schemas.get_organization_acl(b, user, org_id)


@router.put("/schema/organization/{org_id}/acl")
def put_organization_acl(org_id: str, body: dict = Depends(json_body), user: dict = Depends(caller),
                         b: Backend = Depends(backend)) -> dict:
    return schemas.update_organization_acl(b, user, org_id, body)


@router.post("/schema/organization/list")
def list_organizations(body: dict = Depends(json_body), user: dict = Depends(caller),
                       b: Backend = Depends(backend)) -> dict:
    return schemas.list_organizations(b)


@router.post("/schema/type/create/async/start", status_code=201)
def start_create(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return jobs.start(b, user, _CREATE, body, lambda: schemas.register(b, user, body))


@router.get("/schema/type/create/async/get/{token}")
def get_create(token: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return jobs.get(b, user, _CREATE, token)


@router.get("/schema/type/registered/{schema_id:path}")
def registered(schema_id: str, b: Backend = Depends(backend)) -> dict:
    return schemas.body_of(b, schema_id)


@router.delete("/schema/type/registered/{schema_id:path}", status_code=204)
def delete_registered(schema_id: str, user: dict = Depends(caller), b: Backend = Depends(backend)) -> Response:
    org, name, version = schemas.parse_schema_id(schema_id)
    record = b.state.get("schema", f"{org}-{name}")
    if record is not None:
        record["versions"] = [v for v in record["versions"] if version and v["semanticVersion"] != version]
        b.state.put("schema", f"{org}-{name}", record)
    return Response(status_code=204)


@router.post("/schema/list")
def list_schemas(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return schemas.list_schemas(b, body.get("organizationName") or "")


@router.post("/schema/version/list")
def list_versions(body: dict = Depends(json_body), user: dict = Depends(caller), b: Backend = Depends(backend)) -> dict:
    return schemas.list_versions(b, body.get("organizationName") or "", body.get("schemaName") or "")
