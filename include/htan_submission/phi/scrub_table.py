"""Turn calendar dates into days from birth, and cap ages over 89, in one manifest.

HTAN wants every date as an integer number of days since the participant's birth
(``AGE_IN_DAYS_*``). The dates of birth come from a private CSV (participant ID -> date of birth)
that is never uploaded, never logged and never echoed: messages name its rows, not its values.
Nothing is guessed: a date that cannot be read with one explicit format, whose day and month
could be swapped, that has a two-digit year or no day, that belongs to no known participant or
falls before birth leaves its cell empty and becomes a finding (exit 1). After conversion the
output is scanned again and is not written at all if any calendar date is left in it; it is
written to a temporary file next to the target and renamed into place, so a reader never sees
half a file.
"""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from htan_submission.findings import Finding, Report, show_value
from htan_submission.phi.ages import (
    AGE_POLICIES,
    age_message,
    age_unit,
    as_text,
    cap_value,
    over_cap_cells,
    spreadsheet_rows,
)
from htan_submission.phi.dates import DATE_ORDERS, PROBLEMS, parse_date
from htan_submission.phi.detectors import name_tokens
from htan_submission.phi.tables import scan_frame

# Date column -> the HTAN2 property that receives its days from birth; None drops the column.
# Target names are the v2.0.0 schemas' (note AGE_IN_DAYS_AT_FOLLOWUP, without an underscore).
DEFAULT_DATE_COLUMNS: dict[str, str | None] = {
    "DATE_OF_BIRTH": None,
    "DATE_OF_DIAGNOSIS": "AGE_IN_DAYS_AT_DIAGNOSIS",
    "DATE_OF_DEATH": "AGE_IN_DAYS_AT_DEATH",
    "DATE_OF_LAST_FOLLOWUP": "AGE_IN_DAYS_AT_FOLLOWUP",
    "DATE_OF_LAST_FOLLOW_UP": "AGE_IN_DAYS_AT_FOLLOWUP",
    "DATE_OF_FOLLOWUP": "AGE_IN_DAYS_AT_FOLLOWUP",
    "DATE_OF_FOLLOW_UP": "AGE_IN_DAYS_AT_FOLLOWUP",
    "DATE_OF_SPECIMEN_COLLECTION": "AGE_IN_DAYS_AT_SPECIMEN_COLLECTION",
    "DATE_OF_COLLECTION": "AGE_IN_DAYS_AT_SPECIMEN_COLLECTION",
    "COLLECTION_DATE": "AGE_IN_DAYS_AT_SPECIMEN_COLLECTION",
    "DATE_OF_SPECIMEN_PROCESSING": "AGE_IN_DAYS_AT_SPECIMEN_PROCESSING",
    "DATE_OF_SECTIONING": "AGE_IN_DAYS_AT_SECTIONING",
    "DATE_OF_TREATMENT_START": "AGE_IN_DAYS_AT_TREATMENT_START",
    "DATE_OF_TREATMENT_END": "AGE_IN_DAYS_AT_TREATMENT_END",
    "TREATMENT_START_DATE": "AGE_IN_DAYS_AT_TREATMENT_START",
    "TREATMENT_END_DATE": "AGE_IN_DAYS_AT_TREATMENT_END",
    "DATE_OF_PROGRESSION_OR_RECURRENCE": "AGE_IN_DAYS_AT_PROGRESSION_OR_RECURRENCE",
    "DATE_OF_PROGRESSION": "AGE_IN_DAYS_AT_PROGRESSION_OR_RECURRENCE",
    "DATE_OF_RECURRENCE": "AGE_IN_DAYS_AT_PROGRESSION_OR_RECURRENCE",
    "DATE_OF_LAST_KNOWN_DISEASE_STATUS": "AGE_IN_DAYS_AT_LAST_KNOWN_DISEASE_STATUS",
    "DATE_OF_LAST_KNOWN_SURVIVAL_STATUS": "AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS",
    "DATE_OF_LAST_CONTACT": "AGE_IN_DAYS_AT_LAST_KNOWN_SURVIVAL_STATUS",
    "DATE_OF_MOLECULAR_TEST_START": "AGE_IN_DAYS_AT_MOLECULAR_TEST_START",
    "DATE_OF_MOLECULAR_TEST_STOP": "AGE_IN_DAYS_AT_MOLECULAR_TEST_STOP",
}
# HTAN writes -1 for an unknown clinical age; these words in a date column mean exactly that.
UNKNOWN_MARKERS = frozenset({"unknown", "not reported", "not available", "not applicable", "n/a", "na", "-1",
                             "missing", "not collected"})
PARTICIPANT = re.compile(r"^(HTA\d{1,3}_(?:0000|EXT\d{1,18}|\d{1,21}))(?:_[BDP]\d{1,20})*$")
ID_COLUMNS = ("HTAN_PARTICIPANT_ID", "HTAN_BIOSPECIMEN_ID", "HTAN_PARENT_ID")
PARTICIPANT_HEADERS = ("HTAN_PARTICIPANT_ID", "PARTICIPANT_ID", "PARTICIPANT")
BIRTH_HEADERS = ("DATE_OF_BIRTH", "DOB", "BIRTH_DATE", "BIRTHDATE")
OUTPUT_FORMATS = {".csv": ",", ".tsv": "\t", ".txt": "\t", ".xlsx": "xlsx"}
_WHOLE = re.compile(r"-?\d+")


class ScrubInputError(ValueError):
    """The birth-dates file, the mapping or the output path is unusable (CLI exit 2). The message
    names the file, row and column, never a value."""


def normal_name(column: object) -> str:
    return "_".join(name_tokens(column))


# ---------------------------------------------------------------------------------------------
# Inputs

def load_mapping(path: str | Path) -> dict[str, str | None]:
    """A YAML or JSON mapping ``{DATE_COLUMN: AGE_IN_DAYS_COLUMN or null (drop)}``."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ScrubInputError(f"{path}: cannot read the date-column mapping ({type(exc).__name__})") from exc
    if not isinstance(raw, dict) or not all(isinstance(k, str) and (v is None or isinstance(v, str))
                                            for k, v in raw.items()):
        raise ScrubInputError(f"{path}: the mapping must map date column names to AGE_IN_DAYS_* column names "
                              "(or null to drop the column)")
    return raw


def resolve_mapping(*overrides: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """Defaults, then each override in turn; keys compared by their normalised names."""
    merged = {normal_name(k): v for k, v in DEFAULT_DATE_COLUMNS.items()}
    for override in overrides:
        merged.update({normal_name(k): v for k, v in (override or {}).items()})
    return merged


def load_birth_dates(path: str | Path, date_order: str | None = None) -> dict[str, date]:
    """The private participant -> date of birth table (CSV or TSV)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScrubInputError(f"{path}: cannot read the birth-dates file ({type(exc).__name__})") from exc
    first = text.split("\n", 1)[0]
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter="\t" if "\t" in first else ","))
    if not rows:
        raise ScrubInputError(f"{path}: the birth-dates file is empty")
    header = [normal_name(h) for h in rows[0]]
    who = next((header.index(h) for h in PARTICIPANT_HEADERS if h in header), None)
    when = next((header.index(h) for h in BIRTH_HEADERS if h in header), None)
    if who is None or when is None:
        raise ScrubInputError(f"{path}: the header must name a participant column ({PARTICIPANT_HEADERS[0]}) "
                              f"and a date-of-birth column ({BIRTH_HEADERS[0]})")
    births: dict[str, date] = {}
    problems: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        participant = row[who].strip() if who < len(row) else ""
        text_date = row[when].strip() if when < len(row) else ""
        if not participant or not text_date:
            problems.append(f"row {number}: participant or date of birth is empty")
            continue
        parsed = parse_date(text_date, date_order)
        if parsed.day is None:
            problems.append(f"row {number}: the date of birth {PROBLEMS[parsed.problem or 'unreadable']}")
            continue
        if births.setdefault(participant, parsed.day) != parsed.day:
            problems.append(f"row {number}: a second, different date of birth for the same participant")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise ScrubInputError(f"{path}: {shown}")
    return births


# ---------------------------------------------------------------------------------------------
# The conversion

@dataclass
class ScrubResult:
    frame: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    converted: int = 0
    capped: int = 0
    columns: dict[str, str | None] = field(default_factory=dict)


def participants(frame: pd.DataFrame) -> pd.Series:
    """Each row's participant: ``HTAN_PARTICIPANT_ID``, else the participant part of
    ``HTAN_BIOSPECIMEN_ID``, else of every ``HTAN_PARENT_ID`` (when they all agree)."""
    by_name = {normal_name(c): c for c in frame.columns}
    found = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for wanted in ID_COLUMNS:
        if wanted not in by_name:
            continue
        column = as_text(frame[by_name[wanted]])
        uniques = column.dropna().unique()
        lookup = {value: _participant_of(value) for value in uniques}
        found = found.where(found.notna(), column.map(lookup))
    return found.astype(object).where(found.notna(), None)


def _participant_of(value: str) -> str | None:
    owners = set()
    for part in str(value).split(","):
        match = PARTICIPANT.match(part.strip())
        if not match:
            return None
        owners.add(match.group(1))
    return owners.pop() if len(owners) == 1 else None


def scrub_frame(frame: pd.DataFrame, birth_dates: Mapping[str, date], *, file: str,
                component: str | None = None, mapping: Mapping[str, str | None] | None = None,
                age_policy: str = "flag", date_order: str | None = None) -> ScrubResult:
    """Dates -> days from birth (mapped columns), then the age policy over every age column."""
    if age_policy not in AGE_POLICIES:
        raise ValueError(f"age_policy must be one of {AGE_POLICIES}")
    if date_order not in (None, *DATE_ORDERS):
        raise ValueError(f"date_order must be one of {DATE_ORDERS} or None")
    mapping = resolve_mapping(mapping)
    out = frame.copy()
    rows = spreadsheet_rows(frame)
    result = ScrubResult(out)
    sources = [c for c in frame.columns if normal_name(c) in mapping]
    who = participants(frame) if any(mapping[normal_name(c)] for c in sources) else None
    birth_ordinal = {p: d.toordinal() for p, d in birth_dates.items()}
    for column in sources:
        target = mapping[normal_name(column)]
        result.columns[str(column)] = target
        if target is None:
            out = out.drop(columns=[column])
            continue
        days, findings, converted = _days_from_birth(as_text(frame[column]), who, birth_ordinal, date_order,
                                                     file=file, column=str(column), component=component, rows=rows)
        result.findings.extend(findings)
        result.converted += converted
        out = _merge_into(out, column, target, days, result, file=file, component=component, rows=rows)
    result.frame = _apply_age_policy(out, age_policy, result, file=file, component=component, rows=rows)
    return result


def _days_from_birth(values: pd.Series, who: pd.Series, birth_ordinal: dict[str, int], date_order: str | None, *,
                     file: str, column: str, component: str | None,
                     rows: np.ndarray) -> tuple[pd.Series, list[Finding], int]:
    """Days as text (or None) per row, one finding per cell that could not be converted, and how
    many cells were converted."""
    uniques = values.dropna().unique()
    markers = {value for value in uniques if value.strip().lower() in UNKNOWN_MARKERS}
    parsed = {value: parse_date(value, date_order) for value in uniques if value not in markers}
    day_ordinal = values.map({v: p.day.toordinal() for v, p in parsed.items() if p.day}).astype("Float64")
    born = who.map(birth_ordinal).astype("Float64")
    days = (day_ordinal - born).astype("Int64")
    text = days.astype("string[python]").astype(object).where(days.notna().to_numpy(dtype=bool), None)
    unknown = values.isin(markers).to_numpy(dtype=bool)
    text = text.where(~unknown, "-1")
    findings: list[Finding] = []

    def finding(position: int, rule: str, message: str) -> None:
        findings.append(Finding(file=file, row=int(rows[position]), column=column, rule=rule,
                                message=message, component=component))

    cells = values.to_numpy(dtype=object)
    owners = who.to_numpy(dtype=object)
    negative = (days < 0).fillna(False).to_numpy(dtype=bool)
    converted = (days >= 0).fillna(False).to_numpy(dtype=bool)
    # Only the cells that failed are visited one by one.
    for position in np.flatnonzero(values.notna().to_numpy(dtype=bool) & ~unknown & ~converted):
        result = parsed[cells[position]]
        owner = owners[position]
        if result.day is None:
            rule = "scrub.ambiguous_date" if result.problem in ("ambiguous", "two_digit_year", "no_day") \
                else "scrub.unreadable_date"
            finding(position, rule, f"the date {PROBLEMS[result.problem or 'unreadable']}; the cell was left empty")
        elif owner is None:
            finding(position, "scrub.unknown_participant",
                    f"no participant for this row: none of {', '.join(ID_COLUMNS)} gives one; the cell was left empty")
        elif owner not in birth_ordinal:
            finding(position, "scrub.unknown_participant",
                    f"participant {show_value(owner)} is not in the birth-dates file; the cell was left empty")
        elif negative[position]:
            finding(position, "scrub.date_before_birth",
                    "the date falls before the participant's date of birth; check both; the cell was left empty")
    text[negative] = None
    return text, findings, int(converted.sum())


def _merge_into(out: pd.DataFrame, source: object, target: str, days: pd.Series, result: ScrubResult, *,
                file: str, component: str | None, rows: np.ndarray) -> pd.DataFrame:
    """Put ``days`` into ``target`` (in the source column's place when new) and drop the source."""
    if target not in out.columns:
        out.insert(out.columns.get_loc(source), target, days)
        return out.drop(columns=[source])
    existing = as_text(out[target])
    clash = (existing.notna() & days.notna() & (existing != days)).to_numpy(dtype=bool)
    for position in np.flatnonzero(clash):
        result.findings.append(Finding(
            file=file, row=int(rows[position]), column=target, rule="scrub.age_conflict", component=component,
            message=f"{target} already holds a different number of days than {source} gives; the cell was left "
                    "empty: keep one of the two"))
    merged = existing.where(days.isna(), days).astype(object)
    merged[clash] = None
    out[target] = merged
    return out.drop(columns=[source])


def _apply_age_policy(out: pd.DataFrame, age_policy: str, result: ScrubResult, *, file: str,
                      component: str | None, rows: np.ndarray) -> pd.DataFrame:
    cells = over_cap_cells(out)
    for position, column, value, unit in cells:
        if age_policy == "cap" and unit != "birth_year":
            capped = cap_value(value, unit)
            out.iloc[position, out.columns.get_loc(column)] = capped
            result.capped += 1
            result.findings.append(Finding(
                file=file, row=int(rows[position]), column=column, rule="phi.age_capped", severity="warning",
                component=component, message=f"an age over 89 years was capped to {capped} ({age_unit(column)}) "
                                             "because this center's age_policy is cap"))
        else:
            result.findings.append(Finding(file=file, row=int(rows[position]), column=column, rule="phi.age_over_89",
                                           message=age_message(value, unit, "flag"), component=component))
    return out


# ---------------------------------------------------------------------------------------------
# Files

def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """CSV/TSV/XLSX by the suffix; temp file in the same directory, then an atomic rename."""
    path = Path(path)
    kind = OUTPUT_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise ScrubInputError(f"{path}: the output must end in {', '.join(OUTPUT_FORMATS)}")
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".part{path.suffix}")
    try:
        if kind == "xlsx":
            os.close(handle)
            _xlsx_ready(frame).to_excel(temp, index=False, engine="openpyxl")
        else:
            with os.fdopen(handle, "w", encoding="utf-8", newline="") as stream:
                frame.to_csv(stream, index=False, sep=kind, lineterminator="\n")
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _xlsx_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Whole-number cells of age columns become numbers in the workbook, not text."""
    out = frame.copy()
    for column in out.columns:
        if age_unit(column):
            out[column] = pd.Series([int(v) if isinstance(v, str) and _WHOLE.fullmatch(v) else v
                                     for v in as_text(out[column])], index=out.index, dtype=object)
    return out


def scrub_table_file(manifest: str | Path, birth_dates: str | Path, out: str | Path, *,
                     mapping: Mapping[str, str | None] | None = None, mapping_file: str | Path | None = None,
                     age_policy: str = "flag", date_order: str | None = None,
                     display_name: str | None = None) -> Report:
    """``htan-submit scrub-table``: read, convert, re-scan, write (or not). The report's summary
    says whether the output was written; error findings mean exit 1.

    Raises ``ManifestReadError`` / ``ScrubInputError`` for inputs that cannot be used."""
    from htan_submission.manifests import read_manifest

    out = Path(out)
    if out.suffix.lower() not in OUTPUT_FORMATS:
        raise ScrubInputError(f"{out}: the output must end in {', '.join(OUTPUT_FORMATS)}")
    overrides = load_mapping(mapping_file) if mapping_file else None
    births = load_birth_dates(birth_dates, date_order)
    read = read_manifest(manifest, display_name=display_name)
    result = scrub_frame(read.frame, births, file=read.name, component=read.component,
                         mapping={**(mapping or {}), **(overrides or {})}, age_policy=age_policy,
                         date_order=date_order)
    report = Report(inputs=[read.name])
    report.extend(read.findings)
    report.extend(result.findings)
    left = [f for f in scan_frame(result.frame, read.name, component=read.component) if f.rule == "phi.date"]
    for f in left:
        report.findings.append(Finding(
            file=f.file, row=f.row, column=f.column, rule="phi.date", component=f.component,
            message=f"{f.message}. This column is not converted: add it to the date mapping (--mapping) or remove "
                    "the date. The output was NOT written."))
    if not left:
        write_table(result.frame, out)
    report.extra = {"output": str(out), "written": not left, "converted_cells": result.converted,
                    "capped_ages": result.capped, "date_columns": result.columns, "age_policy": age_policy}
    return report
