"""JSON schemas: organizations (with their ACLs), registration (an async job), binding to
entities, and the validation of an entity (its fields and annotations) or a RecordSet's rows
against the bound draft-07 schema.

Synapse validates asynchronously and answers 404 until it has; the emulator validates on read,
which a client polling for ``objectEtag == entity etag`` cannot tell apart. Failures come in
everit's words and shape (``models/violations.py``).
"""

from __future__ import annotations

import csv
import io
import re

from synapse_emulator.errors import BadRequest, Forbidden, NotFound, PreconditionFailed
from synapse_emulator.models import Backend, acl, annotations_v2, entities, files, violations
from synapse_emulator.models.common import AUTHENTICATED_USERS_GROUP, PUBLIC_GROUP, new_etag, now_iso

_SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
_NAME_PART = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
ORGANIZATION_ADMIN = ["READ", "CREATE", "CHANGE_PERMISSIONS", "UPDATE", "DELETE"]


def get_organization(backend: Backend, name: str) -> dict:
    for org in backend.state.values("organization"):
        if org["name"] == name.strip():
            return org
    raise NotFound(f"Organization with name: '{name}' not found")


def _check_organization_name(name: str) -> str:
    """Synapse's parser: dot-separated parts, each a letter then letters or digits; 6 to 250
    characters; 'sagebionetwork' is reserved for Sage."""
    name = (name or "").strip()
    if not all(_NAME_PART.match(part) for part in name.split(".")):
        raise BadRequest(f"Invalid organization name: '{name}'. Each dot-separated part must start with a letter "
                         "and contain only letters and digits")
    if not 6 <= len(name) <= 250:
        raise BadRequest("Organization name must be between 6 and 250 characters")
    if "sagebionetwork" in name.lower():
        raise BadRequest("The name 'sagebionetworks' is reserved, and cannot be included in an Organziation's name")
    return name


def create_organization(backend: Backend, user: dict, body: dict) -> dict:
    """A duplicate name is a 400, as Synapse's DAO turns the duplicate key into an
    IllegalArgumentException. The creator gets an ACL with every organization permission."""
    name = _check_organization_name(body.get("organizationName") or "")
    with backend.state.locked():
        try:
            get_organization(backend, name)
        except NotFound:
            pass
        else:
            raise BadRequest(f"An Organization with the name: '{name}' already exists")
        org = {"id": str(backend.state.next_id("organization", 501)), "name": name, "createdOn": now_iso(),
               "createdBy": user["ownerId"]}
        backend.state.put("organization_acl", org["id"], {
            "id": org["id"], "creationDate": org["createdOn"], "etag": new_etag(),
            "resourceAccess": [{"principalId": int(user["ownerId"]), "accessType": list(ORGANIZATION_ADMIN)}]})
        return backend.state.put("organization", org["id"], org)


def _organization_acl(backend: Backend, org_id: str) -> dict:
    record = backend.state.get("organization_acl", str(org_id))
    if record is None:
        raise NotFound(f"Organization with id: '{org_id}' not found")
    return record


def _require_organization(backend: Backend, user: dict, org_id: str, access_type: str) -> None:
    principals = {str(user["ownerId"]), str(AUTHENTICATED_USERS_GROUP), str(PUBLIC_GROUP)}
    for entry in _organization_acl(backend, org_id)["resourceAccess"]:
        if str(entry["principalId"]) in principals and access_type in entry["accessType"]:
            return
    raise Forbidden(f"You lack {access_type} access to the requested organization.")


def get_organization_acl(backend: Backend, user: dict, org_id: str) -> dict:
    _require_organization(backend, user, org_id, "READ")
    return _organization_acl(backend, org_id)


def update_organization_acl(backend: Backend, user: dict, org_id: str, body: dict) -> dict:
    """PUT /schema/organization/{id}/acl: CHANGE_PERMISSIONS, a current etag (412 otherwise) and
    the caller may not take away their own right to change it."""
    with backend.state.locked():
        current = _organization_acl(backend, org_id)
        _require_organization(backend, user, org_id, "CHANGE_PERMISSIONS")
        if body.get("etag") != current["etag"]:
            raise PreconditionFailed(f"The ACL of organization {org_id} was updated since you last fetched it")
        entries = [{"principalId": int(e["principalId"]), "accessType": list(e.get("accessType") or [])}
                   for e in body.get("resourceAccess") or []]
        if not any(str(e["principalId"]) == str(user["ownerId"]) and "CHANGE_PERMISSIONS" in e["accessType"]
                   for e in entries):
            raise BadRequest("Caller cannot remove their own CHANGE_PERMISSIONS access.")
        updated = {**current, "resourceAccess": entries, "etag": new_etag(), "modifiedOn": now_iso()}
        return backend.state.put("organization_acl", str(org_id), updated)


def list_organizations(backend: Backend) -> dict:
    return {"page": backend.state.values("organization")}


def parse_schema_id(value: str) -> tuple[str, str, str | None]:
    """``[.../schema/type/registered/]ORG-NAME[-X.Y.Z]`` -> (org, name, version)."""
    if "/schema/type/registered/" in value:
        value = value.split("/schema/type/registered/", 1)[1]
    parts = value.split("-")
    if len(parts) < 2:
        raise BadRequest(f"Invalid schema id: {value}")
    version = parts[-1] if len(parts) > 2 and _SEMVER.match(parts[-1]) else None
    name_parts = parts[1:-1] if version else parts[1:]
    return parts[0], "-".join(name_parts), version


def register(backend: Backend, user: dict, request: dict) -> dict:
    """The work of ``/schema/type/create/async``: store one version of a schema. The caller needs
    CREATE on the organization (403); a semantic version already taken is a 400, which is what
    Synapse's DAO throws and its async-job ``get`` rethrows."""
    schema = request.get("schema") or {}
    if "$id" not in schema:
        raise BadRequest("The schema must have a $id")
    org_name, name, version = parse_schema_id(schema["$id"])
    org = get_organization(backend, org_name)
    _require_organization(backend, user, org["id"], "CREATE")
    from jsonschema import Draft7Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft7Validator.check_schema(schema)
    except SchemaError as exc:
        raise BadRequest(f"Invalid JSON schema: {exc.message}") from exc
    key = f"{org_name}-{name}"
    with backend.state.locked():
        record = backend.state.get("schema", key) or {"organizationName": org_name, "schemaName": name,
                                                      "organizationId": org["id"], "versions": []}
        if version and any(v["semanticVersion"] == version for v in record["versions"]):
            raise BadRequest(f"Semantic version: '{version}' already exists for this JSON schema")
        version_id = str(backend.state.next_id("schema_version", 1001))
        info = {
            "organizationId": org["id"], "organizationName": org_name, "schemaId": key, "schemaName": name,
            "versionId": version_id, "$id": f"{key}-{version}" if version else key,
            "semanticVersion": version, "createdOn": now_iso(), "createdBy": user["ownerId"],
            "jsonSHA256Hex": new_etag().replace("-", ""),
        }
        if request.get("dryRun"):
            return {"newVersionInfo": info, "validationSchema": schema}
        record["versions"].append({**info, "_body": schema})
        backend.state.put("schema", key, record)
    return {"newVersionInfo": info, "validationSchema": schema}


def get_version(backend: Backend, schema_id: str) -> dict:
    org_name, name, version = parse_schema_id(schema_id)
    record = backend.state.get("schema", f"{org_name}-{name}")
    if record is None or not record["versions"]:
        raise NotFound(f"JSON Schema not found for: {schema_id}")
    if version is None:
        return record["versions"][-1]
    for item in record["versions"]:
        if item["semanticVersion"] == version:
            return item
    raise NotFound(f"JSON Schema not found for: {schema_id}")


def body_of(backend: Backend, schema_id: str) -> dict:
    return get_version(backend, schema_id)["_body"]


def list_schemas(backend: Backend, org_name: str) -> dict:
    page = []
    for record in backend.state.values("schema"):
        if record["organizationName"] == org_name:
            latest = record["versions"][-1]
            page.append({"organizationId": record["organizationId"], "organizationName": org_name,
                         "schemaId": latest["schemaId"], "schemaName": record["schemaName"],
                         "createdOn": record["versions"][0]["createdOn"], "createdBy": latest["createdBy"]})
    return {"page": page}


def list_versions(backend: Backend, org_name: str, schema_name: str) -> dict:
    record = backend.state.get("schema", f"{org_name}-{schema_name}")
    if record is None:
        raise NotFound(f"JSON Schema not found for: {org_name}-{schema_name}")
    return {"page": [{k: v for k, v in item.items() if not k.startswith("_")} for item in record["versions"]]}


def bind(backend: Backend, user: dict, entity_id: str, request: dict) -> dict:
    entity = entities.read(backend, user, entity_id)
    acl.require(backend, user, entity["id"], "UPDATE")
    version = get_version(backend, request.get("schema$id") or "")
    binding = {
        "jsonSchemaVersionInfo": {k: v for k, v in version.items() if not k.startswith("_")},
        "objectId": int(entity["id"][3:]),
        "objectType": "entity",
        "createdOn": now_iso(),
        "createdBy": user["ownerId"],
        "enableDerivedAnnotations": bool(request.get("enableDerivedAnnotations")),
    }
    return backend.state.put("schema_binding", entity["id"], binding)


def binding_of(backend: Backend, entity: dict) -> dict | None:
    """The nearest binding: the entity's own, else its nearest ancestor's."""
    current: dict | None = entity
    while current is not None:
        binding = backend.state.get("schema_binding", current["id"])
        if binding is not None:
            return binding
        current = backend.state.get("entity", current.get("parentId") or "")
    return None


def get_binding(backend: Backend, user: dict, entity_id: str) -> dict:
    entity = entities.read(backend, user, entity_id)
    binding = binding_of(backend, entity)
    if binding is None:
        raise NotFound(f"No JSON schema found for '{entity['id']}'")
    return binding


def unbind(backend: Backend, user: dict, entity_id: str) -> None:
    entity = entities.read(backend, user, entity_id)
    acl.require(backend, user, entity["id"], "UPDATE")
    if backend.state.get("schema_binding", entity["id"]) is None:
        raise NotFound(f"No JSON schema bound to '{entity['id']}'")
    backend.state.delete("schema_binding", entity["id"])


def validate_entity(backend: Backend, user: dict, entity_id: str) -> dict:
    """ValidationResults of one entity against its bound schema (404 when none is bound).

    What is validated is Synapse's "flat JSON" of the entity: its fields plus its annotations; a
    RecordSet's CSV rows are validated instead, as an array of rows (pointers ``#/<row>/<key>``,
    rows counted from 0 after the header).
    """
    entity = entities.read(backend, user, entity_id)
    binding = binding_of(backend, entity)
    if binding is None:
        raise NotFound(f"No JSON schema found for '{entity['id']}'")
    schema_id = binding["jsonSchemaVersionInfo"]["$id"]
    schema = body_of(backend, schema_id)
    if entities.entity_type(entity) == "recordset":
        found = [v for index, row in enumerate(recordset_rows(backend, entity))
                 for v in row_violations(schema, row, f"#/{index}")]
    else:
        found = violations.violations(schema, entity_json(backend, entity, schema))
    return {
        "objectId": entity["id"], "objectType": "entity", "objectEtag": entity["etag"],
        "schema$id": schema_id, "isValid": not found, "validatedOn": now_iso(), **violations.results_fields(found),
    }


def entity_json(backend: Backend, entity: dict, schema: dict) -> dict:
    """The entity's fields with its annotations on top, as Synapse's ``getEntityJsonSubject``."""
    annotations = annotations_v2.to_json(annotations_v2.stored(backend, entity["id"]), schema)
    return {**entities.view(entity), **annotations}


def recordset_rows(backend: Backend, entity: dict) -> list[dict]:
    """The rows of a RecordSet's CSV, as dicts of non-empty cells."""
    return csv_rows(backend, entity.get("dataFileHandleId"))


def csv_rows(backend: Backend, handle_id: str | None) -> list[dict]:
    """The rows of a CSV file handle (header first), as dicts of non-empty cells."""
    handle = backend.state.get("filehandle", str(handle_id or ""))
    data = files.handle_bytes(backend, handle) if handle else None
    if data is None:
        return []
    text = data.decode("utf-8-sig")
    return [{k: v for k, v in row.items() if k and v not in (None, "")} for row in csv.DictReader(io.StringIO(text))]


def row_violations(schema: dict, row: dict, pointer_prefix: str = "#") -> list[dict]:
    """Cells are text in a CSV: coerce each by the schema's declared type before validating."""
    properties = schema.get("properties", {})
    instance = {key: _coerce(value, properties.get(key, {}).get("type")) for key, value in row.items()}
    return violations.violations(schema, instance, pointer_prefix=pointer_prefix)


def _coerce(value: str, kind):
    kinds = kind if isinstance(kind, list) else [kind]
    try:
        if "integer" in kinds and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value)
        if "number" in kinds:
            return float(value)
        if "boolean" in kinds and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        if "array" in kinds:
            return [item.strip() for item in next(csv.reader([value], skipinitialspace=True)) if item.strip()]
    except ValueError:
        return value
    return value


def statistics(backend: Backend, user: dict, container_id: str) -> dict:
    container = entities.read(backend, user, container_id)
    counts = {"valid": 0, "invalid": 0, "unknown": 0}
    for child in entities.children(backend, container["id"]):
        try:
            counts["valid" if validate_entity(backend, user, child["id"])["isValid"] else "invalid"] += 1
        except NotFound:
            counts["unknown"] += 1
    return {"containerId": container["id"], "totalNumberOfChildren": sum(counts.values()),
            "numberOfValidChildren": counts["valid"], "numberOfInvalidChildren": counts["invalid"],
            "numberOfUnknownChildren": counts["unknown"], "generatedOn": now_iso()}


def invalid_children(backend: Backend, user: dict, container_id: str, request: dict) -> dict:
    container = entities.read(backend, user, container_id)
    page = []
    for child in entities.children(backend, container["id"]):
        try:
            result = validate_entity(backend, user, child["id"])
        except NotFound:
            continue
        if not result["isValid"]:
            page.append(result)
    return {"page": page}
