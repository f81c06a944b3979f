"""Grid sessions over a RecordSet: the part of Synapse's curation grid a RecordSet needs.

Synapse writes a RecordSet's ``validationSummary`` and ``validationFileHandleId`` only when a
grid session is pushed back to it (``GridRecordSetExportRequest``, or ``SynchronizeGridRequest``
with ``PULL_PUSH``), so ``RecordSet.get_detailed_validation_results`` has nothing to read until
then. The emulator keeps a session as the record set's CSV at creation (or at the last ``PULL``);
it has no cell editing, replicas or queries. A push validates each row against the record set's
bound schema, stores the data as a new RecordSet version and attaches a results CSV
(``row_index,is_valid,validation_error_message,all_validation_messages``, rows counted from 0)
plus the counts.
"""

from __future__ import annotations

import csv
import io
import json

from synapse_emulator.errors import BadRequest, Forbidden, NotFound
from synapse_emulator.models import Backend, acl, entities, files, schemas, violations
from synapse_emulator.models.common import new_etag, now_iso, public

GRID = "org.sagebionetworks.repo.model.grid."
SYNC_TYPES = ("PULL", "PULL_PUSH")


def create_session(backend: Backend, user: dict, request: dict) -> dict:
    """The work of ``/grid/session/async``: a session seeded from a RecordSet the caller can read."""
    if not request.get("recordSetId"):
        raise BadRequest("The emulator creates grid sessions from a RecordSet only: recordSetId is required")
    entity = entities.read(backend, user, request["recordSetId"])
    if entities.entity_type(entity) != "recordset":
        raise BadRequest(f"{entity['id']} is not a RecordSet")
    binding = schemas.binding_of(backend, entity)
    now = now_iso()
    session = {
        "sessionId": str(backend.state.next_id("grid_session", 1001)), "startedBy": user["ownerId"],
        "startedOn": now, "etag": new_etag(), "modifiedOn": now, "lastReplicaIdClient": 0,
        "lastReplicaIdService": 0, "sourceEntityId": entity["id"],
        "gridJsonSchema$Id": binding["jsonSchemaVersionInfo"]["$id"] if binding else None,
        "ownerPrincipalId": int(request.get("ownerPrincipalId") or user["ownerId"]),
        "authorizationMode": request.get("authorizationMode") or "SESSION_OWNER",
        "_dataFileHandleId": entity["dataFileHandleId"],
    }
    backend.state.put("grid_session", session["sessionId"], session)
    return {"concreteType": GRID + "CreateGridResponse", "gridSession": public(session)}


def _own_session(backend: Backend, user: dict, session_id: str | None) -> dict:
    session = backend.state.get("grid_session", str(session_id or ""))
    if session is None:
        raise NotFound(f"Grid session {session_id} does not exist")
    if user["ownerId"] not in (session["startedBy"], str(session["ownerPrincipalId"])):
        raise Forbidden("Only the owner of a grid session may use it")
    return session


def get_session(backend: Backend, user: dict, session_id: str) -> dict:
    return public(_own_session(backend, user, session_id))


def delete_session(backend: Backend, user: dict, session_id: str) -> None:
    _own_session(backend, user, session_id)
    backend.state.delete("grid_session", session_id)


def list_sessions(backend: Backend, user: dict, request: dict) -> dict:
    """POST /grid/session/list: the caller's sessions, optionally from one source, in one page."""
    mine = [s for s in backend.state.values("grid_session")
            if user["ownerId"] in (s["startedBy"], str(s["ownerPrincipalId"]))
            and request.get("sourceId") in (None, s["sourceEntityId"])]
    return {"page": [public(s) for s in sorted(mine, key=lambda s: int(s["sessionId"]))]}


def export(backend: Backend, user: dict, request: dict) -> dict:
    """The work of ``/grid/export/recordset/async`` (deprecated in the client, still served)."""
    session = _own_session(backend, user, request.get("sessionId"))
    record_set = _push(backend, user, session)
    return {"concreteType": GRID + "GridRecordSetExportResponse", "sessionId": session["sessionId"],
            "recordSetId": record_set["id"], "recordSetVersionNumber": record_set["versionNumber"],
            "validationSummaryStatistics": record_set["validationSummary"]}


def synchronize(backend: Backend, user: dict, request: dict) -> dict:
    """The work of ``/grid/synchronize/async``: PULL reloads the session from the RecordSet;
    PULL_PUSH (the default) then pushes it back as a new version with validation results."""
    session = _own_session(backend, user, request.get("gridSessionId"))
    sync_type = request.get("syncType") or "PULL_PUSH"
    if sync_type not in SYNC_TYPES:
        raise BadRequest(f"syncType must be one of {', '.join(SYNC_TYPES)}")
    source = entities.read(backend, user, session["sourceEntityId"])
    session.update({"_dataFileHandleId": source["dataFileHandleId"], "etag": new_etag(), "modifiedOn": now_iso()})
    backend.state.put("grid_session", session["sessionId"], session)
    if sync_type == "PULL_PUSH":
        _push(backend, user, session)
    return {"concreteType": GRID + "SynchronizeGridResponse", "errorMessages": []}


def _push(backend: Backend, user: dict, session: dict) -> dict:
    """Write the session's rows to its RecordSet as a new version carrying validation results."""
    with backend.state.locked():
        record_set = entities.get(backend, session["sourceEntityId"])
        acl.require(backend, user, record_set["id"], "UPDATE")
        source = files.get_handle(backend, session["_dataFileHandleId"])
        data = files.handle_bytes(backend, source) or b""
        rows = schemas.csv_rows(backend, source["id"])
        binding = schemas.binding_of(backend, record_set)
        schema = schemas.body_of(backend, binding["jsonSchemaVersionInfo"]["$id"]) if binding else None
        copy = files.store_bytes(backend, user, data, source.get("fileName") or "records.csv")
        record_set = entities.update(backend, user, record_set["id"],
                                     {"etag": record_set["etag"], "dataFileHandleId": copy["id"]}, new_version=True)
        fields: dict = {"validationSummary": _summary(record_set["id"], len(rows), None)}
        if schema is not None:
            found = [schemas.row_violations(schema, row) for row in rows]
            fields["validationSummary"] = _summary(record_set["id"], len(rows), found)
            report = files.store_bytes(backend, user, _results_csv(found),
                                       f"{record_set['id']}.{record_set['versionNumber']}-validation.csv")
            fields["validationFileHandleId"] = report["id"]
        return entities.set_server_fields(backend, record_set["id"], fields)


def _summary(record_set_id: str, total: int, found: list[list[dict]] | None) -> dict:
    """ValidationSummaryStatistics over the rows; without a bound schema every row is unknown."""
    invalid = sum(1 for row in found if row) if found is not None else 0
    valid = total - invalid if found is not None else 0
    return {"containerId": record_set_id, "totalNumberOfChildren": total, "numberOfValidChildren": valid,
            "numberOfInvalidChildren": invalid, "numberOfUnknownChildren": total - valid - invalid,
            "generatedOn": now_iso()}


def _results_csv(found: list[list[dict]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["row_index", "is_valid", "validation_error_message", "all_validation_messages"])
    for index, row in enumerate(found):
        fields = violations.results_fields(row)
        writer.writerow([index, "false" if row else "true", fields.get("validationErrorMessage", ""),
                         json.dumps(fields["allValidationMessages"]) if row else ""])
    return out.getvalue().encode()
