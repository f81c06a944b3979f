"""Validation speed: the compiled Pandera validator against the row-by-row jsonschema reference.

1. A generated 100,000-row BiospecimenData-like manifest with 1% faulty cells: seconds for ours,
   seconds for the reference on the same frame, the ratio, and whether the findings are the same.
2. Rows per second for 1,000,000 rows of a small component (Demographics).
3. A 200 MB Demographics CSV through the whole CLI path (read + validate + report).

    python bench/validation.py [--rows 100000] [--reference-rows N] [--skip-big-file]

``--reference-rows`` runs the (slow, ~4 ms/row) reference on the first N rows only and scales
ours to the same rows for the ratio; the default runs it on the whole frame.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import pandas as pd

from htan_submission.datamodel.compiler import compile_component
from htan_submission.dev.demo_batch import BIOSPECIMEN_COMMON, DEMOGRAPHICS
from htan_submission.validation.batch import validate_batch
from htan_submission.validation.reference import reference_cells
from htan_submission.validation.schema_checks import failing_cells, schema_findings

# Columns whose values can vary freely without switching an if/then condition on or off.
FREE_ENUMS = ("SITE_OF_RESECTION_OR_BIOPSY", "SPECIMEN_LATERALITY", "SHIPPING_CONDITION_TYPE",
              "PRESERVATION_METHOD_TEMPERATURE", "TIMEPOINT")
FAULTS = {"string": ["Not a valid value", "n/a?"], "integer": ["12 days", "1.5", "-3"], "number": ["abc", "-1"],
          "array": ['["unclosed', "HTA999_1, nobody"]}


def biospecimen_frame(rows: int, fault_rate: float, seed: int = 7) -> pd.DataFrame:
    compiled = compile_component("BiospecimenData")
    rng = random.Random(seed)
    enums = {c: compiled.properties[c]["enum"] for c in FREE_ENUMS}
    records = []
    for i in range(rows):
        participant = f"HTA200_{i // 10 + 1}"
        record = {"HTAN_BIOSPECIMEN_ID": f"{participant}_B{i % 10 + 1}", "HTAN_PARENT_ID": participant,
                  **BIOSPECIMEN_COMMON, **{c: rng.choice(v) for c, v in enums.items()},
                  "AGE_IN_DAYS_AT_SPECIMEN_COLLECTION": str(rng.randint(0, 30000)),
                  "AGE_IN_DAYS_AT_SPECIMEN_PROCESSING": str(rng.randint(0, 30000)),
                  "PERCENT_TUMOR_CELLS": f"{rng.uniform(0, 100):.1f}"}
        records.append(record)
    frame = pd.DataFrame(records, columns=list(compiled.properties), dtype=object)
    frame = frame.astype(object).where(frame.notna(), None)
    filled = [(r, c) for c in frame.columns for r in range(rows) if frame.iat[r, frame.columns.get_loc(c)]]
    for r, column in rng.sample(filled, int(len(filled) * fault_rate)):
        kind = compiled.properties[column].get("type", "string")
        frame.iat[r, frame.columns.get_loc(column)] = rng.choice([*FAULTS.get(kind, FAULTS["string"]), None])
    return frame


def timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def bench_biospecimen(rows: int, reference_rows: int | None) -> None:
    compiled = compile_component("BiospecimenData")
    frame = biospecimen_frame(rows, 0.01)
    cells = int(frame.notna().sum().sum())
    ours, ours_s = timed(failing_cells, compiled, frame)
    findings, findings_s = timed(schema_findings, compiled, frame, "BiospecimenData.csv")
    sample = frame if not reference_rows else frame.iloc[:reference_rows]
    reference, reference_s = timed(reference_cells, compiled, sample)
    ours_sample = {cell for cell in ours if cell[0] - 2 < len(sample)}
    scale = len(frame) / len(sample)
    print(f"BiospecimenData-like, {rows:,} rows x {len(frame.columns)} columns, {cells:,} filled cells, 1% faulty")
    print(f"  ours (Pandera, compiled)     {ours_s:8.2f} s   {len(ours):,} failing cells")
    print(f"  ours + messages (findings)   {findings_s:8.2f} s   {len(findings):,} findings")
    label = "reference (jsonschema rows)" + ("" if scale == 1 else f", {len(sample):,} rows x{scale:.0f}")
    print(f"  {label:<29}{reference_s * scale:8.2f} s   same findings: {ours_sample == reference}")
    print(f"  ratio                        {reference_s * scale / ours_s:8.0f}x  (goal >= 100x)")


def bench_small_component(rows: int) -> None:
    compiled = compile_component("Demographics")
    rng = random.Random(3)
    base = pd.DataFrame(DEMOGRAPHICS, dtype=object)
    frame = base.sample(rows, replace=True, random_state=1).reset_index(drop=True)
    frame["HTAN_PARTICIPANT_ID"] = [f"HTA2{rng.randint(0, 29):02d}_{i}" for i in range(rows)]
    _, seconds = timed(failing_cells, compiled, frame)
    print(f"Demographics, {rows:,} rows: {seconds:.2f} s, {rows / seconds:,.0f} rows/s")


def bench_big_file(megabytes: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "Demographics.csv"
        line = "{},Female,Asian,Not Hispanic or Latino,Female\n"
        with path.open("w") as handle:
            handle.write("HTAN_PARTICIPANT_ID,SEX,RACE,ETHNIC_GROUP,GENDER_IDENTITY\n")
            written, i = 0, 0
            while written < megabytes * 1_000_000:
                text = line.format(f"HTA200_{i}")
                handle.write(text)
                written += len(text)
                i += 1
        report, seconds = timed(validate_batch, [path])
        print(f"{megabytes} MB Demographics CSV ({i:,} rows), read + validate: {seconds:.1f} s, "
              f"{report.errors} error(s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--reference-rows", type=int, default=None)
    parser.add_argument("--small-rows", type=int, default=1_000_000)
    parser.add_argument("--big-file-mb", type=int, default=200)
    parser.add_argument("--skip-big-file", action="store_true")
    args = parser.parse_args()
    compile_component("BiospecimenData")  # compile once, outside the timings (as in a worker process)
    compiled_s = timed(lambda: compile_component.__wrapped__("BiospecimenData"))[1]
    print(f"compile BiospecimenData (2.2 MB schema): {compiled_s:.2f} s, cached per process afterwards")
    bench_biospecimen(args.rows, args.reference_rows)
    bench_small_component(args.small_rows)
    if not args.skip_big_file:
        bench_big_file(args.big_file_mb)


if __name__ == "__main__":
    main()
