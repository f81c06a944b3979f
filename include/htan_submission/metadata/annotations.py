"""A validated manifest row -> Synapse annotations (v2), typed by the component's schema.

Keys are exactly the schema's property names; values follow the cell convention
(``datamodel.cells``): integer -> LONG, number -> DOUBLE, boolean -> BOOLEAN, string -> STRING,
array -> a list of its items' type. Synapse's limits (SYNAPSE.md §4: 100 keys, 100 values per
key, 500 characters per STRING key, the key pattern) are checked *before* anything is written: a
row that cannot fit is a finding, never a 400 that synapseclient's ``File.store`` would swallow.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from htan_submission.datamodel.compiler import CompiledComponent
from htan_submission.findings import Finding

MAX_KEYS = 100
MAX_VALUES = 100
MAX_STRING_CHARS = 500
KEY = re.compile(r"^[a-zA-Z0-9,_.]+$")
SYNAPSE_TYPES = {"integer": "LONG", "number": "DOUBLE", "boolean": "BOOLEAN", "string": "STRING"}

Annotations = dict[str, dict[str, object]]


def _typed(value: object) -> tuple[str, str]:
    if isinstance(value, bool):
        return "BOOLEAN", "true" if value else "false"
    if isinstance(value, int):
        return "LONG", str(value)
    if isinstance(value, float):
        return "DOUBLE", repr(value) if math.isfinite(value) else str(value)
    return "STRING", str(value)


def row_annotations(compiled: CompiledComponent, row: Mapping[str, str | None]) -> tuple[Annotations, list[str]]:
    """(annotations, problems). Only schema properties become keys (``Component`` and columns the
    schema does not know stay out); absent cells are absent keys."""
    annotations: Annotations = {}
    problems: list[str] = []
    for column in compiled.properties:
        text = row.get(column)
        if not isinstance(text, str) or not text:
            continue
        value, ok = compiled.convert(column, text)
        if not ok:
            problems.append(f"{column}: the value is not {compiled.cell_types[column].types[0]}; validate first")
            continue
        items = value if isinstance(value, list) else [value]
        if not items:
            continue
        typed = [_typed(item) for item in items]
        kinds = {kind for kind, _ in typed}
        kind = kinds.pop() if len(kinds) == 1 else "STRING"  # a mixed list is text, as Synapse stores it
        values = [text for _, text in typed]
        if not KEY.match(column):
            problems.append(f"{column}: not a valid Synapse annotation key (letters, digits, _ . , only)")
        if len(values) > MAX_VALUES:
            problems.append(f"{column}: {len(values)} values; Synapse allows {MAX_VALUES} per key")
        if kind == "STRING" and sum(len(v) for v in values) > MAX_STRING_CHARS:
            problems.append(f"{column}: {sum(len(v) for v in values)} characters; Synapse allows "
                            f"{MAX_STRING_CHARS} per key")
        annotations[column] = {"type": kind, "value": values}
    if len(annotations) > MAX_KEYS:
        problems.append(f"{len(annotations)} annotation keys; Synapse allows {MAX_KEYS} per file")
    return annotations, problems


def annotation_findings(file: str, row: int, component: str, problems: list[str]) -> list[Finding]:
    return [Finding(file=file, row=row, column=problem.split(":", 1)[0] if ":" in problem else None,
                    rule="metadata.annotation_limit", component=component,
                    message=f"cannot be written as a Synapse annotation ({problem}): shorten or split it; nothing "
                            "was uploaded for this file")
            for problem in problems]


def plain(annotations: Annotations) -> dict[str, list[str]]:
    """Type-free view (key -> list of strings) for comparing what Synapse returns with what was sent."""
    return {k: [str(v) for v in entry["value"]] for k, entry in annotations.items()}  # type: ignore[union-attr]
