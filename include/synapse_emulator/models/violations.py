"""JSON-schema validation in the shape Synapse reports it.

Synapse validates with the Java library everit (``JsonSchemaValidationManagerImpl``); the emulator
validates with python ``jsonschema`` (draft-07) and rewrites each error the way everit words it:
``required key [X] not found``, ``expected type: Integer, found: String``, ``Y is not a valid enum
value``, ``string [x] does not match pattern ^...$``. A DAG that shows or parses Synapse's
messages then sees the same text against the emulator. Keywords everit words differently but that
HTAN schemas do not use keep python's message.

A ``ValidationResults`` body follows everit's exception: one violation is reported as itself;
several are wrapped in ``#: N schema violations found`` whose ``causingExceptions`` are the
violations (everit nests ``if``/``then`` failures one level deeper; the leaves, which is what
``allValidationMessages`` lists, are the same).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

_JAVA_TYPES = {"string": "String", "integer": "Integer", "number": "Number", "boolean": "Boolean",
               "object": "JSONObject", "array": "JSONArray", "null": "Null"}
_BOUNDS = {"minimum": "is not greater or equal to", "maximum": "is not less or equal to",
           "exclusiveMinimum": "is not greater than", "exclusiveMaximum": "is not less than",
           "multipleOf": "is not a multiple of"}


def violations(schema: dict, instance: object, pointer_prefix: str = "#") -> list[dict]:
    """Every violation of ``instance`` as an everit exception JSON (leaves only), sorted by pointer."""
    from jsonschema import Draft7Validator

    validator = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    found = [v for error in validator.iter_errors(instance) for v in _everit(error, pointer_prefix)]
    return sorted(found, key=lambda v: (v["pointerToViolation"], v["message"]))


def results_fields(found: list[dict]) -> dict:
    """The failure fields of a ``ValidationResults``: empty when ``found`` is empty."""
    if not found:
        return {}
    if len(found) == 1:
        exception = found[0]
    else:
        exception = {"keyword": None, "pointerToViolation": "#", "message": f"{len(found)} schema violations found",
                     "schemaLocation": "#", "causingExceptions": found}
    return {"validationErrorMessage": exception["message"], "allValidationMessages": all_messages(found),
            "validationException": exception}


def all_messages(found: Iterable[dict]) -> list[str]:
    """everit's ``getAllMessages``: ``<pointer>: <message>`` for each leaf."""
    return [f"{v['pointerToViolation']}: {v['message']}" for v in found]


def _everit(error, pointer_prefix: str) -> list[dict]:
    where = "/".join([pointer_prefix, *(str(p) for p in error.absolute_path)])
    schema_path = [str(p) for p in error.absolute_schema_path][:-1]
    location = "/".join(["#", *schema_path])
    keyword = error.validator
    if keyword == "additionalProperties" and error.validator_value is False:
        extras = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return [_leaf(keyword, where, location, f"extraneous key [{key}] is not permitted") for key in extras]
    return [_leaf(keyword, where, location, _message(error))]


def _leaf(keyword: str, pointer: str, location: str, message: str) -> dict:
    return {"keyword": keyword, "pointerToViolation": pointer, "message": message, "schemaLocation": location,
            "causingExceptions": []}


def _message(error) -> str:
    keyword, expected, subject = error.validator, error.validator_value, error.instance
    if keyword == "required":
        missing = [key for key in expected if isinstance(subject, dict) and key not in subject]
        named = next((key for key in missing if repr(key) in error.message), missing[0] if missing else "?")
        return f"required key [{named}] not found"
    if keyword == "type" and isinstance(expected, str):
        if expected == "null":
            return f"expected: null, found: {_java_type(subject)}"
        return f"expected type: {_JAVA_TYPES.get(expected, expected)}, found: {_java_type(subject)}"
    if keyword == "enum":
        return f"{_java_text(subject)} is not a valid enum value"
    if keyword == "pattern":
        return f"string [{subject}] does not match pattern {expected}"
    if keyword in ("minLength", "maxLength"):
        return f"expected {keyword}: {expected}, actual: {len(subject)}"
    if keyword in _BOUNDS:
        return f"{_java_text(subject)} {_BOUNDS[keyword]} {_java_text(expected)}"
    if keyword in ("minItems", "maxItems"):
        bound = "minimum" if keyword == "minItems" else "maximum"
        return f"expected {bound} item count: {expected}, found: {len(subject)}"
    if keyword == "uniqueItems":
        return "array items are not unique"
    if keyword == "const":
        return ""
    return error.message


def _java_type(value: object) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Double"
    if isinstance(value, str):
        return "String"
    return "JSONArray" if isinstance(value, list) else "JSONObject"


def _java_text(value: object) -> str:
    """How Java's ``toString`` prints a JSON value inside everit's messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)
