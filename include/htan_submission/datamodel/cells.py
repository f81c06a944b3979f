"""The manifest cell convention: how a text cell becomes a JSON value of its property's type.

A manifest is text; the schemas are JSON. Every reader of a manifest (the validator, the
jsonschema reference, annotation writers) must agree on this one conversion, so it lives here
and nowhere else (README, "Manifest cells"):

- the cell is trimmed text; empty means absent (readers pass ``None``);
- ``integer``: optional sign and digits; ``number``: a finite decimal literal;
  ``boolean``: ``true``/``false`` in any case; ``string``: the text itself;
- ``array``: a JSON array (``["a, b", "c"]``) or comma-separated items where double quotes
  protect commas (``"a, b", c``); items trimmed, empty items dropped, each converted by ``items``;
  a cell starting with ``[`` that is not a JSON array is a type error.

A value that does not convert stays the original text, which is exactly what a JSON Schema
validator then reports as a type error.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

INTEGER = re.compile(r"^[+-]?\d+$")
NUMBER = re.compile(r"^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
# Order in which a cell is tried against a union of types; "string" always succeeds, so last.
TYPE_ORDER = ("boolean", "integer", "number", "array", "string")


@dataclass(frozen=True)
class CellType:
    """What a property's cells convert to: its JSON type(s) and, for arrays, the items' type(s)."""

    types: tuple[str, ...]
    item_types: tuple[str, ...] = ("string",)

    def convert(self, text: str) -> tuple[object, bool]:
        """(value, converted?) — an unconvertible cell comes back as its text with False."""
        for json_type in TYPE_ORDER:
            if json_type in self.types:
                value, ok = _convert_one(text, json_type, self.item_types)
                if ok:
                    return value, True
        return text, not self.types


def _convert_one(text: str, json_type: str, item_types: tuple[str, ...]) -> tuple[object, bool]:
    if json_type == "string":
        return text, True
    if json_type == "integer":
        return (int(text), True) if INTEGER.match(text) else (text, False)
    if json_type == "number":
        if not NUMBER.match(text):
            return text, False
        if INTEGER.match(text):
            return int(text), True
        value = float(text)
        return (value, True) if math.isfinite(value) else (text, False)
    if json_type == "boolean":
        lowered = text.lower()
        return (lowered == "true", True) if lowered in ("true", "false") else (text, False)
    if json_type == "array":
        items = parse_list_cell(text)
        if items is None:
            return text, False
        return [CellType(item_types).convert(item)[0] if isinstance(item, str) else item for item in items], True
    return text, False


def parse_list_cell(text: str) -> list | None:
    """The items of a list cell, or None when it starts with ``[`` but is not a JSON array."""
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except ValueError:
            return None
        if not isinstance(parsed, list):
            return None
        items = [item.strip() if isinstance(item, str) else item for item in parsed]
        return [item for item in items if item != ""]
    try:
        # The csv module already implements "double quotes protect commas" (and "" escapes);
        # skipinitialspace lets `"a, b", c` quote an item that follows a space.
        fields = next(csv.reader([text], skipinitialspace=True), [])
    except csv.Error:
        fields = text.split(",")
    return [field.strip() for field in fields if field.strip()]


def format_list_cell(items: Sequence[object]) -> str:
    """The quoted comma form templates and reports write: items holding a comma or quote are quoted."""
    out = []
    for item in items:
        text = json.dumps(item) if not isinstance(item, str) else item
        out.append('"' + text.replace('"', '""') + '"' if ("," in text or '"' in text) else text)
    return ", ".join(out)


def json_type_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def is_json_type(value: object, json_type: str) -> bool:
    """JSON Schema's type test: booleans are not numbers; 3.0 is an integer (draft-07)."""
    actual = json_type_of(value)
    if json_type == "number":
        return actual in ("integer", "number")
    if json_type == "integer":
        return actual == "integer" or (actual == "number" and float(value).is_integer())  # type: ignore[arg-type]
    return actual == json_type


def json_equal(one: object, two: object) -> bool:
    """Equality as JSON Schema means it (``true`` is not ``1``), for enum and const."""
    if isinstance(one, bool) or isinstance(two, bool):
        return isinstance(one, bool) and isinstance(two, bool) and one is two
    if isinstance(one, list) and isinstance(two, list):
        return len(one) == len(two) and all(json_equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, dict) and isinstance(two, dict):
        return one.keys() == two.keys() and all(json_equal(one[k], two[k]) for k in one)
    return one == two
