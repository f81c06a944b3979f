"""Validate a batch: read every manifest, check it against its component's compiled schema, then
run the cross-manifest rules over all of them. One :class:`Report` for the CLI and the DAG."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from htan_submission.datamodel.compiler import compile_component
from htan_submission.findings import Finding, Report
from htan_submission.manifests import ManifestReadError, manifest_paths, read_manifest
from htan_submission.validation.cross_rules import BatchFiles, ManifestTable, SynapseContext, cross_findings
from htan_submission.validation.schema_checks import schema_findings

UNREADABLE = "manifest.unreadable"


def local_files(root: Path) -> BatchFiles:
    """Every file under a local batch directory with its size (the S3 inventory does the same for S3)."""
    return BatchFiles({str(p.relative_to(root)): p.stat().st_size for p in root.rglob("*") if p.is_file()},
                      root=str(root))


def validate_batch(paths: list[str | Path | tuple[Path, str]], *, files: BatchFiles | None = None,
                   synapse: SynapseContext | None = None, severity: dict[str, str] | None = None,
                   components: set[str] | None = None) -> Report:
    """All findings of a batch. ``paths``: manifest files or one batch directory (then FILENAMEs are
    looked up under it unless ``files`` says otherwise). ``components`` limits which are checked."""
    report = Report()
    tables: list[ManifestTable] = []
    rows = 0
    dirs = [Path(p) for p in paths if not isinstance(p, tuple) and Path(p).is_dir()]
    if files is None and len(dirs) == 1:
        files = local_files(dirs[0])
    for path, name in manifest_paths(paths):
        report.inputs.append(name)
        try:
            manifest = read_manifest(path, display_name=name)
        except ManifestReadError as exc:
            report.findings.append(Finding(file=name, row=None, column=None, rule=UNREADABLE, message=str(exc)))
            continue
        report.extend(manifest.findings)
        if manifest.component is None or (components and manifest.component not in components):
            continue
        compiled = compile_component(manifest.component)
        rows += len(manifest.frame)
        report.extend(schema_findings(compiled, manifest.frame, name))
        tables.append(ManifestTable(manifest, compiled))
    report.extend(cross_findings(tables, files, synapse))
    if severity:
        report.findings = [replace(f, severity=severity.get(f.rule, f.severity)) for f in report.findings]
    owner = {t.manifest.name: t.component for t in tables}
    report.findings = [f if f.component or f.file not in owner else replace(f, component=owner[f.file])
                       for f in report.findings]
    report.extra.update({"manifests": len(tables), "rows": rows,
                         "components": sorted({t.component for t in tables}),
                         "unreadable": sum(f.rule == UNREADABLE for f in report.findings)})
    return report
