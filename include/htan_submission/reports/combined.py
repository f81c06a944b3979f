"""The batch report a liaison reads: every step's findings of one run in one HTML file.

Built from the step reports already in the run's folder (``validation.json``,
``phi_tables.json``, ``phi_images.json``, later ``transfer``/``verify``), so any step can be
re-run and the report rebuilt from what is on disk.
"""

from __future__ import annotations

import json
from pathlib import Path

from htan_submission.findings import Finding, Report
from htan_submission.reports.batch import atomic_write
from htan_submission.reports.html import AuditEntry, Section, render_batch_report

AUDIT_FILE = "signoff_audit.json"
STEPS = (("validation.json", "Validation"), ("phi_tables.json", "PHI in the manifests"),
         ("phi_images.json", "Image headers"), ("transfer.json", "Transfer"), ("verify.json", "Verification"))


def load_report(path: Path) -> Report:
    data = json.loads(path.read_text())
    summary = data.get("summary", {})
    known = {"inputs", "errors", "warnings", "by_rule", "by_file"}
    return Report(findings=[Finding(**f) for f in data.get("findings", [])],
                  inputs=[""] * int(summary.get("inputs", 0)),
                  extra={k: v for k, v in summary.items() if k not in known})


def write_audit(run_dir: Path, rows: list[AuditEntry]) -> Path:
    """Keep the sign-off's audit rows in the run folder, so every later rebuild of the report
    (the summary's, a re-run's) shows who decided what, and when."""
    path = run_dir / AUDIT_FILE
    atomic_write(path, json.dumps([row._asdict() for row in rows], indent=2, default=str) + "\n")
    return path


def load_audit(run_dir: Path) -> list[AuditEntry] | None:
    path = run_dir / AUDIT_FILE
    if not path.exists():
        return None
    return [AuditEntry(**row) for row in json.loads(path.read_text())]


def write_batch_report(run_dir: Path, *, title: str, audit: list[AuditEntry] | None = None) -> tuple[Path, dict]:
    """``report.html`` in the run folder; returns it with the counts the liaison's message shows.
    The audit trail is ``audit``, else the one the sign-off kept in the folder, if any."""
    if audit is None:
        audit = load_audit(run_dir)
    sections, counts = [], {}
    for name, step in STEPS:
        path = run_dir / name
        if path.exists():
            report = load_report(path)
            sections.append(Section(title=step, report=report))
            counts[step] = {"errors": report.errors, "warnings": report.warnings}
    html = run_dir / "report.html"
    atomic_write(html, render_batch_report(title=title, sections=sections, audit=audit))
    return html, counts
