"""JSON-schema calls: is a schema registered, what is bound to an entity, bind, and Synapse's own
validation result of an entity (annotations of a File, rows of a RecordSet).

Validation is eventually consistent in Synapse: 404 until the first validation ran, and a result
may describe an older etag of the entity; callers poll (``metadata.verify``).
"""

from __future__ import annotations

from htan_submission.synapse.files import SynapseFiles
from htan_submission.synapse.records import not_found_is_none


def is_registered(files: SynapseFiles, schema_id: str) -> bool:
    return not_found_is_none(files.rest.get, f"/schema/type/registered/{schema_id}") is not None


def get_binding(files: SynapseFiles, entity_id: str) -> dict | None:
    """The binding that applies to the entity (its own or inherited), None when there is none."""
    return not_found_is_none(files.rest.get, f"/entity/{entity_id}/schema/binding")


def bound_schema_id(binding: dict | None) -> str | None:
    return ((binding or {}).get("jsonSchemaVersionInfo") or {}).get("$id")


def bind(files: SynapseFiles, entity_id: str, schema_id: str, derived_annotations: bool = False) -> dict:
    """Bind ``schema_id`` to the entity (needs UPDATE: 403 otherwise)."""
    return files.rest.put(f"/entity/{entity_id}/schema/binding",
                          {"entityId": entity_id, "schema$id": schema_id,
                           "enableDerivedAnnotations": derived_annotations})


def validation(files: SynapseFiles, entity_id: str) -> dict | None:
    """``ValidationResults`` of the entity, None while Synapse has not validated it (404)."""
    return not_found_is_none(files.rest.get, f"/entity/{entity_id}/schema/validation")
