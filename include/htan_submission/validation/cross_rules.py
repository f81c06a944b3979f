"""The DCC's release checks across manifests (HTAN.md, "Checks the DCC runs at release time"),
run before upload instead of weeks later.

Each rule looks at the whole batch (and, when given, what Synapse already holds): keys present
and unique, one Demographics per participant, every participant and parent resolvable by level,
ChannelMetadata for Multiplex Microscopy Level 2, every FILENAME present, safe, big enough and
of the format it claims. Findings carry the manifest row of the reference that is wrong.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import pandas as pd

from htan_submission.datamodel.compiler import TEXT, CompiledComponent
from htan_submission.findings import Finding, show_value
from htan_submission.manifests import Manifest

PARTICIPANT = re.compile(r"^(HTA2[0-2][0-9]|HTA[1-9]|HTA1[0-6])_(0000|EXT[0-9]{1,18}|[0-9]{1,21})$")
BIOSPECIMEN = re.compile(r"^(?P<participant>.+)_B[0-9]{1,20}$")
DATA_FILE = re.compile(r"^(?P<participant>.+)_D[0-9]{1,20}$")
MB = 1_000_000
# HTAN.md's size floors: sequencing, image and gzip files over 1 MB; tables over 100 bytes.
LARGE_SUFFIXES = (".fastq", ".fq", ".bam", ".cram", ".tif", ".tiff", ".svs", ".ndpi", ".qptiff", ".btf", ".tf2",
                  ".tf8", ".gz", ".imzml")
TABLE_SUFFIXES = (".csv", ".tsv", ".txt")
# FILE_FORMAT values (the schemas' own tokens) -> filename endings that agree with them.
FORMAT_ENDINGS = {
    "fastq": (".fastq", ".fq"), "fastq.gz": (".fastq.gz", ".fq.gz"),
    "tiff": (".tif", ".tiff"), "tif": (".tif", ".tiff"),
    "ome-tiff": (".ome.tif", ".ome.tiff", ".ome.tf2", ".ome.tf8", ".ome.btf"),
    "ome.tiff": (".ome.tif", ".ome.tiff"), "ome.tif": (".ome.tif", ".ome.tiff"),
}
DEFAULT_SEVERITY = {"cross.file_small": "warning"}


@dataclass
class ManifestTable:
    """A manifest that was read and whose component compiled: what cross rules work on."""

    manifest: Manifest
    compiled: CompiledComponent

    @property
    def component(self) -> str:
        return self.compiled.name

    def converted(self, column: str) -> pd.Series:
        """A column's well-typed, present cells converted by the cell convention (index = frame
        index), converting each distinct text once: a million-row manifest has few."""
        frame = self.manifest.frame
        if column not in frame.columns:
            return pd.Series([], dtype=object)
        present = frame[column].dropna()
        if self.compiled.cell_types.get(column) == TEXT:
            return present  # text converts to itself
        codes, uniques = pd.factorize(present)
        values = np.empty(len(uniques), dtype=object)
        ok = np.zeros(len(uniques), dtype=bool)
        for i, text in enumerate(uniques):
            values[i], ok[i] = self.compiled.convert(column, text)
        keep = ok[codes]
        return pd.Series(values[codes[keep]], index=present.index[keep], dtype=object)

    def values(self, column: str) -> Iterator[tuple[int, object]]:
        """(spreadsheet row, converted value) of a column's well-typed, present cells."""
        for index, value in self.converted(column).items():
            yield int(index) + 2, value

    def unique_values(self, column: str) -> set:
        return {v for v in self.converted(column) if isinstance(v, str)}

    def outside(self, column: str, known: set) -> Iterator[tuple[int, object]]:
        """Rows whose (text) value is not in ``known``: vectorised, only the misses come back."""
        series = self.converted(column)
        misses = series[~series.isin(known)]
        for index, value in misses.items():
            yield int(index) + 2, value


@dataclass
class BatchFiles:
    """The data files of a batch: path relative to the batch root -> size in bytes."""

    sizes: dict[str, int]
    root: str = "the batch"


@dataclass
class SynapseContext:
    """IDs Synapse already holds for this center (earlier batches): references may point there."""

    participants: set[str] = field(default_factory=set)
    biospecimens: set[str] = field(default_factory=set)
    data_file_ids: set[str] = field(default_factory=set)
    panels: set[str] = field(default_factory=set)


def safe_relative(filename: str) -> str | None:
    """The normalised relative path, or None when it is absolute or escapes the batch root."""
    if filename.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", filename) or "\\" in filename:
        return None
    parts = PurePosixPath(filename).parts
    if ".." in parts or not parts:
        return None
    return str(PurePosixPath(*[p for p in parts if p != "."]))


def cross_findings(tables: list[ManifestTable], files: BatchFiles | None = None,
                   synapse: SynapseContext | None = None) -> list[Finding]:
    synapse = synapse or SynapseContext()
    out: list[Finding] = []

    def add(table: ManifestTable, row: int | None, column: str | None, rule: str, message: str) -> None:
        out.append(Finding(file=table.manifest.name, row=row, column=column, rule=rule, message=message,
                           component=table.component, severity=DEFAULT_SEVERITY.get(rule, "error")))

    by_component: dict[str, list[ManifestTable]] = defaultdict(list)
    for table in tables:
        by_component[table.component].append(table)

    _keys(tables, by_component, add)
    participants = set().union(*(t.unique_values("HTAN_PARTICIPANT_ID") for t in by_component.get("Demographics", [])))
    participants |= synapse.participants
    biospecimens = set().union(*(t.unique_values("HTAN_BIOSPECIMEN_ID")
                                 for t in by_component.get("BiospecimenData", [])))
    biospecimens |= synapse.biospecimens
    file_ids = set().union(*(t.unique_values("HTAN_DATA_FILE_ID") for t in tables
                             if not t.compiled.component.record_based))
    file_ids |= synapse.data_file_ids

    _data_file_ids(tables, synapse, add)
    _participants(tables, participants, add)
    _parents(tables, participants, biospecimens, file_ids, add)
    _channel_metadata(by_component, synapse, add)
    if files is not None:
        _files(tables, files, add)
    else:
        _filenames_safe(tables, add)
    return out


def _keys(tables, by_component, add) -> None:
    """Key columns unique across every manifest of a component (vectorised: pandas.duplicated)."""
    for component, group in by_component.items():
        key = list(group[0].compiled.component.key)
        parts = [t.manifest.frame[key].assign(src_file=t.manifest.name, src_row=t.manifest.frame.index + 2)
                 for t in group if all(c in t.manifest.frame.columns for c in key)]
        if not parts:
            continue  # schema.required reports the missing key column
        rows = pd.concat(parts).dropna(subset=key)  # an empty key cell is schema.required's
        later = rows[rows.duplicated(subset=key, keep="first")]
        if later.empty:
            continue
        first = rows.drop_duplicates(subset=key, keep="first").set_index(key)[["src_file", "src_row"]]
        rule = "cross.demographics_duplicate" if component == "Demographics" else "cross.key_duplicate"
        owner = {t.manifest.name: t for t in group}
        for record in later.itertuples(index=False):
            values = tuple(getattr(record, c) for c in key) if len(key) > 1 else getattr(record, key[0])
            where_file, where_row = first.loc[values].tolist()
            at = f"row {where_row}" + ("" if where_file == record.src_file else f" of {where_file}")
            shown = ", ".join(f"{c}={show_value(getattr(record, c))}" for c in key)
            add(owner[record.src_file], int(record.src_row), key[0], rule,
                f"{shown} already appears in {at}: each {component} record needs a unique "
                f"{' + '.join(key)}; merge or remove the duplicate")


def _data_file_ids(tables, synapse: SynapseContext, add) -> None:
    seen: dict[str, tuple[str, int, str]] = {}
    for table in tables:
        if table.compiled.component.record_based:
            continue
        for row, value in table.values("HTAN_DATA_FILE_ID"):
            if value in synapse.data_file_ids:
                add(table, row, "HTAN_DATA_FILE_ID", "cross.data_file_id_exists",
                    f"{show_value(value)} is already used by a file in Synapse: data file IDs are unique across "
                    "HTAN; give this file a new ID (or replace the existing file on purpose)")
            where = seen.setdefault(value, (table.manifest.name, row, table.component))
            # Within one component the key check already reports it; here only across components.
            if where[2] != table.component:
                add(table, row, "HTAN_DATA_FILE_ID", "cross.data_file_id_duplicate",
                    f"{show_value(value)} is also used in row {where[1]} of {where[0]}: give each file its own ID")


def _participants(tables, participants: set[str], add) -> None:
    for table in tables:
        if table.component == "Demographics":
            continue
        for row, value in table.outside("HTAN_PARTICIPANT_ID", participants):
            add(table, row, "HTAN_PARTICIPANT_ID", "cross.participant_unknown",
                f"participant {show_value(value)} has no Demographics record in this batch or in Synapse: "
                "add a Demographics row for them")
        for row, value in table.values("HTAN_BIOSPECIMEN_ID"):
            match = BIOSPECIMEN.match(value)
            if match and match["participant"] not in participants:
                add(table, row, "HTAN_BIOSPECIMEN_ID", "cross.participant_unknown",
                    f"biospecimen {show_value(value)} belongs to participant {show_value(match['participant'])}, "
                    "who has no Demographics record in this batch or in Synapse: add one")


def _parents(tables, participants: set[str], biospecimens: set[str], file_ids: set[str], add) -> None:
    for table in tables:
        component = table.compiled.component
        if component.name == "BiospecimenData":
            allowed, wanted = participants | biospecimens, "a participant or a biospecimen"
        elif not component.record_based and component.level is not None:
            if component.level == 1 or (component.imaging and component.level == 2):
                allowed, wanted = biospecimens, "a biospecimen (HTAN_BIOSPECIMEN_ID)"
            else:
                allowed, wanted = file_ids, "a data file of a lower level (HTAN_DATA_FILE_ID)"
        else:
            continue
        for row, value in table.values("HTAN_PARENT_ID"):
            for parent in value if isinstance(value, list) else [value]:
                if parent in allowed:
                    continue
                known_elsewhere = parent in (participants | biospecimens | file_ids)
                rule = "cross.parent_wrong_level" if known_elsewhere else "cross.parent_unresolved"
                detail = "exists but is the wrong kind" if known_elsewhere else "is not in this batch or in Synapse"
                add(table, row, "HTAN_PARENT_ID", rule,
                    f"parent {show_value(parent)} {detail}: a {component.name} parent must be {wanted}")


def _channel_metadata(by_component, synapse: SynapseContext, add) -> None:
    level2 = by_component.get("MultiplexMicroscopyLevel2", [])
    if not level2:
        return
    panels = {v for t in by_component.get("ChannelMetadata", []) for _, v in t.values("HTAN_PANEL_ID")}
    panels |= synapse.panels
    for table in level2:
        for row, value in table.outside("HTAN_PANEL_ID", panels):
            add(table, row, "HTAN_PANEL_ID", "cross.channel_metadata_missing",
                f"panel {show_value(value)} has no ChannelMetadata in this batch or in Synapse: submit the "
                "panel's ChannelMetadata with (or before) its Level 2 images, with the same HTAN_PANEL_ID")


def _filenames(tables) -> Iterator[tuple[ManifestTable, int, str, str | None]]:
    for table in tables:
        if table.compiled.component.record_based:
            continue
        for row, value in table.values("FILENAME"):
            yield table, row, value, safe_relative(value)


def _filenames_safe(tables, add) -> None:
    for table, row, _name, relative in _filenames(tables):
        if relative is None:
            add(table, row, "FILENAME", "cross.unsafe_filename", _UNSAFE)


_UNSAFE = ("FILENAME must be a path relative to the batch root (no leading '/', no '..', forward slashes): "
           "it was refused so nothing outside the batch can be read or uploaded")


def _files(tables, files: BatchFiles, add) -> None:
    for table, row, name, relative in _filenames(tables):
        if relative is None:
            add(table, row, "FILENAME", "cross.unsafe_filename", _UNSAFE)
            continue
        if relative not in files.sizes:
            add(table, row, "FILENAME", "cross.file_missing",
                f"{show_value(name)} is not in {files.root}: upload it, or fix the path (relative to the batch root)")
            continue
        size, lowered = files.sizes[relative], relative.lower()
        if size == 0:
            add(table, row, "FILENAME", "cross.file_empty", f"{show_value(name)} is empty (0 bytes): re-export it")
        elif lowered.endswith(LARGE_SUFFIXES) and size <= MB:
            add(table, row, "FILENAME", "cross.file_small",
                f"{show_value(name)} is only {size:,} bytes; files of this kind are expected over 1 MB: check it is "
                "complete")
        elif lowered.endswith(TABLE_SUFFIXES) and size <= 100:
            add(table, row, "FILENAME", "cross.file_small",
                f"{show_value(name)} is only {size} bytes; a table is expected over 100 bytes: check it is complete")
    _formats(tables, add)


def _formats(tables, add) -> None:
    for table in tables:
        if "FILE_FORMAT" not in table.manifest.frame.columns or "FILENAME" not in table.manifest.frame.columns:
            continue
        pairs = pd.DataFrame({"name": table.manifest.frame["FILENAME"], "format": table.manifest.frame["FILE_FORMAT"]})
        for index, name, file_format in pairs.dropna().itertuples(name=None):
            endings = FORMAT_ENDINGS.get(file_format.lower(), ("." + file_format.lower(),))
            if not name.lower().endswith(endings):
                add(table, int(index) + 2, "FILE_FORMAT", "cross.format_mismatch",
                    f"FILE_FORMAT {show_value(file_format)} does not match the file name's extension "
                    f"({show_value(PurePosixPath(name).name)}): expected a name ending in {' or '.join(endings)}")
