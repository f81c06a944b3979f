"""Annotations v2: typed value lists per key, guarded by the entity's etag and Synapse's limits."""

from __future__ import annotations

import re

from synapse_emulator.errors import BadRequest, PreconditionFailed
from synapse_emulator.models import Backend, acl, entities

TYPES = {"STRING", "DOUBLE", "LONG", "TIMESTAMP_MS", "BOOLEAN"}
KEY_PATTERN = re.compile(r"^[a-zA-Z0-9,_.]+$")
MAX_KEYS = 100
MAX_VALUES = 100
MAX_STRING_CHARS = 500


def stored(backend: Backend, entity_id: str) -> dict:
    record = backend.state.get("annotations", entity_id)
    return record["annotations"] if record else {}


def get(backend: Backend, user: dict, entity_id: str) -> dict:
    entity = entities.read(backend, user, entity_id)
    return {"id": entity["id"], "etag": entity["etag"], "annotations": stored(backend, entity["id"])}


def validate(annotations: dict) -> dict:
    """Apply the server's limits; raise 400 with Synapse's kind of message on the first violation."""
    if not isinstance(annotations, dict):
        raise BadRequest("annotations must be a map of key to AnnotationsValue")
    if len(annotations) > MAX_KEYS:
        raise BadRequest(f"Exceeded maximum number of annotation keys: {MAX_KEYS}")
    clean: dict = {}
    for raw_key, value in annotations.items():
        key = raw_key.strip()
        if not KEY_PATTERN.match(key) or key == "_accessRequirementIds":
            raise BadRequest(
                f"Invalid annotation name: '{raw_key}'. Annotation names may only contain; "
                "letters, numbers, '_' and '.'"
            )
        if not isinstance(value, dict) or value.get("type") not in TYPES:
            raise BadRequest(f"Annotation '{key}' must have a type, one of {sorted(TYPES)}")
        values = value.get("value")
        if not values or not isinstance(values, list):
            raise BadRequest(f"Annotation '{key}' may not have an empty or null value")
        if len(values) > MAX_VALUES:
            raise BadRequest(f"Annotation '{key}' exceeds the maximum of {MAX_VALUES} values")
        values = [str(v) for v in values]
        _check_values(key, value["type"], values)
        clean[key] = {"type": value["type"], "value": values}
    return clean


def _check_values(key: str, kind: str, values: list[str]) -> None:
    if kind == "STRING":
        if sum(len(v) for v in values) > MAX_STRING_CHARS:
            raise BadRequest(
                f"Annotation '{key}' exceeds the maximum of {MAX_STRING_CHARS} characters for all values of a key"
            )
        return
    for v in values:
        try:
            if kind in ("LONG", "TIMESTAMP_MS"):
                int(v)
            elif kind == "DOUBLE":
                float(v)
            elif kind == "BOOLEAN" and v.lower() not in ("true", "false"):
                raise ValueError(v)
        except ValueError as exc:
            raise BadRequest(f"Value associated with key={key} is not valid for type={kind}: {v}") from exc


def put(backend: Backend, user: dict, entity_id: str, body: dict) -> dict:
    with backend.state.locked():
        entity = entities.get(backend, entity_id)
        acl.require(backend, user, entity["id"], "UPDATE")
        if body.get("etag") != entity["etag"]:
            raise PreconditionFailed(
                f"Object: {entity['id']} was updated since you last fetched it, "
                "retrieve it again and reapply the update"
            )
        clean = validate(body.get("annotations") or {})
        backend.state.put("annotations", entity["id"], {"annotations": clean})
        entity = entities.touch(backend, user, entity)
        return {"id": entity["id"], "etag": entity["etag"], "annotations": clean}


def to_json(annotations: dict, schema: dict | None = None) -> dict:
    """Annotations as the JSON object Synapse validates: single values become scalars,
    except where the schema declares an array."""
    properties = (schema or {}).get("properties", {})
    out: dict = {}
    for key, value in annotations.items():
        converted = [_convert(value["type"], v) for v in value["value"]]
        declared = properties.get(key, {})
        is_array = declared.get("type") == "array" or (
            isinstance(declared.get("type"), list) and "array" in declared["type"]
        )
        out[key] = converted if is_array or len(converted) > 1 else converted[0]
    return out


def _convert(kind: str, value: str):
    if kind in ("LONG", "TIMESTAMP_MS"):
        return int(value)
    if kind == "DOUBLE":
        return float(value)
    if kind == "BOOLEAN":
        return value.lower() == "true"
    return value
