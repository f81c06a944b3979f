"""Scan manifest tables for PHI: one finding per cell and kind (date, email, phone, age over 89 ...).

Why it is fast enough for million-row batches without a Python loop per row:

1. Manifest columns repeat values, so detectors run over each column's *unique* values.
2. Unique values repeat their *shape*: ``HTA200_17_B342`` and ``HTA200_18_B901`` differ only in
   digits. Every ASCII digit is turned into ``0`` (one ``bytes.translate`` over all unique values
   joined) and the distinct shapes are factorised. Detector patterns never name a specific digit
   (see :mod:`.detectors`), so a value matches a pattern exactly when its shape does: the
   patterns run (pandas ``.str`` regex) over the few thousand shapes instead of the values.
   Before a pattern runs at all, a substring gate (``Detector.needs``, e.g. ``0000-0`` for an
   ISO date) skips the shapes that cannot match; it is tested on "gate keys" (the shape with
   every character that no gate uses deleted), which even all-distinct free text shares.
3. Only values whose shape matched are checked one by one, with the exact confirmation (strptime
   and a plausible year for dates; Luhn, NANP, SSN and octet rules for identifiers).
4. Hits go back to cells with one vectorised ``isin`` per column that has any.

A finding never carries the cell's value: its message names the kind and shows the matched
text through :func:`~htan_submission.findings.mask_value` (``2***-**-**``).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from htan_submission.findings import Finding, Report
from htan_submission.phi.ages import as_text, find_ages_over_89, spreadsheet_rows
from htan_submission.phi.dates import DATE_DETECTORS
from htan_submission.phi.detectors import IDENTIFIER_DETECTORS, Detector, column_profile

if TYPE_CHECKING:
    from htan_submission.manifests import Manifest

ALL_DETECTORS: tuple[Detector, ...] = DATE_DETECTORS + IDENTIFIER_DETECTORS
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
# Every detector's ``needs`` is made of these characters only. A shape's gate key is the shape with
# every other character deleted: a needle in the shape is still in the key (deleting can only add
# occurrences, which the regex then rejects, never lose one), and 100k distinct comments
# ("... block 17", "... block 912") share a handful of keys.
GATE_CHARS = "0 ,./:+@wW-"
_NOT_GATE_BYTES = bytes(b for b in range(256) if chr(b) not in GATE_CHARS + "\n")

Hit = tuple[Detector, str]  # the detector and its finding message (masked), once per unique value


def _unique_entries(columns: list[pd.Series]) -> tuple[list[str], np.ndarray]:
    """Every column's distinct non-empty values, concatenated, with the column each came from."""
    values: list[str] = []
    owners: list[np.ndarray] = []
    for position, series in enumerate(columns):
        uniques = pd.unique(series.to_numpy(dtype=object))
        uniques = uniques[pd.notna(uniques)]
        values.extend(uniques.tolist())
        owners.append(np.full(len(uniques), position, dtype=np.int32))
    return values, (np.concatenate(owners) if owners else np.zeros(0, dtype=np.int32))


def _shapes(values: list[str]) -> tuple[list[str], np.ndarray, list[str], np.ndarray, list[str]]:
    """(values with newlines flattened, shape code per value, distinct shapes, gate-key code per
    distinct shape, distinct gate keys)."""
    text = "\n".join(values)
    if text.count("\n") != max(len(values) - 1, 0):
        values = [v.replace("\n", " ") for v in values]
        text = "\n".join(values)
    if not values:
        empty = np.zeros(0, dtype=np.intp)
        return values, empty, [], empty, []
    pieces = text.encode("utf-8", "surrogatepass").translate(_DIGITS_TO_ZERO).split(b"\n")
    codes, distinct = pd.factorize(np.array(pieces, dtype=object))
    keys = b"\n".join(distinct).translate(None, _NOT_GATE_BYTES).split(b"\n")
    key_codes, distinct_keys = pd.factorize(np.array(keys, dtype=object))
    return (values, codes, [s.decode("utf-8", "surrogatepass") for s in distinct], key_codes,
            [k.decode("ascii") for k in distinct_keys])


def value_hits(frame: pd.DataFrame) -> dict[int, dict[str, list[Hit]]]:
    """Column position -> cell value -> (detector, message) for each rule confirmed in that value
    (the first confirming detector of each rule)."""
    columns = [as_text(frame.iloc[:, i]) for i in range(frame.shape[1])]
    originals, owners = _unique_entries(columns)
    values, codes, distinct, key_codes, keys = _shapes(originals)
    if not values:
        return {}
    profiles = [column_profile(c) for c in frame.columns]
    shapes = pd.Series(distinct, dtype=object)
    hits: dict[int, dict[str, Hit]] = {}
    confirmed: dict[tuple[int, str], re.Match | None] = {}
    gates: dict[str, np.ndarray] = {}

    def gate(needs: tuple[str, ...]) -> np.ndarray:
        """Distinct shapes that contain one of ``needs``: each needle tested once per gate key."""
        for needle in needs:
            if needle not in gates:
                in_key = np.fromiter((needle in key for key in keys), dtype=bool, count=len(keys))
                gates[needle] = in_key[key_codes]
        return np.logical_or.reduce([gates[n] for n in needs])

    for number, detector in enumerate(ALL_DETECTORS):
        applies = np.fromiter((detector.applies(p) for p in profiles), dtype=bool, count=len(profiles))
        if not applies.any():
            continue
        entry_ok = applies[owners]
        wanted = np.zeros(len(distinct), dtype=bool)
        wanted[codes[entry_ok]] = True
        wanted &= gate(detector.needs)
        positions = np.flatnonzero(wanted)
        subset = shapes.iloc[positions]
        with warnings.catch_warnings():  # "has match groups": the groups serve the confirmation step
            warnings.simplefilter("ignore", UserWarning)
            matched = (subset.str.fullmatch(detector.pattern) if detector.whole_cell
                       else subset.str.contains(detector.pattern))
        shape_hit = np.zeros(len(distinct), dtype=bool)
        shape_hit[positions[matched.to_numpy(dtype=bool)]] = True
        for entry in np.flatnonzero(shape_hit[codes] & entry_ok):
            value = values[entry]
            seen = hits.setdefault(int(entry), {})
            if detector.rule in seen:
                continue
            key = (number, value)
            if key not in confirmed:
                confirmed[key] = detector.find(value)
            match = confirmed[key]
            if match is not None:
                seen[detector.rule] = (detector, detector.message(match))
    by_column: dict[int, dict[str, list[Hit]]] = {}
    for entry, rules in hits.items():
        if rules:
            by_column.setdefault(int(owners[entry]), {})[originals[entry]] = list(rules.values())
    return by_column


def find_identifiers(frame: pd.DataFrame, file: str, *, component: str | None = None,
                     rows: np.ndarray | None = None) -> list[Finding]:
    """Dates and identifiers (every detector but ages), one finding per cell and rule."""
    rows = spreadsheet_rows(frame) if rows is None else rows
    findings: list[Finding] = []
    for position, by_value in value_hits(frame).items():
        series = as_text(frame.iloc[:, position])
        column = str(frame.columns[position])
        cells = series.to_numpy(dtype=object)
        for row in np.flatnonzero(series.isin(set(by_value)).to_numpy(dtype=bool)):
            for detector, message in by_value[cells[row]]:
                findings.append(Finding(file=file, row=int(rows[row]), column=column, rule=detector.rule,
                                        message=message, component=component))
    return findings


def scan_frame(frame: pd.DataFrame, file: str, *, component: str | None = None,
               age_policy: str = "flag") -> list[Finding]:
    """Every PHI finding in one manifest frame (cells are text or None; index i = row i + 2)."""
    rows = spreadsheet_rows(frame)
    findings = find_ages_over_89(frame, file, component=component, age_policy=age_policy, rows=rows)
    findings.extend(find_identifiers(frame, file, component=component, rows=rows))
    return findings


def scan_manifest(manifest: Manifest, *, age_policy: str = "flag",
                  include_read_findings: bool = True) -> list[Finding]:
    """One read manifest: its reading findings (a duplicate column is a column not scanned) and
    its PHI findings."""
    findings = list(manifest.findings) if include_read_findings else []
    findings.extend(scan_frame(manifest.frame, manifest.name, component=manifest.component, age_policy=age_policy))
    return findings


def iter_manifests(inputs: Iterable[str | Path | Manifest]) -> Iterator[Manifest]:
    """Paths (files or directories of manifests) and already-read manifests -> manifests, read
    one at a time (a batch never sits in memory whole).

    Raises ``ManifestReadError`` (the message says which file and why) for an input that cannot
    be read, and for a directory that holds no manifest."""
    from htan_submission.manifests import ManifestReadError, manifest_paths, read_manifest

    for item in inputs:
        if not isinstance(item, (str, Path)):
            yield item
            continue
        found = manifest_paths([item])
        if Path(item).is_dir() and not found:
            raise ManifestReadError(f"{item}: the directory holds no manifest (*.csv, *.tsv, *.xlsx)")
        for path, name in found:
            shown = str(Path(item) / name) if Path(item).is_dir() else name
            yield read_manifest(path, display_name=shown)


def scan_tables(inputs: Iterable[str | Path | Manifest], *, age_policy: str = "flag",
                include_read_findings: bool = True) -> Report:
    """The PHI report for manifests: what ``htan-submit scan-phi`` prints and the DAG stores.

    ``inputs`` are manifest files, directories of them, or ``Manifest`` objects already read.
    Raises ``ManifestReadError`` when an input cannot be read."""
    report = Report()
    cells = 0
    for manifest in iter_manifests(inputs):
        report.inputs.append(manifest.name)
        cells += int(manifest.frame.size)
        report.extend(scan_manifest(manifest, age_policy=age_policy, include_read_findings=include_read_findings))
    report.extra = {"cells": cells, "age_policy": age_policy}
    return report


def has_phi(report: Report) -> bool:
    return any(f.rule.startswith("phi.") for f in report.findings)
