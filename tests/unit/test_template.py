"""``htan-submit template``: the XLSX opened with openpyxl, checked against the schema files.

Expected columns, values and requirements are read from the vendored schema JSON here, never
typed in, so the tests check the derivation and not a copy of it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.utils import range_boundaries

from htan_submission.cli import main
from htan_submission.datamodel.compiler import compile_component, compile_schema
from htan_submission.datamodel.registry import Component, get_component
from htan_submission.datamodel.template import LIST_EXAMPLE, write_template
from htan_submission.manifests import read_manifest


def _schema(name: str) -> dict:
    return json.loads(get_component(name).path.read_text())


def _expected_header(schema: dict) -> list[str]:
    required = set(schema.get("required", []))
    for block in schema.get("allOf", []):
        if "if" not in block:
            required.update(block.get("required", []))
    names = list(schema["properties"])
    return [n for n in names if n in required] + [n for n in names if n not in required]


def _columns(workbook) -> dict[str, dict]:
    rows = list(workbook["Columns"].iter_rows(values_only=True))
    header = rows[0]
    return {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}


def _dropdowns(workbook, sheet: str) -> dict[str, list]:
    """Header name -> the values its dropdown offers, read through the formula's range."""
    ws = workbook[sheet]
    header = [c.value for c in ws[1]]
    out = {}
    for rule in ws.data_validations.dataValidation:
        assert rule.type == "list"
        target_sheet, cells = rule.formula1.split("!")
        min_col, min_row, max_col, max_row = range_boundaries(cells.replace("$", ""))
        assert min_col == max_col
        values = [row[0] for row in workbook[target_sheet].iter_rows(min_row=min_row, max_row=max_row, min_col=min_col,
                                                                     max_col=max_col, values_only=True)]
        for ref in str(rule.sqref).split():
            col, first, col_end, last = range_boundaries(ref)
            assert (col, first, col_end, last) == (col, 2, col, 1_048_576)
            out[header[col - 1]] = values
    return out


@pytest.fixture(scope="module")
def vital_status(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "VitalStatus.xlsx"
    summary = write_template(compile_component("VitalStatus"), path)
    return summary, load_workbook(path), _schema("VitalStatus")


@pytest.fixture(scope="module")
def biospecimen(tmp_path_factory):
    path = tmp_path_factory.mktemp("template") / "BiospecimenData.xlsx"
    summary = write_template(compile_component("BiospecimenData"), path)
    return summary, load_workbook(path), _schema("BiospecimenData")


def test_vital_status_header_required_first_bold_and_frozen(vital_status):
    summary, workbook, schema = vital_status
    assert workbook.sheetnames == ["VitalStatus", "Columns", "Values"]
    ws = workbook["VitalStatus"]
    header = [c.value for c in ws[1]]
    assert header == _expected_header(schema)
    assert header[:3] == [n for n in schema["properties"] if n in schema["required"]]
    assert {c.value for c in ws[1] if c.font.b} == set(schema["required"])
    assert ws.freeze_panes == "A2"
    assert ws.max_row == 1
    assert all(ws.column_dimensions[c.column_letter].width >= len(c.value) for c in ws[1])
    assert (summary.columns, summary.version) == (len(header), "2.0.0")


def test_vital_status_columns_sheet_says_what_each_column_takes(vital_status):
    _, workbook, schema = vital_status
    columns = _columns(workbook)
    assert list(columns) == _expected_header(schema)
    properties = schema["properties"]
    for name in schema["required"]:
        assert columns[name]["required"] == "yes"
    condition = next(iter(schema["if"]["properties"].items()))
    for name in schema["then"]["required"]:
        assert columns[name]["required"] == f"when {condition[0]} is {condition[1]['const']!r}"
    for name, row in columns.items():
        assert row["type"] == properties[name]["type"]
        assert row["description"] == properties[name]["description"]
        assert row["pattern"] == properties[name].get("pattern")
    status = properties["VITAL_STATUS"]["enum"]
    assert columns["VITAL_STATUS"]["allowed values"].split("\n") == status
    causes = properties["CAUSE_OF_DEATH"]["enum"]
    assert len(causes) > 30
    assert columns["CAUSE_OF_DEATH"]["allowed values"] == f"{len(causes)} values: see sheet Values"
    assert columns["HTAN_PARTICIPANT_ID"]["allowed values"] is None


def test_vital_status_dropdowns_refer_to_the_values_sheet(vital_status):
    summary, workbook, schema = vital_status
    dropdowns = _dropdowns(workbook, "VitalStatus")
    enums = {n: p["enum"] for n, p in schema["properties"].items() if "enum" in p}
    assert dropdowns == enums
    values = workbook["Values"]
    assert [c.value for c in values[1]] == [n for n in _expected_header(schema) if n in enums]
    assert summary.dropdowns == len(enums) and summary.values == sum(map(len, enums.values()))
    for rule in workbook["VitalStatus"].data_validations.dataValidation:
        assert rule.showErrorMessage and rule.allow_blank
    columns = _columns(workbook)
    assert columns["CAUSE_OF_DEATH"]["dropdown"] == f"yes: Values!$B$2:$B${len(enums['CAUSE_OF_DEATH']) + 1}"


def test_demographics_every_column_required_with_a_dropdown(tmp_path):
    schema = _schema("Demographics")
    path = tmp_path / "Demographics.xlsx"
    write_template(compile_component("Demographics"), path)
    workbook = load_workbook(path)
    ws = workbook["Demographics"]
    assert [c.value for c in ws[1]] == list(schema["properties"])
    assert all(c.font.b for c in ws[1])
    enums = {n: p["enum"] for n, p in schema["properties"].items() if "enum" in p}
    assert _dropdowns(workbook, "Demographics") == enums
    columns = _columns(workbook)
    assert {row["required"] for row in columns.values()} == {"yes"}
    assert columns["RACE"]["allowed values"].split("\n") == schema["properties"]["RACE"]["enum"]


def test_biospecimen_header_conditions_and_bounds(biospecimen):
    _, workbook, schema = biospecimen
    ws = workbook["BiospecimenData"]
    assert [c.value for c in ws[1]] == _expected_header(schema)
    columns = _columns(workbook)
    conditions: dict[str, list[str]] = {}
    for block in schema["allOf"]:
        (column, test), = block["if"]["properties"].items()
        for name in block["then"]["required"]:
            conditions.setdefault(name, []).append(f"{column} is {test['const']!r}")
    assert conditions and len(conditions["ANALYTE_TYPE"]) == 2
    for name, words in conditions.items():
        assert columns[name]["required"] == "when " + " or ".join(words)
    for name, prop in schema["properties"].items():
        assert columns[name]["minimum"] == prop.get("minimum")
        assert columns[name]["maximum"] == prop.get("maximum")


def test_biospecimen_big_lists_and_list_columns(biospecimen):
    summary, workbook, schema = biospecimen
    properties = schema["properties"]
    dropdowns = _dropdowns(workbook, "BiospecimenData")
    enums = {n: p["enum"] for n, p in properties.items() if "enum" in p}
    assert dropdowns == enums  # 98,186 ICD-10 codes included, read back through the range
    assert len(dropdowns["ICD_10_DISEASE_CODE"]) == len(properties["ICD_10_DISEASE_CODE"]["enum"]) > 90_000
    columns = _columns(workbook)
    assert columns["ICD_10_DISEASE_CODE"]["allowed values"] == (
        f"{len(enums['ICD_10_DISEASE_CODE']):,} values: see sheet Values")
    arrays = [n for n, p in properties.items() if p.get("type") == "array"]
    assert arrays and not set(arrays) & set(dropdowns)
    for name in arrays:
        assert columns[name]["type"].startswith(f"list of {properties[name]['items']['type']}")
        assert LIST_EXAMPLE in columns[name]["type"] and LIST_EXAMPLE == '"a, b", c'
        if "pattern" in properties[name]["items"]:
            assert columns[name]["pattern"] == f"each item: {properties[name]['items']['pattern']}"
    assert summary.values == sum(map(len, enums.values()))


def test_a_list_column_with_allowed_items_gets_values_but_no_dropdown(tmp_path):
    schema = _schema("Therapy")
    lists = {n: p["items"]["enum"] for n, p in schema["properties"].items() if "enum" in p.get("items", {})}
    assert lists
    path = tmp_path / "Therapy.xlsx"
    write_template(compile_component("Therapy"), path)
    workbook = load_workbook(path)
    columns = _columns(workbook)
    dropdowns = _dropdowns(workbook, "Therapy")
    values_header = [c.value for c in workbook["Values"][1]]
    for name, items in lists.items():
        assert name not in dropdowns
        assert columns[name]["dropdown"].startswith("none: a list column takes several values")
        column = values_header.index(name) + 1
        listed = [r[0] for r in workbook["Values"].iter_rows(min_row=2, min_col=column, max_col=column,
                                                              max_row=len(items) + 1, values_only=True)]
        assert listed == items


def test_lists_longer_than_an_excel_column_get_no_dropdown_and_say_so(tmp_path):
    schema = _schema("VitalStatus")
    causes = schema["properties"]["CAUSE_OF_DEATH"]["enum"]
    path = tmp_path / "VitalStatus.xlsx"
    # 10 stands in for Excel's 1,048,575 rows under the header: the same code path, a small file.
    write_template(compile_component("VitalStatus"), path, max_values=10)
    workbook = load_workbook(path)
    columns = _columns(workbook)
    assert columns["CAUSE_OF_DEATH"]["dropdown"] == (
        f"none: {len(causes)} allowed values are more than an Excel column holds (10 under the header); "
        "see the schema")
    assert "too many for sheet Values" in columns["CAUSE_OF_DEATH"]["allowed values"]
    assert set(_dropdowns(workbook, "VitalStatus")) == {"VITAL_STATUS", "CAUSE_OF_DEATH_SOURCE"}
    assert "CAUSE_OF_DEATH" not in [c.value for c in workbook["Values"][1]]


def test_values_that_look_like_formulas_stay_text(tmp_path):
    schema = {"type": "object", "required": ["A"],
              "properties": {"A": {"type": "string", "enum": ["=SUM(1,2)", "plain"]},
                             "B": {"type": "number", "exclusiveMinimum": 0, "description": "=HYPERLINK(1)"}}}
    component = Component(name="Synthetic", version="0.0.1", path=tmp_path / "x.json", kind="record",
                          key=("A",), folder="X")
    path = tmp_path / "Synthetic.xlsx"
    write_template(compile_schema(component, schema), path)
    workbook = load_workbook(path)
    cell = workbook["Values"]["A2"]
    assert (cell.value, cell.data_type) == ("=SUM(1,2)", "s")
    columns = _columns(workbook)
    assert columns["B"]["description"] == "=HYPERLINK(1)"
    assert columns["B"]["minimum"] == "> 0"
    assert columns["B"]["required"] == "no"
    assert _dropdowns(workbook, "Synthetic") == {"A": ["=SUM(1,2)", "plain"]}


def test_the_manifest_reader_recognises_the_template(tmp_path):
    path = tmp_path / "batch-7.xlsx"  # a name that is no component: the sheet name says which
    write_template(compile_component("VitalStatus"), path)
    manifest = read_manifest(path)
    assert manifest.component == "VitalStatus" and manifest.sheet == "VitalStatus"
    assert list(manifest.frame.columns)[: len(_expected_header(_schema("VitalStatus")))] == _expected_header(
        _schema("VitalStatus"))
    assert len(manifest.frame) == 0


def test_cli_writes_the_template_and_refuses_bad_arguments(tmp_path, capsys):
    out = tmp_path / "out" / "demo.xlsx"
    assert main(["template", "demographics", "--xlsx", str(out)]) == 0
    assert load_workbook(out).sheetnames == ["Demographics", "Columns", "Values"]
    assert "Demographics 1.3.0, 5 columns, 4 dropdowns" in capsys.readouterr().out
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp file left
    assert main(["template", "Demographics", "--xlsx", str(tmp_path / "demo.csv")]) == 2
    assert "must end in .xlsx" in capsys.readouterr().err
    assert main(["template", "NoSuchComponent", "--xlsx", str(tmp_path / "x.xlsx")]) == 2
    assert "unknown component 'NoSuchComponent'" in capsys.readouterr().err
    assert not Path(tmp_path / "x.xlsx").exists()
