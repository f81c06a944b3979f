"""JSON Schema keywords as predicates on one converted cell value.

The subset the HTAN2 schemas use (and the issue lists), with draft-07's semantics: each keyword
applies only to values of its own type (``minimum`` ignores text, ``pattern`` ignores numbers),
which is what makes a failed type conversion show up as a type error and nothing else.
Anything outside this set is a :class:`CompileError` when a schema is compiled: a keyword we do
not enforce must never be skipped silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from htan_submission.datamodel.cells import is_json_type, json_equal, json_type_of

# Keywords that only annotate; they never change validity.
ANNOTATIONS = frozenset({"title", "description", "$comment", "default", "examples", "$id", "$schema"})
# Value keywords -> the stable rule name a violation is reported under.
RULES = {
    "type": "schema.type",
    "enum": "schema.enum",
    "const": "schema.const",
    "pattern": "schema.pattern",
    "minimum": "schema.minimum",
    "maximum": "schema.maximum",
    "exclusiveMinimum": "schema.exclusive_minimum",
    "exclusiveMaximum": "schema.exclusive_maximum",
    "minLength": "schema.min_length",
    "maxLength": "schema.max_length",
    "anyOf": "schema.any_of",
    "oneOf": "schema.one_of",
    "not": "schema.not",
}

Predicate = Callable[[object], bool]


class CompileError(ValueError):
    """A schema uses something the compiler cannot enforce exactly; names the keyword and where."""


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _number(value: object) -> bool:
    return json_type_of(value) in ("integer", "number")


def keyword_predicate(keyword: str, argument: object, where: str) -> Predicate:
    """A predicate for one keyword; raises CompileError for a keyword or argument we cannot enforce."""
    if keyword == "type":
        types = (argument,) if isinstance(argument, str) else tuple(argument)  # type: ignore[arg-type]
        return lambda v: any(is_json_type(v, t) for t in types)
    if keyword == "enum":
        if not isinstance(argument, list):
            raise CompileError(f"{where}: enum must be a list")
        strings = frozenset(a for a in argument if isinstance(a, str))
        others = [a for a in argument if not isinstance(a, str)]
        return lambda v: (v in strings) if isinstance(v, str) else any(json_equal(v, a) for a in others)
    if keyword == "const":
        return lambda v: json_equal(v, argument)
    if keyword == "pattern":
        search = _regex(str(argument)).search
        return lambda v: not isinstance(v, str) or search(v) is not None
    if keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        if not _number(argument):
            raise CompileError(f"{where}: {keyword} must be a number")
        bound = argument
        compare = {"minimum": lambda v: v >= bound, "maximum": lambda v: v <= bound,
                   "exclusiveMinimum": lambda v: v > bound, "exclusiveMaximum": lambda v: v < bound}[keyword]
        return lambda v: not _number(v) or compare(v)
    if keyword in ("minLength", "maxLength"):
        if not isinstance(argument, int):
            raise CompileError(f"{where}: {keyword} must be an integer")
        if keyword == "minLength":
            return lambda v: not isinstance(v, str) or len(v) >= argument
        return lambda v: not isinstance(v, str) or len(v) <= argument
    if keyword == "items":
        if not isinstance(argument, dict):
            raise CompileError(f"{where}: only a single 'items' schema is supported, not a tuple form")
        item_ok = value_predicate(argument, f"{where}/items")
        return lambda v: not isinstance(v, list) or all(item_ok(item) for item in v)
    if keyword in ("anyOf", "oneOf", "allOf"):
        if not isinstance(argument, list) or not argument:
            raise CompileError(f"{where}: {keyword} must be a non-empty list")
        branches = [value_predicate(b, f"{where}/{keyword}/{i}") for i, b in enumerate(argument)]
        if keyword == "anyOf":
            return lambda v: any(b(v) for b in branches)
        if keyword == "allOf":
            return lambda v: all(b(v) for b in branches)
        return lambda v: sum(b(v) for b in branches) == 1
    if keyword == "not":
        inner = value_predicate(argument, f"{where}/not")  # type: ignore[arg-type]
        return lambda v: not inner(v)
    raise CompileError(f"{where}: keyword {keyword!r} is not supported by the compiler")


def value_predicate(schema: object, where: str) -> Predicate:
    """All of a value subschema's keywords at once (True = valid)."""
    if schema is True or schema == {}:
        return lambda v: True
    if not isinstance(schema, dict):
        raise CompileError(f"{where}: a subschema must be an object, not {schema!r}")
    checks = [keyword_predicate(k, a, where) for k, a in schema.items() if k not in ANNOTATIONS]
    return lambda v: all(check(v) for check in checks)


def declared_types(schema: dict, where: str) -> tuple[str, ...]:
    """The JSON types a property's cells convert to: its ``type``, or the union over anyOf/oneOf
    branches that declare one. Array-or-string would make a comma ambiguous: refused."""
    types: list[str] = []
    if "type" in schema:
        raw = schema["type"]
        types.extend([raw] if isinstance(raw, str) else raw)
    else:
        for keyword in ("anyOf", "oneOf"):
            for branch in schema.get(keyword, []):
                if isinstance(branch, dict) and "type" in branch:
                    raw = branch["type"]
                    types.extend([raw] if isinstance(raw, str) else raw)
    types = [t for t in dict.fromkeys(types) if t != "null"]
    unknown = set(types) - {"string", "integer", "number", "boolean", "array"}
    if unknown:
        raise CompileError(f"{where}: type(s) {sorted(unknown)} cannot come from a manifest cell")
    if "array" in types and "string" in types:
        raise CompileError(f"{where}: a cell cannot be both array and string (commas would be ambiguous)")
    return tuple(types)
