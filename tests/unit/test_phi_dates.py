"""Date detection and parsing: a corpus of true and false positives, both through the per-value
detector (``find_date``) and the vectorised scan over a frame (``scan_frame``)."""

from datetime import date

import pandas as pd
import pytest

from htan_submission.phi.dates import find_date, is_date_column, max_year, parse_date
from htan_submission.phi.tables import scan_frame


def scanned_rules(value: str, column: str = "COMMENTS") -> set[str]:
    frame = pd.DataFrame({column: [value]}, dtype=object)
    return {f.rule for f in scan_frame(frame, "m.csv")}


# Dates in any column, alone or inside free text.
DATES_ANYWHERE = [
    "2019-03-04", "2019-3-4", "2019-03-04T10:22:00", "2019-03-04 10:22", "2019-03-04T10:22:00Z",
    "2019-03-04T10:22:00.123+01:00", "2019-03-04 00:00:00", "2019-03-04T00:00:00", "2019/03/04", "2019.03.04",
    "03/04/2019", "3/4/2019", "13/04/2019", "04/13/2019", "03-04-2019", "04.03.2019", "4.3.2019",
    "03/04/19", "3/4/19 10:22 PM", "March 4, 2019", "Mar 4 2019", "Mar. 4, 2019", "4 Mar 2019", "4 March 2019",
    "4-Mar-2019", "04-MAR-19", "4th March 2019", "Sept 4, 2019", "september 4th, 2019", "Mar-2019", "March 2019",
    "DEC 2019", "2019-03", "03/2019", "1 Jan 1901", "12/31/1999",
    "seen on 2019-03-04", "biopsy 3/4/2019 at the clinic", "slide_2019-03-04.svs", "Collected March 4th, 2019.",
    "re-biopsied (04.03.2019); stable", "last visit: Mar 2019", "scan 12/31/99 then",
]

# Only in a date-like column: bare numbers and dash/dot two-digit years collide with IDs elsewhere.
DATES_IN_DATE_COLUMNS = ["20190304", "43528", "43528.5", "19-03-04", "04.03.19", "18263"]

# Values HTAN manifests are full of, and other near misses: never a date, in any column.
NOT_DATES = [
    "T1", "G2 Intermediate Grade", "HTA200_1_B1", "HTA200_EXT3", "UBERON:0002107", "C12345", "-1", "12", "3.5",
    "1-2", "May", "may", "March", "1.2.3", "v2.0.0", "GRCh38", "GRCh38.p14", "hg19", "10x Genomics Visium",
    "C50.911", "8500/3", "2019", "1990", "2019-2020", "13/13/2019", "2019-02-30", "1899-01-01", "3000-01-01",
    "2019-13-01", "Stage IV", "pT2N1M0", "AJCC 8th edition", "Ki-67", "CD45RO", "ENSG00000141510",
    "chr1:12345-67890", "1:1000 dilution", "0.5 mg/mL", "10.1038/s41586-020-2922-4", "v2023.03.4", "Not Applicable",
    "Unknown", "HTA200_1_D20190304", "NM_000546.6", "rs121913529", "10:22", "1/2", "3/4 of the tumour",
    "Mark 2019", "Mayo Clinic", "12.5", "2.20.0.422", "1-2-3", "T2a N1 M0 (7th)", "HTA209_1_B12_D3",
]

NOT_DATES_IN_DATE_COLUMNS = ["-1", "Unknown", "Not Reported", "2019", "12", "1999", "0", "3653"]


@pytest.mark.parametrize("value", DATES_ANYWHERE)
def test_dates_are_found_anywhere(value):
    assert find_date(value, "COMMENTS") is not None
    assert "phi.date" in scanned_rules(value)


@pytest.mark.parametrize("value", DATES_IN_DATE_COLUMNS)
def test_bare_numbers_are_dates_only_in_date_columns(value):
    assert "phi.date" in scanned_rules(value, "DATE_OF_BIRTH")
    assert "phi.date" in scanned_rules(value, "COLLECTION_DT")
    assert "phi.date" not in scanned_rules(value, "COMMENTS")
    assert "phi.date" not in scanned_rules(value, "AGE_IN_DAYS_AT_DIAGNOSIS")


@pytest.mark.parametrize("value", NOT_DATES)
def test_htan_values_are_not_dates(value):
    assert find_date(value, "COMMENTS") is None
    assert "phi.date" not in scanned_rules(value)
    assert "phi.date" not in scanned_rules(value, "DATE_OF_DIAGNOSIS")


@pytest.mark.parametrize("value", NOT_DATES_IN_DATE_COLUMNS)
def test_unknown_markers_and_years_are_not_dates_in_date_columns(value):
    assert "phi.date" not in scanned_rules(value, "DATE_OF_DIAGNOSIS")


def test_calendar_versions_are_not_dates_in_version_columns():
    assert "phi.date" not in scanned_rules("2023.10.1", "WORKFLOW_VERSION")
    assert "phi.date" in scanned_rules("2023.10.1", "COMMENTS")


def test_next_year_is_plausible_and_the_year_after_is_not():
    assert "phi.date" in scanned_rules(f"{max_year()}-01-01")
    assert "phi.date" not in scanned_rules(f"{max_year() + 1}-01-01")


@pytest.mark.parametrize(("name", "date_like"), [
    ("DATE_OF_BIRTH", True), ("DOB", True), ("Date of Diagnosis", True), ("collectionDate", True),
    ("COLLECTION_DT", True), ("BIRTHDATE", True), ("TIMESTAMP", True), ("AGE_IN_DAYS_AT_DIAGNOSIS", False),
    ("ANNDATA_STRUCTURE_VALIDATED", False), ("LAST_UPDATE", False), ("CANDIDATE_GENES", False),
    ("TIMEPOINT", False), ("HTAN_PARTICIPANT_ID", False),
])
def test_date_like_column_names(name, date_like):
    assert is_date_column(name) is date_like


def test_finding_masks_the_date_and_names_the_fix():
    frame = pd.DataFrame({"COMMENTS": ["ok", "seen on 2019-03-04 by the team"]}, dtype=object)
    [finding] = scan_frame(frame, "Diagnosis.csv", component="Diagnosis")
    assert (finding.file, finding.row, finding.column, finding.rule) == ("Diagnosis.csv", 3, "COMMENTS", "phi.date")
    assert finding.component == "Diagnosis"
    assert "2***-**-**" in finding.message and "2019" not in finding.message
    assert "scrub-table" in finding.message


# ---- parsing for conversion: explicit formats, no guessing -----------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("2019-03-04", date(2019, 3, 4)), ("2019-03-04T10:22:00Z", date(2019, 3, 4)), ("2019/3/4", date(2019, 3, 4)),
    ("13/04/2019", date(2019, 4, 13)), ("04/13/2019", date(2019, 4, 13)), ("04/04/2019", date(2019, 4, 4)),
    ("March 4, 2019", date(2019, 3, 4)), ("4 Mar 2019", date(2019, 3, 4)), ("20190304", date(2019, 3, 4)),
    ("43528", date(2019, 3, 4)), ("43528.75", date(2019, 3, 4)), ("2019-03-04 00:00:00", date(2019, 3, 4)),
])
def test_parse_date_unambiguous(text, expected):
    parsed = parse_date(text)
    assert (parsed.day, parsed.problem) == (expected, None)


@pytest.mark.parametrize(("text", "problem"), [
    ("03/04/2019", "ambiguous"), ("04.03.2019", "ambiguous"), ("03/04/19", "two_digit_year"),
    ("04-MAR-19", "two_digit_year"), ("Mar 2019", "no_day"), ("2019-03", "no_day"), ("soon", "unreadable"),
    ("2019-02-30", "unreadable"), ("T1", "unreadable"), ("May", "unreadable"), ("3.5", "unreadable"),
    ("1-2", "unreadable"), ("", "unreadable"),
])
def test_parse_date_refuses_to_guess(text, problem):
    parsed = parse_date(text)
    assert (parsed.day, parsed.problem) == (None, problem)


def test_date_order_settles_day_month_ambiguity():
    assert parse_date("03/04/2019", date_order="MDY").day == date(2019, 3, 4)
    assert parse_date("03/04/2019", date_order="DMY").day == date(2019, 4, 3)
    assert parse_date("13/04/2019", date_order="MDY").day == date(2019, 4, 13)  # only one reading exists
