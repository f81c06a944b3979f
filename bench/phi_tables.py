"""Bench: cells per second of the PHI table scan (``htan-submit scan-phi``'s core).

Prints figures, asserts nothing. The frame is BiospecimenData-like: 100k rows x 10 columns
(1M cells) of realistic HTAN values (IDs, ages, UBERON codes, grades, file names, short free
text) with a few planted PHI cells. Figures: the core scan over a frame already in memory, the
same including reading the CSV file (``read_manifest``), and the worst case of the design, a
column where every cell is a different sentence. Run: ``python bench/phi_tables.py``
(``BENCH_PHI_ROWS`` changes the row count).
"""

from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from htan_submission.phi.tables import scan_frame, scan_tables

ROWS = int(os.environ.get("BENCH_PHI_ROWS", "100000"))
PARTICIPANTS = 5000
PLANTED = {  # row -> (column, value)
    11: ("COMMENTS", "biopsy on 2019-03-04 at the outside hospital"),
    222: ("COMMENTS", "contact jane.doe@example.org"),
    3333: ("COMMENTS", "pager (617) 555-0123"),
    4444: ("COMMENTS", "MRN: 8812345"),
    55555: ("AGE_IN_DAYS_AT_SPECIMEN_COLLECTION", "33100"),
    66666: ("COMMENTS", "re-cut 03/04/2019"),
    77777: ("AGE_IN_DAYS_AT_SPECIMEN_COLLECTION", "34000"),
}
COMMENTS = [
    "Resection; margins clear", "Core needle biopsy", "Tumor content estimated by pathologist",
    "Frozen in OCT", "Re-cut for H&E", "Adjacent normal", "Low cellularity", "Necrosis ~20%",
    "Sectioned at 5 um", "Block 2 of 3", "Post-treatment specimen", "Lymph node, level II",
]


def make_frame(rows: int, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    participant = rng.integers(1, PARTICIPANTS + 1, rows)
    specimen = np.arange(1, rows + 1)
    parents = np.array([f"HTA200_{p}" for p in participant], dtype=object)
    ages = rng.integers(6000, 32000, rows).astype(str).astype(object)
    ages[rng.random(rows) < 0.05] = "-1"
    comments = np.array([f"{COMMENTS[i % len(COMMENTS)]} (slide {i % 37 + 1})" for i in rng.integers(0, 400, rows)],
                        dtype=object)
    comments[rng.random(rows) < 0.3] = None
    frame = pd.DataFrame({
        "HTAN_BIOSPECIMEN_ID": [f"HTA200_{p}_B{s}" for p, s in zip(participant, specimen, strict=True)],
        "HTAN_PARENT_ID": parents,
        "AGE_IN_DAYS_AT_SPECIMEN_COLLECTION": ages,
        "ANATOMIC_SITE": rng.choice([f"UBERON:{n:07d}" for n in rng.integers(1000, 2100000, 40)], rows),
        "TUMOR_GRADE": rng.choice(["G1 Low Grade", "G2 Intermediate Grade", "G3 High Grade", "GX Grade Cannot "
                                   "Be Assessed", "Not Reported"], rows),
        "PRESERVATION_METHOD": rng.choice(["FFPE", "Frozen", "OCT", "Fresh", "Cryopreserved"], rows),
        "PERCENT_TUMOR_CELLS": np.round(rng.random(rows) * 100, 1).astype(str),
        "SLIDE_THICKNESS_UM": rng.choice(["4", "5", "10", "3.5"], rows),
        "FILENAME": [f"images/HTA200_{p}_D{s}_s{s % 9}.ome.tiff" for p, s in zip(participant, specimen, strict=True)],
        "COMMENTS": comments,
    }).astype(object)
    for row, (column, value) in PLANTED.items():
        if row < rows:
            frame.at[row, column] = value
    return frame.where(frame.notna(), None)


def best_of(runs: int, fn):
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    frame = make_frame(ROWS)
    cells = frame.size
    uniques = sum(frame[c].nunique() for c in frame.columns)
    elapsed, findings = best_of(3, lambda: scan_frame(frame, "BiospecimenData.csv"))
    print(f"scan-phi core (frame in memory): {cells:,} cells ({uniques:,} distinct column values) in "
          f"{elapsed:.3f} s = {cells / elapsed:,.0f} cells/s")
    print(f"  findings: {len(findings)} {dict(sorted(Counter(f.rule for f in findings).items()))} "
          f"(planted: {sum(r < ROWS for r in PLANTED)})")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "BiospecimenData.csv"
        frame.to_csv(path, index=False)
        size = path.stat().st_size
        elapsed, report = best_of(3, lambda: scan_tables([path]))
        print(f"scan-phi with reading the CSV ({size / 1e6:.1f} MB): {cells:,} cells in {elapsed:.3f} s = "
              f"{cells / elapsed:,.0f} cells/s ({report.summary()['by_rule']})")
    # The worst case for the unique-value design: every cell a different sentence.
    rng = np.random.default_rng(3)
    words = np.array(" ".join(COMMENTS).lower().replace(";", "").split())
    for label, tail in (("without digits", lambda i: ""), ("each with a number", lambda i: f" block {i}")):
        text = pd.DataFrame({"COMMENTS": [" ".join(rng.choice(words, 12)) + tail(i) for i in range(ROWS)]},
                            dtype=object)
        elapsed, _ = best_of(1, lambda frame=text: scan_frame(frame, "FreeText.csv"))
        print(f"worst case, {ROWS:,} distinct free-text cells {label}: {elapsed:.3f} s = "
              f"{ROWS / elapsed:,.0f} cells/s")


if __name__ == "__main__":
    main()
