"""Read a manifest (CSV, TSV, XLSX) into a frame of text, the way the cell convention says.

Every cell is text: no NA guessing (``NA``, ``None``, ``n/a`` stay text), whitespace trimmed,
empty means absent (``None``). Frame index ``i`` is spreadsheet row ``i + 2`` (the header is
row 1). What is wrong with the *file* (encoding, ragged rows, duplicate headers, merged cells,
formulas, a CSV that is really XLSX) becomes a finding, so one report lists everything; only a
file that cannot be read at all raises :class:`ManifestReadError` (the CLI's exit 2).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from htan_submission.datamodel.registry import component_names, find_component
from htan_submission.findings import Finding

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
COMPONENT_COLUMN = "Component"
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")


class ManifestReadError(ValueError):
    """The file cannot be read at all; the message says which file and why."""


@dataclass
class Manifest:
    path: Path
    name: str
    component: str | None
    frame: pd.DataFrame
    findings: list[Finding] = field(default_factory=list)
    sheet: str | None = None

    def row_number(self, index: int) -> int:
        return int(index) + 2


def read_manifest(path: str | Path, display_name: str | None = None) -> Manifest:
    """Read one manifest; reading problems become ``Manifest.findings``."""
    path = Path(path)
    name = display_name or str(path)
    findings: list[Finding] = []

    def finding(rule: str, message: str, severity: str = "error", row: int | None = None,
                column: str | None = None) -> None:
        findings.append(Finding(file=name, row=row, column=column, rule=rule, message=message, severity=severity))

    try:
        with path.open("rb") as handle:
            head = handle.read(8)
    except OSError as exc:
        raise ManifestReadError(f"{name}: cannot open ({exc.strerror or exc})") from exc
    suffix = path.suffix.lower()
    sheet = None
    if head.startswith(OLE_MAGIC):
        raise ManifestReadError(f"{name}: this is a legacy Excel .xls file; save it as .xlsx or CSV")
    if head.startswith(ZIP_MAGIC):
        if suffix != ".xlsx":
            finding("manifest.wrong_extension",
                    f"the file is an Excel workbook but is named {suffix or 'without extension'}; "
                    "it was read as XLSX: rename it to .xlsx", severity="warning")
        rows, sheet = _read_xlsx(path, name, finding)
    else:
        if suffix == ".xlsx":
            finding("manifest.wrong_extension", "the file is named .xlsx but is text; it was read as CSV/TSV: "
                    "rename it to .csv or .tsv", severity="warning")
        rows = None
    frame = _frame_from_rows(rows, name, finding) if rows is not None else _read_text(path, name, suffix, finding)
    component = _component(path, frame, name, finding, sheet)
    return Manifest(path=path, name=name, component=component, frame=frame, findings=findings, sheet=sheet)


def _read_text(path: Path, name: str, suffix: str, finding) -> pd.DataFrame:
    raw = path.read_bytes()
    if not raw.strip():
        finding("manifest.empty", "the file is empty: it needs a header row with the component's property names "
                "and one row per record (htan-submit template COMPONENT makes one)")
        return pd.DataFrame()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        finding("manifest.encoding", f"the file is not UTF-8 (first bad byte on line {line}); it was read as "
                "Latin-1: check accented characters and save the file as UTF-8", severity="warning", row=line)
        text = raw.decode("latin-1")
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if suffix == ".tsv" or first_line.count("\t") > first_line.count(",") else ","
    try:
        # pandas' C parser for speed (a 200 MB manifest reads in seconds), everything as text.
        raw_frame = pd.read_csv(io.StringIO(text), sep=delimiter, header=None, dtype=str, na_filter=False,
                                keep_default_na=False, skip_blank_lines=False, engine="c")
    except pd.errors.ParserError:
        # It stops at the first ragged row; the csv module reads on, so every ragged row is reported.
        rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        return _frame_from_rows(rows, name, finding)
    except pd.errors.EmptyDataError:
        return _frame_from_rows([], name, finding)
    return _frame_from_rows(raw_frame, name, finding)


def _frame_from_rows(rows: list[list] | pd.DataFrame, name: str, finding) -> pd.DataFrame:
    """Header checks, trimming and empty -> None, for rows from any reader."""
    if not isinstance(rows, pd.DataFrame):
        width = max((len(r) for r in rows), default=0)
        rows = [list(r) + [None] * (width - len(r)) for r in rows]
    table = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows, dtype=object)
    table = table.astype(object)
    for column in table.columns:
        # A plain comprehension: a 200 MB manifest has tens of millions of cells, and this is
        # several times faster than pandas' .str.strip() (which maps a lambda per cell).
        trimmed = [(v.strip() or None) if isinstance(v, str) else (None if v is None or v != v else str(v).strip())
                   for v in table[column].to_numpy()]
        table[column] = pd.Series(trimmed, index=table.index, dtype=object)
    filled = table.notna().any(axis=1).to_numpy()
    last = int(filled.nonzero()[0].max()) + 1 if filled.any() else 0
    table = table.iloc[:last]
    if table.empty:
        finding("manifest.empty", "the file has no header row: the first row must hold the property names")
        return pd.DataFrame()
    header = ["" if c is None else str(c) for c in table.iloc[0].tolist()]
    while header and not header[-1]:
        header.pop()
    width = len(header)
    keep: list[int] = []
    seen: dict[str, int] = {}
    for i, column in enumerate(header):
        if not column:
            finding("manifest.blank_header",
                    f"column {_letter(i)} has no header but holds values: name it or delete it", row=1)
            continue
        if column in seen:
            finding("manifest.duplicate_column", f"column {column!r} appears twice (columns {_letter(seen[column])} "
                    f"and {_letter(i)}); only the first was checked: delete or rename the other", column=column, row=1)
            continue
        seen[column] = i
        keep.append(i)
    body = table.iloc[1:]
    if body.empty:
        finding("manifest.no_rows", "the file has a header but no records", severity="warning")
    if table.shape[1] > width:
        extra = body.iloc[:, width:].notna().any(axis=1)
        for offset in extra[extra].index:
            cells = int(body.loc[offset].notna().sum())
            finding("manifest.ragged_row", f"row has more cells ({cells} filled) than the header ({width}): the "
                    "extra cells were ignored; check for an unquoted comma or a shifted row", row=int(offset) + 1)
    # Blank rows are dropped, but the index keeps each row's place: index i is spreadsheet row i + 2.
    body = body[body.notna().any(axis=1)]
    frame = pd.DataFrame({header[i]: body.iloc[:, i].to_numpy(dtype=object) for i in keep}, dtype=object,
                         index=pd.Index(body.index - 1, dtype="int64"))
    return frame


def _read_xlsx(path: Path, name: str, finding) -> tuple[list[list], str | None]:
    from openpyxl import load_workbook  # heavy; only when a workbook is read

    try:
        # A file object, not the path: openpyxl refuses a workbook whose name does not end in .xlsx.
        with path.open("rb") as handle:
            workbook = load_workbook(io.BytesIO(handle.read()), data_only=False)
    except Exception as exc:  # openpyxl raises many types for a broken zip/xml
        raise ManifestReadError(f"{name}: cannot read the workbook ({type(exc).__name__}); re-save it from Excel "
                                "as .xlsx or export CSV") from exc
    stem = path.stem.lower()
    sheet = next((ws for ws in workbook.worksheets if ws.title.lower() == stem), None)
    if sheet is None:
        names = {n.lower() for n in component_names()}
        sheet = next((ws for ws in workbook.worksheets if ws.title.lower() in names), workbook.worksheets[0])
    for merged in sheet.merged_cells.ranges:
        finding("manifest.merged_cells", f"cells {merged.coord} are merged: unmerge them and fill every cell "
                "(only the first cell of a merged range holds a value)", row=merged.min_row)
    rows: list[list] = []
    for row in sheet.iter_rows():
        values = []
        for cell in row:
            value = cell.value
            if cell.data_type == "f" or (isinstance(value, str) and value.startswith("=")):
                finding("manifest.formula", f"cell {cell.coordinate} holds a formula: replace it by its value "
                        "(copy, paste values)", row=cell.row)
                value = None
            values.append(_xlsx_text(value))
        rows.append(values)
    return rows, sheet.title


def _xlsx_text(value: object) -> str | None:
    """Excel stores every number as a float: whole numbers read as integers (42, not 42.0)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _component(path: Path, frame: pd.DataFrame, name: str, finding, sheet: str | None) -> str | None:
    by_name = find_component(path.stem) or (find_component(sheet) if sheet else None)
    if by_name:
        return by_name.name
    if COMPONENT_COLUMN in frame:
        values = sorted(set(frame[COMPONENT_COLUMN].dropna()))
        if len(values) == 1 and find_component(values[0]):
            return find_component(values[0]).name  # type: ignore[union-attr]
        if len(values) > 1:
            finding("manifest.mixed_components", f"the {COMPONENT_COLUMN} column holds {len(values)} different "
                    "components: put each component in its own file", column=COMPONENT_COLUMN)
            return None
        if values:
            finding("manifest.unknown_component", f"{COMPONENT_COLUMN} {values[0][:40]!r} is not an HTAN2 component; "
                    f"known: {', '.join(component_names())}", column=COMPONENT_COLUMN)
            return None
    if not frame.empty or len(frame.columns):
        finding("manifest.unknown_component", "cannot tell which component this is: name the file after it "
                f"(e.g. Demographics.csv) or add a {COMPONENT_COLUMN} column; known: {', '.join(component_names())}")
    return None


def _letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def manifest_paths(paths: list[str | Path | tuple[Path, str]]) -> list[tuple[Path, str]]:
    """Expand directories into their manifests; each with the name a report shows (relative to
    the directory given, or the path as given; a ``(path, name)`` pair keeps its name)."""
    out: list[tuple[Path, str]] = []
    for given in paths:
        if isinstance(given, tuple):
            out.append((Path(given[0]), given[1]))
            continue
        path = Path(given)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                if child.is_file() and child.suffix.lower() in SUFFIXES and not child.name.startswith((".", "~$")):
                    out.append((child, str(child.relative_to(path))))
        else:
            out.append((path, str(given)))
    return out
