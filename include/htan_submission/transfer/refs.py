"""Manifest rows -> FILENAME references, for the CLI (the planner itself takes plain references).

``htan_submission.manifests`` reads CSV/TSV/XLSX and recognises each manifest's component; a
small CSV/TSV reader (component from a ``Component`` column) stands in where that package is
missing. Rows are numbered as a spreadsheet shows them (header = 1).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path

from htan_submission.transfer.plan import FileRef

FILENAME_COLUMNS = ("FILENAME", "Filename", "filename")
CHECKSUM_COLUMNS = ("CHECKSUM", "Checksum", "MD5", "md5")
COMPONENT_COLUMNS = ("Component", "COMPONENT", "component")


def refs_from_rows(manifest: str, component: str | None, rows: Iterable[Mapping[str, object]],
                   row_numbers: Iterable[int] | None = None) -> list[FileRef]:
    """One reference per row that names a FILENAME; rows are numbered 2, 3, ... unless the
    reader says otherwise (it may have dropped blank rows)."""
    refs: list[FileRef] = []
    numbers = iter(row_numbers) if row_numbers is not None else None
    for index, row in enumerate(rows):
        number = next(numbers) if numbers is not None else index + 2
        filename = _first(row, FILENAME_COLUMNS)
        if not filename:
            continue
        refs.append(FileRef(component=component or _first(row, COMPONENT_COLUMNS), manifest=manifest,
                            row=number, filename=filename, md5=_first(row, CHECKSUM_COLUMNS)))
    return refs


def read_refs(path: str | Path, name: str | None = None) -> list[FileRef]:
    """The references of one manifest file."""
    path = Path(path)
    name = name or path.name
    try:
        from htan_submission.manifests import read_manifest  # the project's reader, when present
    except ImportError:
        read_manifest = None
    if read_manifest is not None:
        manifest = read_manifest(path, display_name=name)
        return refs_from_rows(name, manifest.component, manifest.frame.to_dict("records"),
                              row_numbers=[manifest.row_number(i) for i in manifest.frame.index])
    if path.suffix.lower() not in (".csv", ".tsv"):
        raise ValueError(f"{name}: only CSV and TSV manifests can be read without htan_submission.manifests")
    with path.open(newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ","))
    return refs_from_rows(name, None, rows)


def _first(row: Mapping[str, object], columns: tuple[str, ...]) -> str | None:
    for column in columns:
        value = row.get(column)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None
