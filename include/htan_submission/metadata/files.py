"""File-based metadata: typed annotations on each data file, from its validated manifest row.

New files get their annotations when the transfer creates them (one atomic
``POST /entity/bundle2/create``, from ``FileRef.annotations``); files that already exist (a re-run,
corrected metadata) get them through :func:`attach_file_annotations`, an explicit
``PUT /entity/{id}/annotations2`` that raises on failure, never synapseclient's ``store`` which
only logs a refused annotation. A row whose annotations cannot fit Synapse's limits gets no
FileRef at all: nothing is written for it, and the finding says why.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from htan_submission.datamodel import find_component
from htan_submission.datamodel.compiler import compile_component
from htan_submission.findings import Finding
from htan_submission.manifests import Manifest
from htan_submission.metadata.annotations import Annotations, annotation_findings, plain, row_annotations
from htan_submission.synapse import records as api
from htan_submission.synapse.files import SynapseFiles
from htan_submission.synapse.rest import http_status
from htan_submission.transfer.folders import component_folder
from htan_submission.transfer.keys import entity_name
from htan_submission.transfer.plan import FileRef
from htan_submission.transfer.refs import refs_from_rows

log = logging.getLogger(__name__)


def file_refs_with_annotations(manifests: Iterable[Manifest]) -> tuple[list[FileRef], list[Finding]]:
    """The transfer's FileRefs of every file-based manifest, each with its row's typed
    annotations. Record-based and unrecognised manifests give no refs (they have no data files)."""
    refs: list[FileRef] = []
    findings: list[Finding] = []
    for manifest in manifests:
        component = find_component(manifest.component or "")
        if component is None or component.record_based:
            continue
        compiled = compile_component(component.name)
        for index, record in zip(manifest.frame.index, manifest.frame.to_dict("records"), strict=True):
            number = manifest.row_number(index)
            row = {k: v for k, v in record.items() if isinstance(v, str)}  # absent cells (None/NaN) dropped
            found = refs_from_rows(manifest.name, component.name, [row], row_numbers=[number])
            if not found:
                continue
            annotations, problems = row_annotations(compiled, row)
            if problems:
                findings.extend(annotation_findings(manifest.name, number, component.name, problems))
                continue
            refs.append(replace(found[0], annotations=annotations))
    return refs, findings


def same_annotations(stored: dict, wanted: Annotations) -> bool:
    """Equal as Synapse keeps them: same keys, same types, same value lists."""
    return plain(stored) == plain(wanted) and all(
        str(stored[k].get("type")) == str(v.get("type")) for k, v in wanted.items())


def attach_file_annotations(files: SynapseFiles, entity_id: str, annotations: Annotations) -> bool:
    """Make the entity's annotations exactly ``annotations``; True when written, False when they
    already were. A stale etag (412: someone wrote in between) is re-read and retried once; any
    other refusal raises."""
    current = api.get_annotations(files, entity_id)
    if same_annotations(current.get("annotations") or {}, annotations):
        return False
    try:
        api.put_annotations(files, entity_id, current["etag"], annotations)
    except Exception as exc:
        if http_status(exc) != 412:
            raise
        current = api.get_annotations(files, entity_id)
        api.put_annotations(files, entity_id, current["etag"], annotations)
    return True


@dataclass(frozen=True)
class Located:
    """A FileRef, its target folder (None: none exists) and the File entity the transfer made for
    it (None: not in Synapse)."""

    ref: FileRef
    entity_id: str | None
    folder_id: str | None


def locate_files(files: SynapseFiles, project_id: str, ingest_folder: str,
                 refs: Iterable[FileRef]) -> list[Located]:
    """Find each ref's File entity where the transfer puts it (``<ingest>/<component folder>/<name>``):
    one listing per folder, not one look-up per file."""
    from htan_submission.metadata.records import folder_path_id

    folders: dict[str, tuple[str | None, dict[str, str]]] = {}
    located: list[Located] = []
    for ref in refs:
        module = component_folder(ref.component)
        if module is None:
            located.append(Located(ref, None, None))
            continue
        if module not in folders:
            folder = folder_path_id(files, project_id, f"{ingest_folder}/{module}")
            folders[module] = (folder, {c["name"]: c["id"] for c in files.list_children(folder)} if folder else {})
        folder, children = folders[module]
        located.append(Located(ref, children.get(entity_name(ref.filename)), folder))
    return located


def repair_annotations(files: SynapseFiles, located: Iterable[Located]) -> tuple[dict[str, int], list[Finding]]:
    """Re-attach annotations where the stored ones differ from the manifest's (counts, findings)."""
    counts = {"checked": 0, "repaired": 0, "unchanged": 0, "missing": 0, "failed": 0}
    findings: list[Finding] = []
    for item in located:
        ref = item.ref
        if ref.annotations is None:
            continue
        if item.entity_id is None:
            counts["missing"] += 1
            continue
        counts["checked"] += 1
        try:
            written = attach_file_annotations(files, item.entity_id, ref.annotations)
        except Exception as exc:
            counts["failed"] += 1
            findings.append(Finding(ref.manifest, ref.row, None, "metadata.annotation_failed",
                                    files.scrub(f"Synapse refused the annotations of {item.entity_id} "
                                                f"({ref.filename}): {exc}"), component=ref.component))
            continue
        counts["repaired" if written else "unchanged"] += 1
    return counts, findings
