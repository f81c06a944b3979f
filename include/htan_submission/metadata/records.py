"""Record-based metadata: upsert a record manifest (Clinical, Biospecimen, ...) into its
component's RecordSet in the center's ``v<N>_ingest/<component folder>``.

A RecordSet is a CSV file entity with an ``upsertKey``; Synapse stores whatever CSV it is given,
so the upsert is ours: read the current CSV, merge by the key (new rows appended, changed rows
replaced where they stand, the rest untouched) and store a new version *only* when something
changed. Re-running a batch therefore changes nothing, and a corrected row is updated in place.
The CSV has the schema's properties as columns, in the schema's order, so it reads the same
whichever batch wrote it. The component's registered schema is bound to the RecordSet so that
Synapse validates every row.
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass

from htan_submission.config import Center
from htan_submission.datamodel import Component, get_component
from htan_submission.findings import Finding
from htan_submission.manifests import Manifest
from htan_submission.synapse import records as api
from htan_submission.synapse import schemas
from htan_submission.synapse.files import NameConflict, SynapseFiles
from htan_submission.synapse.rest import http_status

ORGANIZATION = "HTAN2Organization"


@dataclass
class RecordSetResult:
    component: str
    record_set_id: str
    version: int
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    created: bool = False
    schema_id: str | None = None
    schema_bound: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.created)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Merged:
    header: list[str]
    rows: list[dict[str, str]]
    added: int
    updated: int
    unchanged: int
    header_changed: bool

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.header_changed)


def schema_id(component: Component, organization: str = ORGANIZATION) -> str:
    """``<organization>-<Component>-<version>``: the id the DCC registers the component under."""
    return f"{organization}-{component.name}-{component.version}"


def record_set_name(component: Component) -> str:
    return component.name


def columns_of(component: Component) -> list[str]:
    """The schema's properties, in the schema's order."""
    return list(component.schema().get("properties", {}))


def manifest_rows(manifest: Manifest, component: Component) -> tuple[list[dict[str, str]], list[Finding]]:
    """Rows as text keyed by column (absent cells are ``""``), without rows lacking a key cell or
    repeating a key already seen (the first stands: validation reports the duplicate)."""
    rows: list[dict[str, str]] = []
    findings: list[Finding] = []
    seen: set[tuple[str, ...]] = set()
    for index, record in zip(manifest.frame.index, manifest.frame.to_dict("records"), strict=True):
        row = {k: _text(v) for k, v in record.items() if isinstance(k, str)}
        key = tuple(row.get(k, "") for k in component.key)
        number = manifest.row_number(index)
        if not all(key):
            findings.append(Finding(manifest.name, number, None, "metadata.record_key_missing",
                                    f"no value for the RecordSet key {', '.join(component.key)}; the row was not "
                                    "stored", component=component.name))
        elif key in seen:
            findings.append(Finding(manifest.name, number, None, "metadata.record_key_duplicate",
                                    f"the key {', '.join(component.key)} repeats an earlier row; only the first "
                                    "was stored", component=component.name))
        else:
            seen.add(key)
            rows.append(row)
    return rows, findings


def _text(value: object) -> str:
    """A cell as CSV text: absent (None, or NaN where pandas put one) is empty."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def merge_rows(columns: list[str], key: tuple[str, ...], current_header: list[str],
               current_rows: list[dict[str, str]], new_rows: list[dict[str, str]]) -> Merged:
    """Upsert ``new_rows`` into ``current_rows`` by ``key``. Columns are the schema's, then any
    the current CSV has beyond them (kept, not dropped: another schema version wrote them)."""
    header = list(columns) + [c for c in current_header if c not in columns]
    rows = [{c: row.get(c, "") or "" for c in header} for row in current_rows]
    where = {tuple(row[k] for k in key): i for i, row in enumerate(rows)}
    added = updated = unchanged = 0
    for new in new_rows:
        values = {c: new.get(c, "") or "" for c in columns}
        index = where.get(tuple(values[k] for k in key))
        if index is None:
            where[tuple(values[k] for k in key)] = len(rows)
            rows.append({**{c: "" for c in header}, **values})
            added += 1
        elif all(rows[index][c] == values[c] for c in columns):
            unchanged += 1
        else:
            rows[index] = {**rows[index], **values}
            updated += 1
    return Merged(header, rows, added, updated, unchanged, header_changed=bool(current_header)
                  and header != current_header)


def to_csv(header: list[str], rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def parse_csv(data: bytes) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
    rows = [{k: v or "" for k, v in row.items() if k is not None} for row in reader]
    return list(reader.fieldnames or []), rows


def folder_path_id(files: SynapseFiles, parent_id: str, path: str, create: bool = False) -> str | None:
    """The id of the folder at ``path`` (``a/b/c``) under ``parent_id``; None when a part is
    missing, unless ``create`` (the DCC normally seeds the tree; the transfer creates it too)."""
    current = parent_id
    for name in path.split("/"):
        found = files.child_id(current, name)
        if found is None:
            if not create:
                return None
            found = files.ensure_folder(current, name)
        current = found
    return current


def folder_id(files: SynapseFiles, center: Center, module_path: str) -> str | None:
    """``v<N>_ingest/<module_path>`` of the center (created below an existing ingest folder)."""
    ingest = files.child_id(center.synapse_project_id, center.ingest_folder_name)
    return folder_path_id(files, ingest, module_path, create=True) if ingest else None


def upsert_records(files: SynapseFiles, center: Center, manifest: Manifest, *,
                   organization: str = ORGANIZATION) -> tuple[RecordSetResult | None, list[Finding]]:
    """Upsert one record manifest into its component's RecordSet (created on first use, the
    component's schema bound). None when nothing could be stored (the findings say why)."""
    component = get_component(manifest.component or "")
    if not component.record_based:
        raise ValueError(f"{component.name} is file-based: its metadata are annotations, not a RecordSet")
    rows, findings = manifest_rows(manifest, component)
    parent = folder_id(files, center, component.folder)
    if parent is None:
        findings.append(Finding(manifest.name, None, None, "metadata.no_ingest_folder",
                                f"{center.synapse_project_id} has no {center.ingest_folder_name} folder; the DCC "
                                "creates it", component=component.name))
        return None, findings
    result = _store(files, parent, component, rows)
    wanted = schema_id(component, organization)
    result.schema_id = wanted
    result.schema_bound, problem = ensure_binding(files, result.record_set_id, wanted)
    if problem:
        findings.append(Finding(manifest.name, None, None, problem[0], problem[1], component=component.name))
    return result, findings


def _store(files: SynapseFiles, parent: str, component: Component, rows: list[dict[str, str]]) -> RecordSetResult:
    name = record_set_name(component)
    existing_id = files.child_id(parent, name)
    columns = columns_of(component)
    if existing_id is None:
        merged = merge_rows(columns, component.key, [], [], rows)
        handle = api.upload_bytes(files, to_csv(merged.header, merged.rows), f"{name}.csv")
        try:
            entity = api.create_record_set(files, parent, name, handle, list(component.key),
                                           f"HTAN2 {component.name} records (upsert key: {', '.join(component.key)})")
        except Exception as exc:
            if http_status(exc) != 409:
                raise
            existing_id = files.child_id(parent, name)  # another run created it meanwhile
            if existing_id is None:
                raise NameConflict(name) from None
        else:
            return RecordSetResult(component.name, entity["id"], int(entity.get("versionNumber") or 1),
                                   added=merged.added, created=True)
    return _upsert_existing(files, existing_id, component, columns, rows)


def _upsert_existing(files: SynapseFiles, entity_id: str, component: Component, columns: list[str],
                     rows: list[dict[str, str]]) -> RecordSetResult:
    entity = api.get_entity(files, entity_id)
    if not str(entity.get("concreteType", "")).endswith(".RecordSet"):
        raise RuntimeError(f"{entity_id} ({entity.get('name')}) is not a RecordSet; rename or remove it")
    handle = entity.get("dataFileHandleId")
    header, current = parse_csv(api.download_entity_file(files, entity_id, handle)) if handle else ([], [])
    merged = merge_rows(columns, component.key, header, current, rows)
    key_changed = list(entity.get("upsertKey") or []) != list(component.key)
    result = RecordSetResult(component.name, entity_id, int(entity.get("versionNumber") or 1), added=merged.added,
                             updated=merged.updated, unchanged=merged.unchanged)
    if not merged.changed and not key_changed:
        return result
    body = {**entity, "upsertKey": list(component.key)}
    new_version = merged.changed
    if merged.changed:
        body["dataFileHandleId"] = api.upload_bytes(files, to_csv(merged.header, merged.rows),
                                                    f"{component.name}.csv")
    updated = api.update_entity(files, body, new_version=new_version)
    result.version = int(updated.get("versionNumber") or result.version)
    return result


def ensure_binding(files: SynapseFiles, entity_id: str, wanted: str) -> tuple[bool, tuple[str, str] | None]:
    """Bind ``wanted`` to the entity unless it already applies there. (bound, problem)."""
    if schemas.bound_schema_id(schemas.get_binding(files, entity_id)) == wanted:
        return True, None
    if not schemas.is_registered(files, wanted):
        return False, ("metadata.schema_not_registered",
                       f"the schema {wanted} is not registered in Synapse, so Synapse cannot validate "
                       f"{entity_id}; the DCC registers it (htan-submit model refresh reads what is registered)")
    try:
        schemas.bind(files, entity_id, wanted)
    except Exception as exc:
        if http_status(exc) == 403:
            return False, ("metadata.schema_bind_refused",
                           f"not allowed to bind {wanted} to {entity_id} (needs UPDATE there); ask the DCC to bind it")
        raise
    return True, None
