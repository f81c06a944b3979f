"""Reading manifests: the cell convention on real files, and bad input as findings, not tracebacks."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from htan_submission.manifests import ManifestReadError, manifest_paths, read_manifest

HEADER = "HTAN_PARTICIPANT_ID,SEX,RACE,ETHNIC_GROUP,GENDER_IDENTITY\n"


def write(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def rules(manifest) -> set[str]:
    return {f.rule for f in manifest.findings}


def test_cells_are_text_trimmed_and_empty_is_absent(tmp_path):
    m = read_manifest(write(tmp_path, "demographics.csv", HEADER + " HTA200_1 ,NA,None, n/a ,\n"))
    assert m.component == "Demographics"
    assert m.frame.loc[0].tolist() == ["HTA200_1", "NA", "None", "n/a", None]
    assert m.findings == []


def test_component_from_column_when_the_name_says_nothing(tmp_path):
    m = read_manifest(write(tmp_path, "batch7.tsv", "Component\tHTAN_PARTICIPANT_ID\nVitalStatus\tHTA200_1\n"))
    assert m.component == "VitalStatus"


def test_unknown_component(tmp_path):
    m = read_manifest(write(tmp_path, "stuff.csv", "Component,A\nNotAComponent,1\n"))
    assert m.component is None
    assert rules(m) == {"manifest.unknown_component"}


def test_row_numbers_survive_blank_rows(tmp_path):
    m = read_manifest(write(tmp_path, "Demographics.csv", HEADER + "HTA200_1,,,,\n,,,,\nHTA200_2,,,,\n"))
    assert [m.row_number(i) for i in m.frame.index] == [2, 4]


def test_empty_file_and_header_only(tmp_path):
    assert rules(read_manifest(write(tmp_path, "Demographics.csv", ""))) == {"manifest.empty"}
    header_only = read_manifest(write(tmp_path, "Diagnosis.csv", HEADER))
    assert rules(header_only) == {"manifest.no_rows"}
    assert header_only.findings[0].severity == "warning"


def test_duplicate_headers_keep_the_first(tmp_path):
    m = read_manifest(write(tmp_path, "Demographics.csv", "SEX,HTAN_PARTICIPANT_ID,SEX\nFemale,HTA200_1,Male\n"))
    assert rules(m) == {"manifest.duplicate_column"}
    assert m.frame["SEX"].tolist() == ["Female"]


def test_bom_and_latin1(tmp_path):
    bom = read_manifest(write(tmp_path, "Demographics.csv", b"\xef\xbb\xbf" + HEADER.encode() + b"HTA200_1,,,,\n"))
    assert "HTAN_PARTICIPANT_ID" in bom.frame.columns and bom.findings == []
    latin = read_manifest(write(tmp_path, "Exposure.csv", HEADER.encode() + b"HTA200_1,F\xe9male,,,\n"))
    assert rules(latin) == {"manifest.encoding"}
    assert latin.frame.loc[0, "SEX"] == "Féemale".replace("ée", "é")


def test_ragged_rows_are_reported_with_their_row(tmp_path):
    m = read_manifest(write(tmp_path, "Demographics.csv", HEADER + "HTA200_1,,,,\nHTA200_2,a,b,c,d,EXTRA\nHTA200_3\n"))
    ragged = [f for f in m.findings if f.rule == "manifest.ragged_row"]
    assert [f.row for f in ragged] == [3]
    assert m.frame["HTAN_PARTICIPANT_ID"].tolist() == ["HTA200_1", "HTA200_2", "HTA200_3"]


def test_xlsx_numbers_merged_cells_and_formulas(tmp_path):
    wb = Workbook()
    ws = wb.active
    ws.title = "Sheet1"
    ws.append(["HTAN_PARTICIPANT_ID", "AGE_IN_DAYS_AT_DEATH", "VITAL_STATUS", "CAUSE_OF_DEATH"])
    ws.append(["HTA200_1", 42.0, "Dead", True])
    ws.append(["HTA200_2", "=1+1", "Dead", None])
    ws.append(["HTA200_3", 3.5, "Alive", None])
    ws.merge_cells("C3:D3")
    path = tmp_path / "VitalStatus.xlsx"
    wb.save(path)
    m = read_manifest(path)
    assert m.component == "VitalStatus"
    assert m.frame.loc[0].tolist() == ["HTA200_1", "42", "Dead", "true"]
    assert m.frame.loc[2, "AGE_IN_DAYS_AT_DEATH"] == "3.5"
    assert {f.rule for f in m.findings} == {"manifest.merged_cells", "manifest.formula"}
    assert {f.row for f in m.findings} == {3}


def test_sheet_named_after_the_component_wins(tmp_path):
    wb = Workbook()
    wb.active.title = "Notes"
    wb.active.append(["anything"])
    sheet = wb.create_sheet("Demographics")
    sheet.append(["HTAN_PARTICIPANT_ID"])
    sheet.append(["HTA200_9"])
    path = tmp_path / "upload.xlsx"
    wb.save(path)
    m = read_manifest(path)
    assert (m.component, m.sheet, m.frame.iloc[0, 0]) == ("Demographics", "Demographics", "HTA200_9")


def test_csv_that_is_really_xlsx_and_the_reverse(tmp_path):
    wb = Workbook()
    wb.active.append(["HTAN_PARTICIPANT_ID"])
    wb.active.append(["HTA200_1"])
    wb.save(tmp_path / "Demographics.csv")
    m = read_manifest(tmp_path / "Demographics.csv")
    assert rules(m) == {"manifest.wrong_extension"} and m.frame.iloc[0, 0] == "HTA200_1"
    text = read_manifest(write(tmp_path, "Diagnosis.xlsx", "HTAN_PARTICIPANT_ID\nHTA200_1\n"))
    assert rules(text) == {"manifest.wrong_extension"} and text.frame.iloc[0, 0] == "HTA200_1"


def test_unreadable_inputs_raise_a_clear_error(tmp_path):
    with pytest.raises(ManifestReadError, match="cannot open"):
        read_manifest(tmp_path / "missing.csv")
    with pytest.raises(ManifestReadError, match="legacy Excel"):
        read_manifest(write(tmp_path, "old.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 100))
    with pytest.raises(ManifestReadError, match="cannot read the workbook"):
        read_manifest(write(tmp_path, "broken.xlsx", b"PK\x03\x04 not really a zip"))


def test_directories_expand_to_manifests_named_relative(tmp_path):
    (tmp_path / "clinical").mkdir()
    write(tmp_path, "clinical/Demographics.csv", HEADER)
    write(tmp_path, "image.tif", b"II*\0")
    write(tmp_path, "~$Demographics.xlsx", b"lock")
    assert [name for _, name in manifest_paths([tmp_path])] == ["clinical/Demographics.csv"]
