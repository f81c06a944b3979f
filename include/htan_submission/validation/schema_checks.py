"""Run a compiled component schema over a manifest frame; turn Pandera's failure cases into findings.

Pandera collects every failure (``lazy=True``) with its row index and check; each check's
``error`` is a key into :attr:`CompiledComponent.checks`, which says which rule, column and
keyword it enforces. Then the cell convention's rule: a cell with a type error reports only that.
"""

from __future__ import annotations

import difflib
from functools import lru_cache

import pandas as pd
import pandera.pandas as pa

from htan_submission.datamodel.cells import format_list_cell
from htan_submission.datamodel.compiler import ROW_COLUMN, CheckInfo, CompiledComponent
from htan_submission.findings import Finding, safe_value, show_value

TYPE_RULE = "schema.type"
FEW_VALUES = 12
TYPE_WORDS = {"integer": "a whole number (e.g. 42 or -1)", "number": "a number (e.g. 3.5)",
              "boolean": "true or false", "string": "text",
              "array": 'a list: comma-separated (quote items holding commas: "a, b", c) or a JSON array'}


def prepare_frame(compiled: CompiledComponent, frame: pd.DataFrame) -> pd.DataFrame:
    """The frame Pandera sees: every schema property as a column (absent ones empty) and the row."""
    missing = [c for c in compiled.properties if c not in frame.columns]
    prepared = frame.copy() if not missing else pd.concat(
        [frame, pd.DataFrame(None, index=frame.index, columns=missing, dtype=object)], axis=1)
    prepared[ROW_COLUMN] = (frame.index.to_numpy() + 2).astype("int64")
    return prepared


def failing_cells(compiled: CompiledComponent, frame: pd.DataFrame) -> dict[tuple[int, str, str], CheckInfo]:
    """(spreadsheet row, column, rule) -> the check that failed; type errors shadow the rest."""
    prepared = prepare_frame(compiled, frame)
    try:
        compiled.schema.validate(prepared, lazy=True)
        return {}
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases
    cells: dict[tuple[int, str, str], CheckInfo] = {}
    cases = cases[cases["index"].notna()]
    for key, index in zip(cases["check"].astype(str), cases["index"].astype("int64"), strict=True):
        info = compiled.checks.get(key)
        if info is None:
            raise RuntimeError(f"{compiled.name}: Pandera reported a check the compiler did not make: {key}")
        cells.setdefault((int(index) + 2, info.column, info.rule), info)  # frame index i is row i + 2
    typed = {(row, column) for row, column, rule in cells if rule == TYPE_RULE}
    return {cell: info for cell, info in cells.items() if cell[2] == TYPE_RULE or cell[:2] not in typed}


def schema_findings(compiled: CompiledComponent, frame: pd.DataFrame, file: str) -> list[Finding]:
    """Every schema finding of one manifest, each with a message a person can act on."""
    findings: list[Finding] = []
    absent_columns = {c for c in compiled.properties if c not in frame.columns}
    reported_absent: set[str] = set()
    for (row, column, rule), info in sorted(failing_cells(compiled, frame).items()):
        if info.keyword == "required" and rule == "schema.required" and column in absent_columns:
            if column not in reported_absent:
                reported_absent.add(column)
                findings.append(Finding(file=file, row=None, column=column, rule=rule, component=compiled.name,
                                        message=f"required column {column} is missing: add it and fill every row"))
            continue
        text = frame.at[row - 2, column] if column in frame.columns else None
        findings.append(Finding(file=file, row=row, column=column, rule=rule, component=compiled.name,
                                message=message_for(compiled, info, text)))
    known = set(compiled.properties) | {"Component"}
    for column in frame.columns:
        if column not in known:
            close = difflib.get_close_matches(column, list(compiled.properties), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            findings.append(Finding(file=file, row=None, column=column, rule="schema.unknown_column",
                                    severity="warning", component=compiled.name,
                                    message=f"{column} is not a {compiled.name} property and is not checked{hint}"))
    return findings


def message_for(compiled: CompiledComponent, info: CheckInfo, text: str | None) -> str:
    """What is wrong with this cell and how to fix it; never more than 40 characters of a value."""
    column, keyword, argument = info.column, info.keyword, info.argument
    shown = safe_value(text) if text is not None else "(empty)"
    if info.rule == "schema.if_then":
        when = f" when {info.condition}"
        if keyword == "required":
            return f"{column} is required{when}: fill it in"
        if keyword == "absent":
            return f"{column} must be empty{when}"
        return f"{column}{when}: " + _value_message(compiled, column, keyword, argument, text, shown)
    if keyword == "required":
        return f"{column} is required: fill it in"
    return _value_message(compiled, column, keyword, argument, text, shown)


def _value_message(compiled: CompiledComponent, column: str, keyword: str, argument: object,
                   text: str | None, shown: str) -> str:
    if keyword == "type":
        types = [argument] if isinstance(argument, str) else list(argument)  # type: ignore[arg-type]
        cell_type = compiled.cell_types.get(column)
        wanted = " or ".join(TYPE_WORDS.get(t, t) for t in types)
        if "array" in types and cell_type:
            items = " or ".join(TYPE_WORDS.get(t, t) for t in cell_type.item_types)
            return f"{shown} is not a valid list for {column}: write {wanted}; each item must be {items}"
        return f"{shown} is not {wanted}, as {column} requires"
    if keyword == "enum":
        values = [str(v) for v in argument]  # type: ignore[union-attr]
        if len(values) <= FEW_VALUES:
            return f"{shown} is not an allowed value for {column}; allowed: {format_list_cell(values)}"
        closest = closest_value(text or "", tuple(values))
        hint = f"; closest allowed value: {show_value(closest)}" if closest else ""
        return (f"{shown} is not one of the {len(values)} allowed values for {column}{hint} "
                f"(`htan-submit template {compiled.name}` lists them on its Values sheet)")
    if keyword == "const":
        return f"{column} must be {argument!r}, not {shown}"
    if keyword == "pattern":
        pattern = str(argument)
        pattern = pattern if len(pattern) <= 60 else pattern[:57] + "..."
        return f"{shown} does not have the form {column} requires (pattern {pattern})"
    bounds = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
    if keyword in bounds:
        return f"{shown} is out of range for {column}: it must be {bounds[keyword]} {argument}"
    if keyword == "minLength":
        return f"{column} must be at least {argument} characters long"
    if keyword == "maxLength":
        return f"{column} must be at most {argument} characters long"
    if keyword in ("anyOf", "oneOf"):
        return f"{shown} matches {'none' if keyword == 'anyOf' else 'not exactly one'} of the forms {column} allows"
    if keyword == "not":
        return f"{shown} is a value {column} does not allow"
    return f"{shown} violates {keyword} for {column}"


@lru_cache(maxsize=4096)
def closest_value(text: str, values: tuple[str, ...]) -> str | None:
    """The nearest allowed value. Enumerations reach 50,000 codes, so compare only against values
    sharing the first character (case-insensitive) before difflib's ratio."""
    if not text:
        return None
    lowered = text.lower()
    exact = [v for v in values if v.lower() == lowered]
    if exact:
        return exact[0]
    pool = [v for v in values if v[:1].lower() == lowered[:1]][:5000] or list(values[:5000])
    match = difflib.get_close_matches(text, pool, n=1, cutoff=0.5)
    return match[0] if match else None
