"""The reference the validator must match cell for cell: each row converted by the cell
convention and checked with ``jsonschema``'s Draft7Validator, errors mapped to (row, column, rule).

Slow on purpose (one Python dict and one full validation per row): it is the yardstick for the
differential test and the bench, not something the pipeline runs.
"""

from __future__ import annotations

import re

import pandas as pd
from jsonschema import Draft7Validator

from htan_submission.datamodel.compiler import IF_THEN_RULE, REQUIRED_RULE, CompiledComponent
from htan_submission.datamodel.keywords import RULES

REQUIRED_MESSAGE = re.compile(r"^(?P<name>'.*'|\".*\") is a required property$")


def reference_cells(compiled: CompiledComponent, frame: pd.DataFrame,
                    schema: dict | None = None) -> set[tuple[int, str, str]]:
    """(spreadsheet row, column, rule) for every jsonschema error, type errors shadowing the rest."""
    validator = Draft7Validator(schema if schema is not None else compiled.component.schema())
    cells: set[tuple[int, str, str]] = set()
    for index, record in zip(frame.index, frame.to_dict("records"), strict=True):
        instance = {column: compiled.convert(column, text)[0]
                    for column, text in record.items() if isinstance(text, str)}
        for error in validator.iter_errors(instance):
            cells.add((int(index) + 2, *_locate(error)))
    typed = {(row, column) for row, column, rule in cells if rule == "schema.type"}
    return {cell for cell in cells if cell[2] == "schema.type" or cell[:2] not in typed}


def _locate(error) -> tuple[str, str]:
    """The column and rule a jsonschema error is reported under (the convention the validator uses)."""
    in_branch = any(part in ("then", "else") for part in error.schema_path)
    if error.validator == "required":
        column = _required_name(error.message)
        return column, IF_THEN_RULE if in_branch else REQUIRED_RULE
    if error.validator == "not" and in_branch and isinstance(error.validator_value, dict):
        return error.validator_value["required"][0], IF_THEN_RULE
    column = str(error.path[0]) if error.path else ""
    return column, IF_THEN_RULE if in_branch else RULES.get(error.validator, f"schema.{error.validator}")


def _required_name(message: str) -> str:
    match = REQUIRED_MESSAGE.match(message)
    if not match:
        raise ValueError(f"unexpected jsonschema message: {message}")
    return match["name"][1:-1]
