"""Ages over 89: HIPAA Safe Harbor aggregates them into "90 or older", in every age column.

Any ``AGE_IN_DAYS_*`` can reveal such an age, not only age at diagnosis, and so can Phase-1 style
``Days to Birth`` (negative), ``Age at Diagnosis`` (days) or ``Age (years)``. A value is over the
cap when its magnitude exceeds 90 years in the column's unit (32,872 days); -1 means unknown and
is fine. Values that are not numbers are left to schema validation: this module only decides
whether a number is too old. A year of birth that puts a person over 89 today is flagged too;
it cannot be capped.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from htan_submission.findings import Finding, mask_value
from htan_submission.phi.detectors import name_tokens

CAP_DAYS = 32_872  # 90 years
CAPS = {"days": CAP_DAYS, "months": 90 * 12, "years": 90}
AGE_POLICIES = ("flag", "cap")
UNIT_TEXT = {"days": "an age in days", "months": "an age in months", "years": "an age in years",
             "birth_year": "a year of birth"}


def age_unit(column: object) -> str | None:
    """``days``/``months``/``years``/``birth_year`` for an age-like column name, else None."""
    tokens = name_tokens(column)
    token_set = set(tokens)
    joined = "_".join(tokens)
    if {"YEAR", "BIRTH"} <= token_set or "YOB" in token_set:
        return "birth_year"
    if "AGE" not in token_set and not joined.startswith("DAYS_TO_"):
        return None
    if token_set & {"DAY", "DAYS"}:
        return "days"
    if token_set & {"MONTH", "MONTHS"}:
        return "months"
    if token_set & {"YEAR", "YEARS", "YRS"}:
        return "years"
    if joined.startswith("AGE_AT_"):
        return "days"  # Phase 1: "Age at Diagnosis" counts days since birth
    return "years"


def as_text(series: pd.Series) -> pd.Series:
    """The column as text or None. A manifest's cells already are; a frame built by hand may hold
    numbers, and a float column of whole numbers reads ``20190304``, not ``20190304.0``."""
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return series
    present = series.notna()
    if pd.api.types.is_float_dtype(series) and (series[present] % 1 == 0).all():
        series = series.astype("Int64")
    return series.astype(str).astype(object).where(present.to_numpy(dtype=bool), None)


def to_numbers(values: pd.Series) -> np.ndarray:
    """Text -> float (NaN when not a number); ``33,000`` reads as 33000."""
    text = values.astype(object)
    thousands = text.str.fullmatch(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", na=False).to_numpy(dtype=bool)
    if thousands.any():
        text = text.where(~thousands, text.str.replace(",", "", regex=False))
    return pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)


def over_cap(numbers: np.ndarray, unit: str) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        if unit == "birth_year":
            return (numbers < date.today().year - 89) & (numbers >= 1000)
        return np.abs(numbers) > CAPS[unit]


def cap_value(value: str, unit: str) -> str:
    """The capped text of one over-cap value; the sign stays (``Days to Birth`` is negative)."""
    number = float(to_numbers(pd.Series([value], dtype=object))[0])
    return str(-CAPS[unit] if number < 0 else CAPS[unit])


def age_message(value: str, unit: str, age_policy: str) -> str:
    head = f"{UNIT_TEXT[unit]} that puts the person over 89 ({mask_value(value)}): HIPAA Safe Harbor aggregates " \
           "ages over 89 into '90 or older'"
    if unit == "birth_year":
        return head + "; remove the year of birth (it cannot be capped)"
    cap = CAPS[unit]
    if age_policy == "cap":
        return head + f"; htan-submit scrub-table caps it to {cap} (this center's age_policy is cap)"
    return head + f"; the liaison reviews it: write {cap} (90 years) instead, or set age_policy: cap in " \
                  "centers.yaml so that scrub-table does it"


def over_cap_cells(frame: pd.DataFrame) -> list[tuple[int, str, str, str]]:
    """(frame position, column, value, unit) of every over-cap age cell, vectorised per column
    over its unique values."""
    found: list[tuple[int, str, str, str]] = []
    for position, column in enumerate(frame.columns):
        unit = age_unit(column)
        if unit is None:
            continue
        series = as_text(frame.iloc[:, position])
        uniques = pd.Series(series.dropna().unique(), dtype=object)
        if uniques.empty:
            continue
        old = uniques[over_cap(to_numbers(uniques), unit)]
        if old.empty:
            continue
        values = series.to_numpy(dtype=object)
        for row in np.flatnonzero(series.isin(set(old)).to_numpy()):
            found.append((int(row), str(column), str(values[row]), unit))
    return found


def find_ages_over_89(frame: pd.DataFrame, file: str, *, component: str | None = None,
                      age_policy: str = "flag", rows: np.ndarray | None = None) -> list[Finding]:
    """One ``phi.age_over_89`` finding per over-cap cell; ``rows`` are spreadsheet rows."""
    if age_policy not in AGE_POLICIES:
        raise ValueError(f"age_policy must be one of {AGE_POLICIES}")
    rows = spreadsheet_rows(frame) if rows is None else rows
    return [Finding(file=file, row=int(rows[pos]), column=column, rule="phi.age_over_89",
                    message=age_message(value, unit, age_policy), component=component)
            for pos, column, value, unit in over_cap_cells(frame)]


def spreadsheet_rows(frame: pd.DataFrame) -> np.ndarray:
    """Frame index i is spreadsheet row i + 2 (the manifests' convention; header is row 1)."""
    index = frame.index
    if pd.api.types.is_integer_dtype(index):
        return index.to_numpy(dtype=np.int64) + 2
    return np.arange(len(frame), dtype=np.int64) + 2
