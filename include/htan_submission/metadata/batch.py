"""A batch's metadata steps, as the DAG and the CLI run them: attach, then verify.

Both take the batch's manifests (already validated) and find what the transfer made in Synapse
by name, so either can be re-run on its own at any time and XCom carries only counts and ids.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from htan_submission.config import Center
from htan_submission.datamodel import find_component, get_component
from htan_submission.findings import Finding, Report
from htan_submission.manifests import Manifest, read_manifest
from htan_submission.metadata.files import file_refs_with_annotations, locate_files, repair_annotations
from htan_submission.metadata.records import (
    ORGANIZATION,
    RecordSetResult,
    folder_path_id,
    record_set_name,
    schema_id,
    upsert_records,
)
from htan_submission.metadata.verify import Item, compare_annotations, ensure_folder_binding, select, validate
from htan_submission.synapse.files import SynapseFiles

log = logging.getLogger(__name__)


def read_manifests(paths: Iterable[tuple[str | Path, str]]) -> tuple[list[Manifest], list[Finding]]:
    """Read (local path, name in the batch) pairs; reading problems become findings."""
    manifests, findings = [], []
    for path, name in paths:
        manifest = read_manifest(path, display_name=name)
        manifests.append(manifest)
        findings.extend(manifest.findings)
    return manifests, findings


def _kind(manifest: Manifest) -> str | None:
    component = find_component(manifest.component or "")
    return None if component is None else component.kind


@dataclass
class AttachResult:
    record_sets: list[RecordSetResult] = field(default_factory=list)
    files: dict[str, int] = field(default_factory=dict)
    bindings: dict[str, str] = field(default_factory=dict)  # folder id -> schema id bound or found
    findings: list[Finding] = field(default_factory=list)

    def report(self) -> Report:
        report = Report(findings=list(self.findings))
        report.extra.update({"record_sets": [r.to_dict() for r in self.record_sets], "files": self.files})
        return report

    def to_dict(self) -> dict:
        return {"record_sets": [r.to_dict() for r in self.record_sets], "files": self.files,
                "bindings": self.bindings, "errors": sum(f.severity == "error" for f in self.findings),
                "findings": [f.to_dict() for f in self.findings]}


def attach_batch(files: SynapseFiles, center: Center, manifests: list[Manifest], *,
                 organization: str = ORGANIZATION) -> AttachResult:
    """Upsert every record manifest into its RecordSet; re-attach annotations on transferred files
    whose stored annotations differ from their manifest row; bind each file component's schema to
    its folder where it is not yet bound."""
    result = AttachResult()
    for manifest in manifests:
        if _kind(manifest) != "record":
            continue
        upserted, findings = upsert_records(files, center, manifest, organization=organization)
        result.findings.extend(findings)
        if upserted is not None:
            result.record_sets.append(upserted)
            log.info("%s: RecordSet %s v%s (%s added, %s updated, %s unchanged)", manifest.name,
                     upserted.record_set_id, upserted.version, upserted.added, upserted.updated, upserted.unchanged)
    refs, findings = file_refs_with_annotations(manifests)
    result.findings.extend(findings)
    located = locate_files(files, center.synapse_project_id, center.ingest_folder_name, refs)
    result.files, findings = repair_annotations(files, located)
    result.findings.extend(findings)
    for folder, component in sorted({(i.folder_id, i.ref.component) for i in located if i.folder_id}):
        wanted = schema_id(get_component(component), organization)
        problem = ensure_folder_binding(files, folder, wanted)
        if problem:
            result.findings.append(problem)
        else:
            result.bindings[folder] = wanted
    return result


def verify_batch(files: SynapseFiles, center: Center, manifests: list[Manifest], *, deadline_s: float = 120.0,
                 interval_s: float = 1.0, sample: int = 200, sample_above: int = 1000) -> Report:
    """Read back and have Synapse validate what attach left: every File of a file-based manifest
    (annotations equal to the row's, valid against the bound schema) and every RecordSet. The
    schema is whichever Synapse has bound, so no organization is needed here."""
    report = Report(inputs=[m.name for m in manifests])
    items: list[Item] = []
    for manifest in manifests:
        if _kind(manifest) != "record":
            continue
        component = get_component(manifest.component or "")
        path = f"{center.ingest_folder_name}/{component.folder}"
        folder = folder_path_id(files, center.synapse_project_id, path)
        record_set = files.child_id(folder, record_set_name(component)) if folder else None
        if record_set is None:
            report.findings.append(Finding(manifest.name, None, None, "verify.recordset_missing",
                                           f"no RecordSet {record_set_name(component)} in {path}; run attach_metadata",
                                           component=component.name))
            continue
        if all(i.entity_id != record_set for i in items):
            items.append(Item(record_set, f"{path}/{record_set_name(component)}", component=component.name,
                              record_set=True))
    refs, findings = file_refs_with_annotations(manifests)
    report.findings.extend(findings)
    for located in locate_files(files, center.synapse_project_id, center.ingest_folder_name, refs):
        ref = located.ref
        if located.entity_id is None:
            report.findings.append(Finding(ref.manifest, ref.row, "FILENAME", "verify.file_missing",
                                           f"{ref.filename} is not in Synapse; the transfer did not complete it",
                                           component=ref.component))
            continue
        items.append(Item(located.entity_id, ref.manifest, ref.row, ref.component, ref.annotations))
    chosen = select(items, sample=sample, sample_above=sample_above)
    etags, findings = compare_annotations(files, chosen)
    report.findings.extend(findings)
    valid, findings = validate(files, chosen, etags=etags, deadline_s=deadline_s, interval_s=interval_s)
    report.findings.extend(findings)
    report.extra.update({
        "items": len(items), "checked": len(chosen), "record_sets": sum(i.record_set for i in chosen),
        "valid": sum(valid.values()), "invalid": sum(not v for v in valid.values()),
        "not_validated": len(chosen) - len(valid),
    })
    return report
