"""``htan-submit template``: an XLSX manifest template for one component, from its schema.

A center fills manifests in Excel; a template that already knows the columns, which are
required, and the allowed values (as dropdowns) prevents most validation errors before they
happen. Everything comes from the compiled component (the same checks the validator runs), never
from a hand-kept list, so a refreshed schema gives a matching template:

- sheet 1, named after the component (the manifest reader picks the sheet by that name): the
  header row, required columns first (bold), then the rest, each in schema order; frozen header;
  an enum column gets a dropdown;
- sheet ``Columns``: one row per column saying what to write, in the manifest cell convention
  (``cells.py``: lists in the quoted comma form);
- sheet ``Values``: the allowed values, one column per enum column. Excel caps an inline
  dropdown list at 255 characters, so dropdowns always refer to a range here instead.

Excel cannot express everything: a list column takes several values (a dropdown picks one), and
a column holds at most 1,048,576 rows. Those columns get no dropdown and the ``Columns`` sheet says
why. The workbook is streamed (openpyxl write-only) so BiospecimenData's ~110,000 allowed values
take a second or two.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from htan_submission.datamodel.cells import format_list_cell
from htan_submission.datamodel.compiler import IF_THEN_RULE, REQUIRED_RULE, CompiledComponent

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CELL_CHARS = 32_767
EXCEL_SHEET_NAME_CHARS = 31
SHOWN_VALUES = 30  # the Columns sheet lists up to this many allowed values; beyond, a count
COLUMNS_SHEET = "Columns"
VALUES_SHEET = "Values"
COLUMNS_HEADER = ("column", "required", "type", "allowed values", "pattern", "minimum", "maximum",
                  "dropdown", "description")
COLUMNS_WIDTHS = (34, 30, 44, 48, 40, 12, 12, 40, 90)
LIST_EXAMPLE = format_list_cell(["a, b", "c"])  # `"a, b", c`, from the cell convention itself


@dataclass(frozen=True)
class ColumnSpec:
    """What a manifest column takes, in words a submitter reads."""

    name: str
    required: str  # "yes", "no", or "when <condition>"
    type: str
    is_list: bool
    values: tuple[object, ...] = ()
    pattern: str | None = None
    minimum: object = None
    maximum: object = None
    description: str = ""
    dropdown: str = ""  # the range, or why there is none; filled by the layout

    @property
    def required_always(self) -> bool:
        return self.required == "yes"


@dataclass(frozen=True)
class TemplateSummary:
    component: str
    version: str
    path: Path
    columns: int
    dropdowns: int
    values: int


def _type_text(types: tuple[str, ...], item_types: tuple[str, ...]) -> tuple[str, bool]:
    def words(kinds: tuple[str, ...]) -> str:
        shown = ["boolean (true or false)" if k == "boolean" else k for k in kinds if k != "array"]
        return " or ".join(shown) or "any value"

    if "array" in types:
        return (f"list of {words(item_types)}: items separated by commas, an item holding a comma in "
                f"double quotes, e.g. {LIST_EXAMPLE}"), True
    return words(types), False


def _bound(keyword: str, argument: object) -> object:
    return {"minimum": argument, "maximum": argument, "exclusiveMinimum": f"> {argument}",
            "exclusiveMaximum": f"< {argument}", "minLength": f"length >= {argument}",
            "maxLength": f"length <= {argument}"}[keyword]


def describe_columns(compiled: CompiledComponent) -> list[ColumnSpec]:
    """One spec per column, in template order: always-required columns first, then the rest,
    each in the schema's property order. Requirements, values and bounds come from the compiled
    checks, so the template says exactly what the validator enforces."""
    names = list(compiled.properties)
    names += [info.column for info in compiled.checks.values() if info.column not in compiled.properties]
    names = list(dict.fromkeys(names))
    always: set[str] = set()
    when: dict[str, list[str]] = {}
    values: dict[str, tuple[object, ...]] = {}
    patterns: dict[str, list[str]] = {}
    bounds: dict[str, dict[str, object]] = {}
    for info in compiled.checks.values():
        if info.rule == REQUIRED_RULE:
            always.add(info.column)
        elif info.rule == IF_THEN_RULE:
            if info.keyword == "required" and info.condition:
                when.setdefault(info.column, []).append(info.condition)
        elif info.keyword == "enum" and isinstance(info.argument, list):
            earlier = values.get(info.column)
            values[info.column] = tuple(v for v in info.argument if earlier is None or v in earlier)
        elif info.keyword == "const":
            values[info.column] = (info.argument,)
        elif info.keyword == "pattern":
            patterns.setdefault(info.column, []).append(str(info.argument))
        elif info.keyword in ("minimum", "exclusiveMinimum", "minLength"):
            bounds.setdefault(info.column, {})["minimum"] = _bound(info.keyword, info.argument)
        elif info.keyword in ("maximum", "exclusiveMaximum", "maxLength"):
            bounds.setdefault(info.column, {})["maximum"] = _bound(info.keyword, info.argument)
    specs = []
    for name in names:
        cell_type = compiled.cell_types.get(name)
        type_text, is_list = _type_text(cell_type.types, cell_type.item_types) if cell_type else ("any value", False)
        required = "yes" if name in always else (
            "when " + " or ".join(dict.fromkeys(when[name])) if name in when else "no")
        pattern = " and ".join(patterns.get(name, [])) or None
        if pattern and is_list:
            pattern = f"each item: {pattern}"
        description = (compiled.properties.get(name) or {}).get("description") or ""
        specs.append(ColumnSpec(name=name, required=required, type=type_text, is_list=is_list,
                                values=values.get(name, ()), pattern=pattern,
                                minimum=bounds.get(name, {}).get("minimum"),
                                maximum=bounds.get(name, {}).get("maximum"), description=str(description)))
    return [s for s in specs if s.required_always] + [s for s in specs if not s.required_always]


def _text(value: object) -> object:
    """A cell value Excel keeps as written: no control characters, at most 32,767 characters.
    (A string starting with ``=`` is kept as text by :func:`_cell`.)"""
    if isinstance(value, bool):
        return "true" if value else "false"
    if not isinstance(value, str):
        return value
    return ILLEGAL_CHARACTERS_RE.sub("", value)[:EXCEL_MAX_CELL_CHARS]


def _cell(ws: WriteOnlyWorksheet, value: object, *, bold: bool = False, wrap: bool = False,
          fill: str | None = None) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=_text(value))
    if isinstance(cell.value, str) and cell.data_type == "f":
        cell.data_type = "s"  # an allowed value like "=5" is text, not a formula
    if bold:
        cell.font = Font(bold=True)
    if wrap:
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    if fill:
        cell.fill = PatternFill("solid", fgColor=fill)
    return cell


def _plain(ws: WriteOnlyWorksheet, value: object) -> object:
    """The fast path for the Values sheet: a raw value unless it needs a cell to stay text."""
    value = _text(value)
    return _cell(ws, value) if isinstance(value, str) and value.startswith("=") else value


def layout(specs: list[ColumnSpec], *, max_values: int = EXCEL_MAX_ROWS - 1) -> tuple[list[ColumnSpec], list[int]]:
    """Decide the Values sheet: which specs get a Values column (index into specs, in order) and
    each spec's ``dropdown`` text. ``max_values`` is how many values fit under the header."""
    placed: list[int] = []
    out = []
    for index, spec in enumerate(specs):
        note = ""
        if spec.values:
            if len(spec.values) > max_values:
                note = (f"none: {len(spec.values):,} allowed values are more than an Excel column holds "
                        f"({max_values:,} under the header); see the schema")
            else:
                placed.append(index)
                letter = get_column_letter(len(placed))
                where = f"{VALUES_SHEET}!${letter}$2:${letter}${len(spec.values) + 1}"
                note = (f"none: a list column takes several values, which a dropdown cannot pick; "
                        f"allowed items are in {where}" if spec.is_list else f"yes: {where}")
        out.append(replace(spec, dropdown=note))
    return out, placed


def _allowed_text(spec: ColumnSpec, max_values: int) -> str:
    if not spec.values:
        return ""
    if len(spec.values) <= SHOWN_VALUES:
        return "\n".join(str(_text(v)) for v in spec.values)
    if len(spec.values) > max_values:
        return f"{len(spec.values):,} values (too many for sheet {VALUES_SHEET}; see the schema)"
    return f"{len(spec.values):,} values: see sheet {VALUES_SHEET}"


def build_workbook(compiled: CompiledComponent, *, max_values: int = EXCEL_MAX_ROWS - 1) -> Workbook:
    """The template workbook (write-only: save it once, with ``Workbook.save``)."""
    return _build(compiled, max_values)[0]


def _build(compiled: CompiledComponent, max_values: int) -> tuple[Workbook, list[ColumnSpec], list[int]]:
    specs, placed = layout(describe_columns(compiled), max_values=max_values)
    workbook = Workbook(write_only=True)
    workbook.properties.title = f"HTAN {compiled.name} manifest template"
    workbook.properties.subject = f"{compiled.component.schema_id}"
    workbook.properties.keywords = f"HTAN2 {compiled.name} {compiled.component.version}"

    data = workbook.create_sheet(compiled.name[:EXCEL_SHEET_NAME_CHARS])
    data.freeze_panes = "A2"
    for index, spec in enumerate(specs, start=1):
        data.column_dimensions[get_column_letter(index)].width = min(max(len(spec.name) + 4, 14), 60)
    data.append([_cell(data, spec.name, bold=spec.required_always, fill="DDEBF7" if spec.required_always else "EEEEEE")
                 for spec in specs])
    for index, spec in enumerate(specs, start=1):
        if spec.dropdown.startswith("yes: "):
            letter = get_column_letter(index)
            rule = DataValidation(type="list", formula1=spec.dropdown.removeprefix("yes: "), allow_blank=True,
                                  showErrorMessage=True, errorTitle=spec.name[:32],
                                  error=f"Pick one of the allowed values of {spec.name} (sheet {VALUES_SHEET})."[:255])
            rule.add(f"{letter}2:{letter}{EXCEL_MAX_ROWS}")
            data.data_validations.append(rule)

    columns = workbook.create_sheet(COLUMNS_SHEET)
    columns.freeze_panes = "A2"
    for index, width in enumerate(COLUMNS_WIDTHS, start=1):
        columns.column_dimensions[get_column_letter(index)].width = width
    columns.append([_cell(columns, title, bold=True, fill="EEEEEE") for title in COLUMNS_HEADER])
    for spec in specs:
        row = (spec.name, spec.required, spec.type, _allowed_text(spec, max_values), spec.pattern or "",
               spec.minimum, spec.maximum, spec.dropdown, spec.description)
        columns.append([_cell(columns, value, bold=(i == 0 and spec.required_always), wrap=i in (2, 3, 7, 8))
                        for i, value in enumerate(row)])

    values = workbook.create_sheet(VALUES_SHEET)
    values.freeze_panes = "A2"
    for number, _ in enumerate(placed, start=1):
        values.column_dimensions[get_column_letter(number)].width = 30
    values.append([_cell(values, specs[i].name, bold=True, fill="EEEEEE") for i in placed])
    lists = [specs[i].values for i in placed]
    for depth in range(max((len(v) for v in lists), default=0)):
        row = [_plain(values, v[depth]) if depth < len(v) else None for v in lists]
        while row and row[-1] is None:
            row.pop()
        values.append(row)
    return workbook, specs, placed


def write_template(compiled: CompiledComponent, path: str | Path, *,
                   max_values: int = EXCEL_MAX_ROWS - 1) -> TemplateSummary:
    """Write the template atomically (a half-written .xlsx is a corrupt one)."""
    path = Path(path)
    workbook, specs, placed = _build(compiled, max_values)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        workbook.save(temp)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return TemplateSummary(component=compiled.name, version=compiled.component.version, path=path,
                           columns=len(specs), dropdowns=sum(s.dropdown.startswith("yes") for s in specs),
                           values=sum(len(specs[i].values) for i in placed))
