"""``htan-submit validate``: exit codes, report files, and bad input as findings, never a traceback."""

from __future__ import annotations

import json
import re

import pytest

from htan_submission.cli import main
from htan_submission.datamodel import get_component

HEADER = "HTAN_PARTICIPANT_ID,SEX,RACE,ETHNIC_GROUP,GENDER_IDENTITY\n"
GOOD = "HTA200_1,Female,Asian,Not Reported,Female\n"


def run(capsys, *args) -> tuple[int, str, str]:
    code = main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_manifest_exits_0_and_writes_every_report(tmp_path, capsys):
    (tmp_path / "Demographics.csv").write_text(HEADER + GOOD)
    code, out, _ = run(capsys, tmp_path / "Demographics.csv", "--json", tmp_path / "r.json", "--csv",
                       tmp_path / "r.csv", "--html", tmp_path / "r.html")
    assert code == 0, out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["summary"]["errors"] == 0 and report["findings"] == []
    assert (tmp_path / "r.csv").read_text().startswith("severity,component,file,row,column,rule,message")
    assert "<html" in (tmp_path / "r.html").read_text().lower()


def test_errors_exit_1_with_file_row_column_rule_and_a_helpful_message(tmp_path, capsys):
    (tmp_path / "Demographics.csv").write_text(HEADER + "HTA200_1,Femal,Asian,Not Reported,Female\n")
    given = tmp_path / "Demographics.csv"
    code, _, _ = run(capsys, given, "--json", tmp_path / "r.json")
    assert code == 1
    [finding] = json.loads((tmp_path / "r.json").read_text())["findings"]
    assert {k: finding[k] for k in ("severity", "component", "file", "row", "column", "rule")} == {
        "severity": "error", "component": "Demographics", "file": str(given), "row": 2, "column": "SEX",
        "rule": "schema.enum"}
    assert "allowed: Female, Male, Other, Unknown" in finding["message"]


def test_many_allowed_values_suggest_the_closest_and_long_values_are_cut(tmp_path, capsys):
    long_value = "UBERON:00021070000000000000000000000000000000000000000000000"
    rows = "HTAN_PARTICIPANT_ID,SITE_OF_RESECTION_OR_BIOPSY\nHTA200_1,UBERON:000210\nHTA200_2," + long_value + "\n"
    (tmp_path / "BiospecimenData.csv").write_text(rows)
    code, _, _ = run(capsys, tmp_path / "BiospecimenData.csv", "--json", tmp_path / "r.json")
    assert code == 1
    findings = {f["row"]: f for f in json.loads((tmp_path / "r.json").read_text())["findings"]
                if f["column"] == "SITE_OF_RESECTION_OR_BIOPSY"}
    suggested = re.search(r"closest allowed value: '([^']+)'", findings[2]["message"])[1]
    allowed = get_component("BiospecimenData").schema()["properties"]["SITE_OF_RESECTION_OR_BIOPSY"]["enum"]
    assert suggested in allowed and suggested.startswith("UBERON:000")
    assert long_value not in findings[3]["message"] and long_value[:39] in findings[3]["message"]


def test_warnings_alone_exit_0(tmp_path, capsys):
    (tmp_path / "Demographics.csv").write_text(HEADER.strip() + ",FAVOURITE_COLOUR\n" + GOOD.strip() + ",blue\n")
    code, out, _ = run(capsys, tmp_path / "Demographics.csv")
    assert code == 0
    assert "schema.unknown_column" in out


@pytest.mark.parametrize(("content", "rule"), [
    (b"", "manifest.empty"),
    (HEADER.encode(), "manifest.no_rows"),
    (b"SEX,SEX\nFemale,Male\n", "manifest.duplicate_column"),
    (b"\xef\xbb\xbf" + (HEADER + GOOD).encode(), None),
    ((HEADER + "HTA200_1,F\xe9male,Asian,Not Reported,Female\n").encode("latin-1"), "manifest.encoding"),
    ((HEADER + GOOD.strip() + ",extra,cells\n").encode(), "manifest.ragged_row"),
])
def test_bad_text_input_is_a_finding(tmp_path, capsys, content, rule):
    (tmp_path / "Demographics.csv").write_bytes(content)
    code, out, err = run(capsys, tmp_path / "Demographics.csv", "--json", tmp_path / "r.json")
    rules = {f["rule"] for f in json.loads((tmp_path / "r.json").read_text())["findings"]}
    assert "Traceback" not in out + err
    if rule is None:
        assert (code, rules) == (0, set())
    else:
        assert rule in rules


def test_an_unknown_component_is_a_finding(tmp_path, capsys):
    (tmp_path / "notes.csv").write_text("Component,X\nImaginaryAssay,1\n")
    code, out, _ = run(capsys, tmp_path / "notes.csv")
    assert code == 1 and "manifest.unknown_component" in out


def test_unreadable_inputs_exit_2_with_the_reason(tmp_path, capsys):
    (tmp_path / "Demographics.xlsx").write_bytes(b"PK\x03\x04garbage")
    code, _, err = run(capsys, tmp_path / "Demographics.xlsx")
    assert code == 2 and "cannot read the workbook" in err and "Traceback" not in err
    code, _, err = run(capsys, tmp_path / "nope.csv")
    assert code == 2 and "no such file" in err


def test_a_batch_directory_names_files_relative_to_it(tmp_path, capsys):
    (tmp_path / "clinical").mkdir()
    (tmp_path / "clinical/Demographics.csv").write_text(HEADER + "HTA200_1,Femal,Asian,Not Reported,Female\n")
    code, _, _ = run(capsys, tmp_path, "--json", tmp_path / "r.json")
    assert code == 1
    assert json.loads((tmp_path / "r.json").read_text())["findings"][0]["file"] == "clinical/Demographics.csv"
