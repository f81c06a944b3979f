"""scan-phi over manifest files: ages over 89, the report shape, directories, XLSX, exit codes."""

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from htan_submission.cli import main
from htan_submission.manifests import ManifestReadError, read_manifest
from htan_submission.phi.ages import age_unit, find_ages_over_89
from htan_submission.phi.tables import scan_frame, scan_tables


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


CLEAN = """HTAN_PARTICIPANT_ID,HTAN_BIOSPECIMEN_ID,AGE_IN_DAYS_AT_SPECIMEN_COLLECTION,ANATOMIC_SITE,TUMOR_GRADE
HTA200_1,HTA200_1_B1,21000,UBERON:0002107,G2 Intermediate Grade
HTA200_2,HTA200_2_B1,-1,UBERON:0002107,T1
"""
DIRTY = """HTAN_PARTICIPANT_ID,AGE_IN_DAYS_AT_DIAGNOSIS,COMMENTS
HTA200_1,33100,seen on 2019-03-04
HTA200_2,12000,call 617-555-0123

HTA200_3,-1,mail jane.doe@example.org
"""


# ---- ages --------------------------------------------------------------------------------

@pytest.mark.parametrize(("column", "value", "over"), [
    ("AGE_IN_DAYS_AT_DIAGNOSIS", "32872", False), ("AGE_IN_DAYS_AT_DIAGNOSIS", "32873", True),
    ("AGE_IN_DAYS_AT_DEATH", "-1", False), ("AGE_IN_DAYS_AT_FOLLOWUP", "33,000", True),
    ("AGE_IN_DAYS_AT_SPECIMEN_COLLECTION", "40000.5", True), ("AGE_IN_DAYS_AT_DIAGNOSIS", "Not Reported", False),
    ("Days to Birth", "-33000", True), ("Days to Birth", "-25000", False), ("Age at Diagnosis", "33000", True),
    ("Age (years)", "91", True), ("Age (years)", "90", False), ("AGE", "95", True), ("Age in Months", "1100", True),
    ("YEAR_OF_BIRTH", "1920", True), ("YEAR_OF_BIRTH", "1980", False),
    ("LIBRARY_PREPARATION_DAYS_FROM_INDEX", "40000", False), ("PACK_YEARS_SMOKED", "120", False),
    ("AVERAGE_READ_LENGTH", "150000", False),
])
def test_ages_over_89(column, value, over):
    frame = pd.DataFrame({column: ["1", value]}, dtype=object)
    findings = find_ages_over_89(frame, "m.csv")
    assert [(f.row, f.rule) for f in findings] == ([(3, "phi.age_over_89")] if over else [])


def test_age_units_from_column_names():
    assert [age_unit(c) for c in ("AGE_IN_DAYS_AT_TREATMENT_END", "Days to Last Follow up", "Age at Diagnosis",
                                  "AGE_YEARS", "HTAN_PARTICIPANT_ID", "STAGE")] == \
        ["days", "days", "days", "years", None, None]


def test_age_message_follows_the_policy_and_masks_the_value():
    frame = pd.DataFrame({"AGE_IN_DAYS_AT_DIAGNOSIS": ["33100"]}, dtype=object)
    [flagged] = find_ages_over_89(frame, "m.csv", age_policy="flag")
    [capped] = find_ages_over_89(frame, "m.csv", age_policy="cap")
    assert "33100" not in flagged.message and "3****" in flagged.message
    assert "liaison" in flagged.message and "caps it to 32872" in capped.message
    with pytest.raises(ValueError, match="age_policy"):
        find_ages_over_89(frame, "m.csv", age_policy="drop")


def test_numbers_in_cells_are_scanned_too():
    frame = pd.DataFrame({"AGE_IN_DAYS_AT_DIAGNOSIS": [33100, 12], "DATE_OF_BIRTH": [20190304, None]})
    assert sorted(f.rule for f in scan_frame(frame, "m.csv")) == ["phi.age_over_89", "phi.date"]


# ---- files -------------------------------------------------------------------------------

def test_scan_tables_reports_cells_with_spreadsheet_rows(tmp_path):
    path = write(tmp_path / "Diagnosis.csv", DIRTY)
    report = scan_tables([path])
    cells = [(f.row, f.column, f.rule) for f in report.sorted_findings()]
    # row 4 is blank in the file: the third record is spreadsheet row 5
    assert cells == [(2, "AGE_IN_DAYS_AT_DIAGNOSIS", "phi.age_over_89"), (2, "COMMENTS", "phi.date"),
                     (3, "COMMENTS", "phi.phone"), (5, "COMMENTS", "phi.email")]
    assert {f.component for f in report.findings} == {"Diagnosis"}
    assert report.summary()["cells"] == 9 and report.inputs == [str(path)]


def test_scan_tables_accepts_manifests_already_read(tmp_path):
    manifest = read_manifest(write(tmp_path / "Diagnosis.csv", DIRTY), display_name="batch/Diagnosis.csv")
    report = scan_tables([manifest], age_policy="cap")
    assert {f.file for f in report.findings} == {"batch/Diagnosis.csv"}
    assert report.summary()["age_policy"] == "cap"


def test_directories_tsv_and_xlsx(tmp_path):
    from openpyxl import Workbook

    write(tmp_path / "batch" / "Biospecimen.csv", CLEAN)
    write(tmp_path / "batch" / "Therapy.tsv", "HTAN_PARTICIPANT_ID\tNOTES\nHTA200_1\tstarted 4 Mar 2019\n")
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["HTAN_PARTICIPANT_ID", "DATE_OF_DIAGNOSIS", "AGE_IN_DAYS_AT_DIAGNOSIS"])
    sheet.append(["HTA200_1", datetime(2019, 3, 4), 20000])  # a real Excel date cell
    workbook.save(tmp_path / "batch" / "Diagnosis.xlsx")
    write(tmp_path / "batch" / "readme.md", "2019-03-04 is not scanned: not a manifest")
    report = scan_tables([tmp_path / "batch"])
    found = sorted((Path(f.file).name, f.column, f.rule) for f in report.findings if f.rule.startswith("phi."))
    assert found == [("Diagnosis.xlsx", "DATE_OF_DIAGNOSIS", "phi.date"), ("Therapy.tsv", "NOTES", "phi.date")]
    assert len(report.inputs) == 3


def test_unreadable_inputs_raise(tmp_path):
    with pytest.raises(ManifestReadError, match=r"missing\.csv"):
        scan_tables([tmp_path / "missing.csv"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestReadError, match="no manifest"):
        scan_tables([tmp_path / "empty"])


# ---- the command -------------------------------------------------------------------------

def test_cli_clean_file_exits_0(tmp_path, capsys):
    assert main(["scan-phi", str(write(tmp_path / "Biospecimen.csv", CLEAN))]) == 0
    assert "no PHI found" in capsys.readouterr().out


def test_cli_findings_exit_1_with_json_and_no_values(tmp_path, capsys):
    path = write(tmp_path / "Diagnosis.csv", DIRTY)
    out = tmp_path / "report.json"
    assert main(["scan-phi", str(path), "--json", str(out)]) == 1
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert set(report) == {"summary", "findings"}
    assert report["summary"]["by_rule"] == {"phi.age_over_89": 1, "phi.date": 1, "phi.email": 1, "phi.phone": 1}
    assert {"file", "row", "column", "rule", "message", "severity", "component"} <= set(report["findings"][0])
    for secret in ("33100", "2019-03-04", "617-555-0123", "jane.doe", "example.org"):
        assert secret not in printed and secret not in out.read_text()


def test_cli_unreadable_input_exits_2_with_the_reason(tmp_path, capsys):
    legacy = tmp_path / "old.xls"
    legacy.write_bytes(b"\xd0\xcf\x11\xe0" + b"\0" * 100)
    assert main(["scan-phi", str(write(tmp_path / "Biospecimen.csv", CLEAN)), str(legacy)]) == 2
    assert "legacy Excel" in capsys.readouterr().err
    assert main(["scan-phi", str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_cli_takes_the_age_policy_from_the_center(tmp_path, capsys):
    centers = write(tmp_path / "centers.yaml", "centers:\n  HTA201: {name: A, synapse_project_id: syn1, "
                                               "s3: {bucket: b}, age_policy: cap}\n")
    path = write(tmp_path / "Diagnosis.csv", "HTAN_PARTICIPANT_ID,AGE_IN_DAYS_AT_DIAGNOSIS\nHTA201_1,40000\n")
    assert main(["--centers", str(centers), "scan-phi", str(path), "--center", "HTA201"]) == 1
    assert "caps it to 32872" in capsys.readouterr().out
    assert main(["--centers", str(centers), "scan-phi", str(path), "--center", "HTA299"]) == 2
