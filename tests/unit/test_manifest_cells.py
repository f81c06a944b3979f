"""The manifest cell convention (README "Manifest cells")."""

from __future__ import annotations

import pytest

from htan_submission.datamodel.cells import CellType, format_list_cell, parse_list_cell


@pytest.mark.parametrize(("types", "text", "value", "ok"), [
    (("integer",), "42", 42, True),
    (("integer",), "-1", -1, True),
    (("integer",), "+7", 7, True),
    (("integer",), "42.0", "42.0", False),
    (("integer",), "1e3", "1e3", False),
    (("number",), "3.5", 3.5, True),
    (("number",), "12", 12, True),
    (("number",), "-.5e-3", -0.0005, True),
    (("number",), "NaN", "NaN", False),
    (("number",), "inf", "inf", False),
    (("number",), "1e400", "1e400", False),
    (("boolean",), "TRUE", True, True),
    (("boolean",), "false", False, True),
    (("boolean",), "yes", "yes", False),
    (("string",), "NA", "NA", True),
    (("string",), "None", "None", True),
    (("integer", "boolean"), "true", True, True),
])
def test_scalar_conversion(types, text, value, ok):
    converted, converted_ok = CellType(types).convert(text)
    assert (converted, converted_ok) == (value, ok)
    assert type(converted) is type(value)


@pytest.mark.parametrize(("text", "items"), [
    ('["2,6-Diaminopurine", "Cisplatin"]', ["2,6-Diaminopurine", "Cisplatin"]),
    ('"2,6-Diaminopurine", Cisplatin', ["2,6-Diaminopurine", "Cisplatin"]),
    ("a, b ,, c,", ["a", "b", "c"]),
    ('[" a ", ""]', ["a"]),
    ('"say ""hi"", ok", x', ['say "hi", ok', "x"]),
    ("single", ["single"]),
    ("[not json", None),
    ('{"a": 1}', ['{"a": 1}']),
    ("[1, 2]", [1, 2]),
    ('{"a": 1', ['{"a": 1']),
])
def test_list_cells(text, items):
    assert parse_list_cell(text) == items


def test_json_object_in_brackets_is_a_type_error():
    assert CellType(("array",)).convert('{"a": 1}')[1] is True  # a plain item, not JSON
    assert CellType(("array",)).convert('[{"a": 1}')[1] is False


def test_list_items_convert_by_items_type():
    assert CellType(("array",), ("integer",)).convert("1, 2, x") == ([1, 2, "x"], True)


@pytest.mark.parametrize("items", [["2,6-Diaminopurine", "Cisplatin"], ['a "quoted" item', "b"], ["x"]])
def test_written_lists_read_back(items):
    assert parse_list_cell(format_list_cell(items)) == items
