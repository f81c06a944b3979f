"""scrub-table: dates -> days from birth, age policy, re-scan, atomic output, privacy of the
birth-dates file."""

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from htan_submission.cli import main
from htan_submission.config import ConfigError, load_centers
from htan_submission.manifests import read_manifest
from htan_submission.phi.scrub_table import (
    ScrubInputError,
    load_birth_dates,
    participants,
    resolve_mapping,
    scrub_frame,
    scrub_table_file,
)
from htan_submission.phi.tables import scan_tables

BIRTHS = {"HTA200_1": date(1950, 1, 1), "HTA200_2": date(1960, 6, 15)}
BIRTHS_CSV = "HTAN_PARTICIPANT_ID,DATE_OF_BIRTH\nHTA200_1,1950-01-01\nHTA200_2,1960-06-15\n"
OLD_BIRTHS_CSV = "HTAN_PARTICIPANT_ID,DATE_OF_BIRTH\nHTA200_1,1905-01-01\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def frame(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns, dtype=object)


# ---- the conversion ----------------------------------------------------------------------

def test_dates_become_days_in_place_and_date_columns_go():
    result = scrub_frame(frame(HTAN_PARTICIPANT_ID=["HTA200_1", "HTA200_2"], DATE_OF_BIRTH=["x", "y"],
                               DATE_OF_DIAGNOSIS=["2019-03-04", "1960-06-15"], NOTES=["a", "b"]),
                         BIRTHS, file="Diagnosis.csv")
    assert list(result.frame.columns) == ["HTAN_PARTICIPANT_ID", "AGE_IN_DAYS_AT_DIAGNOSIS", "NOTES"]
    assert result.frame["AGE_IN_DAYS_AT_DIAGNOSIS"].tolist() == [str((date(2019, 3, 4) - date(1950, 1, 1)).days), "0"]
    assert (result.findings, result.converted) == ([], 2)
    assert result.columns == {"DATE_OF_BIRTH": None, "DATE_OF_DIAGNOSIS": "AGE_IN_DAYS_AT_DIAGNOSIS"}


def test_every_format_and_the_default_targets():
    result = scrub_frame(frame(HTAN_PARTICIPANT_ID=["HTA200_1"] * 5,
                               DATE_OF_DEATH=["March 4, 2019", None, None, None, None],
                               DATE_OF_LAST_FOLLOW_UP=[None, "43528", None, None, None],
                               DATE_OF_SPECIMEN_COLLECTION=[None, None, "20190304", None, None],
                               DATE_OF_TREATMENT_START=[None, None, None, "2019-03-04T10:22:00Z", None],
                               DATE_OF_TREATMENT_END=[None, None, None, None, "13/03/2019"]),
                         BIRTHS, file="m.csv")
    days = str((date(2019, 3, 4) - date(1950, 1, 1)).days)
    converted = [v for v in result.frame.drop(columns="HTAN_PARTICIPANT_ID").to_numpy().ravel() if v is not None]
    assert converted == [days] * 4 + [str(int(days) + 9)]
    assert list(result.frame.columns)[1:] == ["AGE_IN_DAYS_AT_DEATH", "AGE_IN_DAYS_AT_FOLLOWUP",
                                              "AGE_IN_DAYS_AT_SPECIMEN_COLLECTION", "AGE_IN_DAYS_AT_TREATMENT_START",
                                              "AGE_IN_DAYS_AT_TREATMENT_END"]


def test_participant_from_biospecimen_or_parent_ids():
    ids = frame(HTAN_PARTICIPANT_ID=[None, None, None, None, "HTA200_2"],
                HTAN_BIOSPECIMEN_ID=["HTA200_1_B1", None, None, None, None],
                HTAN_PARENT_ID=[None, "HTA200_2_B3, HTA200_2_B4", "HTA200_1,HTA200_2_B1", "nonsense", None])
    assert participants(ids).tolist() == ["HTA200_1", "HTA200_2", None, None, "HTA200_2"]


@pytest.mark.parametrize(("value", "participant", "rule"), [
    ("2019-03-04", "HTA200_9", "scrub.unknown_participant"),
    ("2019-03-04", None, "scrub.unknown_participant"),
    ("1949-12-31", "HTA200_1", "scrub.date_before_birth"),
    ("03/04/2019", "HTA200_1", "scrub.ambiguous_date"),
    ("03/04/19", "HTA200_1", "scrub.ambiguous_date"),
    ("Mar 2019", "HTA200_1", "scrub.ambiguous_date"),
    ("soon after surgery", "HTA200_1", "scrub.unreadable_date"),
    ("2019-02-30", "HTA200_1", "scrub.unreadable_date"),
])
def test_no_guessing_leaves_the_cell_empty_with_a_finding(value, participant, rule):
    result = scrub_frame(frame(HTAN_PARTICIPANT_ID=[participant, "HTA200_2"], DATE_OF_DIAGNOSIS=[value, "2000-01-01"]),
                         BIRTHS, file="m.csv")
    other = str((date(2000, 1, 1) - BIRTHS["HTA200_2"]).days)
    assert result.frame["AGE_IN_DAYS_AT_DIAGNOSIS"].tolist() == [None, other]
    [finding] = result.findings
    assert (finding.row, finding.column, finding.rule, finding.severity) == (2, "DATE_OF_DIAGNOSIS", rule, "error")
    assert value not in finding.message


def test_date_order_reads_day_month_dates():
    cells = frame(HTAN_PARTICIPANT_ID=["HTA200_1"], DATE_OF_DIAGNOSIS=["03/04/2019"])
    us = scrub_frame(cells, BIRTHS, file="m.csv", date_order="MDY").frame["AGE_IN_DAYS_AT_DIAGNOSIS"][0]
    eu = scrub_frame(cells, BIRTHS, file="m.csv", date_order="DMY").frame["AGE_IN_DAYS_AT_DIAGNOSIS"][0]
    assert int(eu) - int(us) == (date(2019, 4, 3) - date(2019, 3, 4)).days


def test_unknown_markers_become_minus_one():
    result = scrub_frame(frame(HTAN_PARTICIPANT_ID=["HTA200_1", "HTA200_1", "HTA200_1"],
                               DATE_OF_DEATH=["Unknown", "Not Reported", None]), BIRTHS, file="m.csv")
    assert result.frame["AGE_IN_DAYS_AT_DEATH"].tolist() == ["-1", "-1", None]
    assert result.findings == [] and result.converted == 0


def test_existing_target_is_merged_and_a_clash_is_a_finding():
    result = scrub_frame(frame(HTAN_PARTICIPANT_ID=["HTA200_1"] * 3, AGE_IN_DAYS_AT_DIAGNOSIS=["100", None, "5"],
                               DATE_OF_DIAGNOSIS=[None, "1950-01-11", "1950-01-02"]), BIRTHS, file="m.csv")
    assert result.frame["AGE_IN_DAYS_AT_DIAGNOSIS"].tolist() == ["100", "10", None]
    assert [(f.row, f.rule) for f in result.findings] == [(4, "scrub.age_conflict")]


def test_age_policy_cap_caps_and_records_it_flag_reports():
    cells = frame(HTAN_PARTICIPANT_ID=["HTA200_1", "HTA200_1"], DATE_OF_DEATH=["2000-01-01", "1980-01-01"],
                  **{"Days to Birth": ["-40000", "-20000"]})
    born = {"HTA200_1": date(1905, 1, 1)}
    capped = scrub_frame(cells, born, file="m.csv", age_policy="cap")
    assert capped.frame["AGE_IN_DAYS_AT_DEATH"].tolist() == ["32872", str((date(1980, 1, 1) - date(1905, 1, 1)).days)]
    assert capped.frame["Days to Birth"].tolist() == ["-32872", "-20000"]
    assert {(f.column, f.rule, f.severity) for f in capped.findings} == {
        ("AGE_IN_DAYS_AT_DEATH", "phi.age_capped", "warning"), ("Days to Birth", "phi.age_capped", "warning")}
    assert capped.capped == 2
    flagged = scrub_frame(cells, born, file="m.csv", age_policy="flag")
    assert flagged.frame["Days to Birth"].tolist() == ["-40000", "-20000"]
    assert {(f.rule, f.severity) for f in flagged.findings} == {("phi.age_over_89", "error")}


def test_mapping_overrides_normalise_names_and_can_drop():
    mapping = resolve_mapping({"Date of Consent": "AGE_IN_DAYS_AT_CONSENT", "date_of_death": None})
    assert mapping["DATE_OF_CONSENT"] == "AGE_IN_DAYS_AT_CONSENT" and mapping["DATE_OF_DEATH"] is None
    result = scrub_frame(frame(HTAN_PARTICIPANT_ID=["HTA200_1"], **{"Date of Consent": ["1950-01-02"]},
                               DATE_OF_DEATH=["2019-01-01"]), BIRTHS, file="m.csv",
                         mapping={"Date of Consent": "AGE_IN_DAYS_AT_CONSENT", "date_of_death": None})
    assert result.frame.to_dict("list") == {"HTAN_PARTICIPANT_ID": ["HTA200_1"], "AGE_IN_DAYS_AT_CONSENT": ["1"]}


# ---- birth dates -------------------------------------------------------------------------

def test_birth_dates_file(tmp_path):
    assert load_birth_dates(write(tmp_path / "b.csv", BIRTHS_CSV)) == BIRTHS
    tsv = write(tmp_path / "b.tsv", "participant_id\tdob\nHTA200_1\t01/13/1950\n")
    assert load_birth_dates(tsv) == {"HTA200_1": date(1950, 1, 13)}


@pytest.mark.parametrize(("text", "message"), [
    ("ID,WHEN\nHTA200_1,1950-01-01\n", "header must name"),
    ("HTAN_PARTICIPANT_ID,DATE_OF_BIRTH\nHTA200_1,01/02/1950\n", "row 2: the date of birth could be month/day"),
    ("HTAN_PARTICIPANT_ID,DATE_OF_BIRTH\nHTA200_1,1950-01-01\nHTA200_1,1951-01-01\n", "row 3: a second"),
    ("HTAN_PARTICIPANT_ID,DATE_OF_BIRTH\nHTA200_1,\n", "row 2: participant or date of birth is empty"),
    ("", "empty"),
])
def test_bad_birth_dates_name_rows_never_values(tmp_path, text, message):
    with pytest.raises(ScrubInputError, match=message) as error:
        load_birth_dates(write(tmp_path / "b.csv", text))
    assert "1950" not in str(error.value) and "1951" not in str(error.value)


# ---- the file command --------------------------------------------------------------------

CLINICAL = """HTAN_PARTICIPANT_ID,DATE_OF_DIAGNOSIS,DATE_OF_DEATH,PRIMARY_DIAGNOSIS
HTA200_1,2019-03-04,,Infiltrating duct carcinoma
HTA200_2,1990-06-15,2001-01-31,Adenocarcinoma
"""


def test_cli_converts_and_the_output_scans_clean(tmp_path, capsys):
    manifest = write(tmp_path / "Diagnosis.csv", CLINICAL)
    births = write(tmp_path / "private_births.csv", BIRTHS_CSV)
    out = tmp_path / "out" / "Diagnosis.csv"
    out.parent.mkdir()
    report_path = tmp_path / "scrub.json"
    assert main(["scrub-table", str(manifest), "--birth-dates", str(births), "--out", str(out),
                 "--json", str(report_path)]) == 0
    printed = capsys.readouterr()
    written = read_manifest(out).frame
    assert list(written.columns) == ["HTAN_PARTICIPANT_ID", "AGE_IN_DAYS_AT_DIAGNOSIS", "AGE_IN_DAYS_AT_DEATH",
                                     "PRIMARY_DIAGNOSIS"]
    assert written["AGE_IN_DAYS_AT_DEATH"].tolist() == [None, str((date(2001, 1, 31) - date(1960, 6, 15)).days)]
    assert scan_tables([out]).findings == []
    assert main(["scan-phi", str(out)]) == 0
    report = json.loads(report_path.read_text())
    assert report["summary"]["written"] is True and report["summary"]["converted_cells"] == 3
    for secret in ("1950-01-01", "1960-06-15", "2019-03-04"):
        assert secret not in printed.out + printed.err + report_path.read_text()
    assert [p.name for p in out.parent.iterdir()] == ["Diagnosis.csv"]  # no temp file left


def test_cli_problems_exit_1_and_leave_cells_empty(tmp_path, capsys):
    manifest = write(tmp_path / "Diagnosis.csv", CLINICAL.replace("HTA200_2,1990", "HTA200_7,1990"))
    births = write(tmp_path / "b.csv", BIRTHS_CSV)
    out = tmp_path / "Diagnosis.out.csv"
    assert main(["scrub-table", str(manifest), "--birth-dates", str(births), "--out", str(out)]) == 1
    assert "scrub.unknown_participant" in capsys.readouterr().out
    assert read_manifest(out).frame["AGE_IN_DAYS_AT_DIAGNOSIS"].tolist()[1] is None


def test_a_remaining_date_means_nothing_is_written(tmp_path, capsys):
    manifest = write(tmp_path / "Diagnosis.csv", CLINICAL.replace("PRIMARY_DIAGNOSIS", "DATE_OF_CONSENT")
                     .replace("Infiltrating duct carcinoma", "2018-01-01").replace("Adenocarcinoma", "2018-01-01"))
    births = write(tmp_path / "b.csv", BIRTHS_CSV)
    out = write(tmp_path / "previous.csv", "an older output stays as it was\n")
    assert main(["scrub-table", str(manifest), "--birth-dates", str(births), "--out", str(out)]) == 1
    printed = capsys.readouterr().out
    assert "did NOT write" in printed and "DATE_OF_CONSENT" in printed and "2018" not in printed
    assert out.read_text() == "an older output stays as it was\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Diagnosis.csv", "b.csv", "previous.csv"]
    mapping = write(tmp_path / "mapping.yaml", "DATE_OF_CONSENT: AGE_IN_DAYS_AT_CONSENT\n")
    assert main(["scrub-table", str(manifest), "--birth-dates", str(births), "--out", str(out),
                 "--mapping", str(mapping)]) == 0
    assert read_manifest(out).frame["AGE_IN_DAYS_AT_CONSENT"].tolist() == [
        str((date(2018, 1, 1) - date(1950, 1, 1)).days), str((date(2018, 1, 1) - date(1960, 6, 15)).days)]


def test_tsv_stays_tsv_and_xlsx_keeps_numbers(tmp_path):
    from openpyxl import load_workbook

    manifest = write(tmp_path / "Diagnosis.tsv", CLINICAL.replace(",", "\t"))
    births = write(tmp_path / "b.csv", BIRTHS_CSV)
    report = scrub_table_file(manifest, births, tmp_path / "o.tsv")
    assert report.extra["written"] and (tmp_path / "o.tsv").read_text().startswith("HTAN_PARTICIPANT_ID\tAGE_IN")
    scrub_table_file(manifest, births, tmp_path / "o.xlsx")
    sheet = load_workbook(tmp_path / "o.xlsx").active
    assert [c.value for c in sheet[2]][:2] == ["HTA200_1", (date(2019, 3, 4) - date(1950, 1, 1)).days]
    assert read_manifest(tmp_path / "o.xlsx").frame.shape == (2, 4)
    with pytest.raises(ScrubInputError, match="must end in"):
        scrub_table_file(manifest, births, tmp_path / "o.json")


def test_cli_unusable_inputs_exit_2(tmp_path, capsys):
    manifest = write(tmp_path / "Diagnosis.csv", CLINICAL)
    bad_births = write(tmp_path / "b.csv", "HTAN_PARTICIPANT_ID,DATE_OF_BIRTH\nHTA200_1,01/02/1950\n")
    assert main(["scrub-table", str(manifest), "--birth-dates", str(bad_births), "--out", str(tmp_path / "o.csv")]) == 2
    err = capsys.readouterr().err
    assert "row 2" in err and "1950" not in err and not (tmp_path / "o.csv").exists()
    bad_mapping = write(tmp_path / "m.yaml", "- a list\n")
    births = write(tmp_path / "b2.csv", BIRTHS_CSV)
    assert main(["scrub-table", str(manifest), "--birth-dates", str(births), "--out", str(tmp_path / "o.csv"),
                 "--mapping", str(bad_mapping)]) == 2
    assert main(["scrub-table", str(tmp_path / "missing.csv"), "--birth-dates", str(births),
                 "--out", str(tmp_path / "o.csv")]) == 2


def test_cli_center_settings(tmp_path, capsys):
    centers = write(tmp_path / "centers.yaml", """centers:
  HTA200:
    name: A
    synapse_project_id: syn1
    s3: {bucket: b}
    age_policy: cap
    date_order: DMY
    date_columns: {DATE_OF_CONSENT: AGE_IN_DAYS_AT_CONSENT}
""")
    manifest = write(tmp_path / "Diagnosis.csv", "HTAN_PARTICIPANT_ID,DATE_OF_CONSENT,DATE_OF_DEATH\n"
                                                 "HTA200_1,02/01/1906,01/01/2000\n")
    births = write(tmp_path / "b.csv", OLD_BIRTHS_CSV)
    out = tmp_path / "o.csv"
    assert main(["--centers", str(centers), "scrub-table", str(manifest), "--birth-dates", str(births),
                 "--out", str(out), "--center", "HTA200"]) == 0
    assert "phi.age_capped" in capsys.readouterr().out
    assert read_manifest(out).frame.iloc[0].tolist() == ["HTA200_1", "366", "32872"]


@pytest.mark.parametrize(("setting", "message"), [
    ("date_order: YMD", "date_order"), ("date_columns: [DATE_OF_DEATH]", "date_columns"),
    ("date_columns: {DATE_OF_DEATH: 3}", "date_columns"),
])
def test_center_date_settings_are_validated(tmp_path, setting, message):
    path = write(tmp_path / "centers.yaml", "centers:\n  HTA201:\n    name: A\n    synapse_project_id: syn1\n"
                                            f"    s3: {{bucket: b}}\n    {setting}\n")
    with pytest.raises(ConfigError, match=message):
        load_centers(path)
