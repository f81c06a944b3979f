"""Hypothesis strategies for manifest rows of any component, valid or with one planted fault.

Derived from the compiled schema only (never a hand-written list of attributes), so the
differential test covers every component the snapshot has. Dev-only: imports hypothesis.
"""

from __future__ import annotations

import json
import re
from functools import cache

import pandas as pd
from hypothesis import assume
from hypothesis import strategies as st

from htan_submission.datamodel.cells import format_list_cell
from htan_submission.datamodel.compiler import CompiledComponent, quick_failures

# Hypothesis cannot generate from lookarounds; HTAN ID patterns open with a length guard
# `(?=.{1,50}$)`, which we drop for generation and enforce with a filter.
LENGTH_GUARD = re.compile(r"^\^\(\?=\.\{\d+,\d+\}\$\)")
FAULT_KINDS = ("enum", "pattern", "type", "bound", "required", "if_then", "array_item")
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1,
               max_size=12)


def _clean(text: str) -> bool:
    return bool(text) and text == text.strip()


@cache
def _pattern_strategy(pattern: str) -> st.SearchStrategy[str]:
    full = re.compile(pattern)
    generating = LENGTH_GUARD.sub("^", pattern)
    return st.from_regex(generating, fullmatch=True).filter(lambda s: _clean(s) and full.search(s) is not None)


def scalar_strategy(schema: dict) -> st.SearchStrategy:
    """A JSON value valid against a property (or items) schema."""
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "const" in schema:
        return st.just(schema["const"])
    json_type = schema.get("type", "string")
    if json_type == "integer":
        return st.integers(min_value=schema.get("minimum", -10**6), max_value=schema.get("maximum", 10**6))
    if json_type == "number":
        return st.floats(min_value=schema.get("minimum", -1e6), max_value=schema.get("maximum", 1e6),
                         allow_nan=False, allow_infinity=False)
    if json_type == "boolean":
        return st.booleans()
    if "pattern" in schema:
        return _pattern_strategy(schema["pattern"])
    return TEXT.filter(_clean)


def cell_text(value: object, schema: dict, draw) -> str:
    """How a person would write the value in a manifest cell (several spellings)."""
    if isinstance(value, bool):
        return draw(st.sampled_from(["true", "True", "TRUE"] if value else ["false", "False", "FALSE"]))
    if isinstance(value, list):
        return json.dumps(value) if draw(st.booleans()) else format_list_cell(value)
    return str(value)


def value_strategy(compiled: CompiledComponent, column: str) -> st.SearchStrategy[str]:
    schema = compiled.properties.get(column) or {}

    @st.composite
    def text(draw):
        if schema.get("type") == "array":
            items = draw(st.lists(scalar_strategy(schema.get("items") or {}), min_size=1, max_size=3))
            return cell_text(items, schema, draw)
        return cell_text(draw(scalar_strategy(schema)), schema, draw)

    return text()


@st.composite
def valid_row(draw, compiled: CompiledComponent) -> dict[str, str | None]:
    """A row jsonschema accepts: required columns filled, optional ones sometimes, if/then met."""
    row: dict[str, str | None] = {}
    for column in compiled.properties:
        wanted = column in compiled.required or draw(st.booleans())
        row[column] = draw(value_strategy(compiled, column)) if wanted else None
    for _ in range(6):  # conditions can chain (IS_TISSUE_SECTION -> AGE_IN_DAYS_AT_SECTIONING)
        problems = _problems(compiled, row)
        if not problems:
            return row
        for _, column, _rule in problems:
            if row.get(column) is None:
                row[column] = draw(value_strategy(compiled, column))
            else:
                row[column] = None if column not in compiled.required else draw(value_strategy(compiled, column))
    # A then-branch can narrow a column further than its own property schema (SpatialPanel's
    # ENSEMBL_ID pattern); rows this loop cannot repair are discarded, not forced.
    assume(not _problems(compiled, row))
    return row


def _problems(compiled: CompiledComponent, row: dict) -> set[tuple[int, str, str]]:
    # The compiled checks repair rows; the test then holds the validator to the reference.
    return quick_failures(compiled, pd.DataFrame([row], columns=list(compiled.properties), dtype=object))


def fault_kinds(compiled: CompiledComponent) -> list[str]:
    """Which planted faults this component can carry."""
    kinds = []
    props = compiled.properties.values()
    if any("enum" in p for p in props):
        kinds.append("enum")
    if any("pattern" in p for p in props):
        kinds.append("pattern")
    if any(p.get("type") in ("integer", "number", "boolean") for p in props):
        kinds.append("type")
    if any("minimum" in p or "maximum" in p for p in props):
        kinds.append("bound")
    if compiled.required:
        kinds.append("required")
    if any(i.rule == "schema.if_then" and i.keyword == "required" for i in compiled.checks.values()):
        kinds.append("if_then")
    if any(p.get("type") == "array" and ("enum" in (p.get("items") or {}) or "pattern" in (p.get("items") or {}))
           for p in props):
        kinds.append("array_item")
    return kinds


@st.composite
def faulty_row(draw, compiled: CompiledComponent, kind: str) -> dict[str, str | None]:
    """A valid row with one planted fault of ``kind``."""
    row = draw(valid_row(compiled))
    props = compiled.properties

    def pick(predicate) -> str:
        return draw(st.sampled_from(sorted(c for c, p in props.items() if predicate(p))))

    if kind == "enum":
        column = pick(lambda p: "enum" in p)
        row[column] = draw(st.sampled_from([v for v in ("Not a real value", "unknown!", "NA")
                                            if v not in props[column]["enum"]]))
    elif kind == "pattern":
        column = pick(lambda p: "pattern" in p and any(_breaks(p["pattern"], v) for v in BAD_TEXT))
        row[column] = draw(st.sampled_from([v for v in BAD_TEXT if _breaks(props[column]["pattern"], v)]))
    elif kind == "type":
        column = pick(lambda p: p.get("type") in ("integer", "number", "boolean"))
        row[column] = draw(st.sampled_from(["abc", "1.5.2", "yes", "NaN", "inf", "12 days", "[1"]))
    elif kind == "bound":
        column = pick(lambda p: "minimum" in p or "maximum" in p)
        schema = props[column]
        row[column] = str(schema["minimum"] - 1) if "minimum" in schema else str(schema["maximum"] + 1)
    elif kind == "required":
        row[draw(st.sampled_from(sorted(compiled.required)))] = None
    elif kind == "if_then":
        info = draw(st.sampled_from(sorted((i for i in compiled.checks.values()
                                            if i.rule == "schema.if_then" and i.keyword == "required"),
                                           key=lambda i: (i.column, i.condition or ""))))
        row[info.column] = None  # the condition may or may not hold in this row; both are informative
        for column, value in _condition_assignments(compiled, info).items():
            row[column] = value
    elif kind == "array_item":
        column = pick(lambda p: p.get("type") == "array" and ("enum" in (p.get("items") or {})
                                                              or "pattern" in (p.get("items") or {})))
        row[column] = format_list_cell([*(json.loads(row[column]) if (row[column] or "").startswith("[")
                                          else []), "not-a-valid-item!"]) if row[column] else "not-a-valid-item!"
    return row


BAD_TEXT = ("!!bad id", "HTA999_1", "file.unknown-ext", "x", " ", "9")


def _breaks(pattern: str, value: str) -> bool:
    return re.search(pattern, value) is None


def _condition_assignments(compiled: CompiledComponent, info) -> dict[str, str]:
    """Cell values that make a simple `X is const` condition true (best effort, from the words)."""
    match = re.match(r"^(\w+) is (True|False|'[^']*')$", info.condition or "")
    if not match:
        return {}
    column, literal = match.groups()
    value = {"True": "true", "False": "false"}.get(literal, literal[1:-1] if literal.startswith("'") else literal)
    return {column: value}
