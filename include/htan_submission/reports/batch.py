"""Write a step's report next to the batch: JSON (machines), CSV (spreadsheets), HTML (people)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from htan_submission.findings import Report


def atomic_write(path: str | Path, text: str) -> None:
    """Write via a temp file and rename, so a reader never sees half a report."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(report: Report, title: str, *, json_path: str | Path | None = None,
                  csv_path: str | Path | None = None, html_path: str | Path | None = None) -> None:
    if json_path:
        atomic_write(json_path, report.to_json() + "\n")
    if csv_path:
        atomic_write(csv_path, report.to_csv())
    if html_path:
        from htan_submission.reports.html import Section, render_batch_report

        atomic_write(html_path, render_batch_report(title=title, sections=[Section(title=title, report=report)]))


REPORTS_DIR_ENV = "HTAN_REPORTS_DIR"


def reports_root() -> Path:
    """Where runs keep their reports: ``$HTAN_REPORTS_DIR``, else ``$AIRFLOW_HOME/htan-reports``
    (the report plugin serves this folder)."""
    if os.environ.get(REPORTS_DIR_ENV):
        return Path(os.environ[REPORTS_DIR_ENV])
    return Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow") / "htan-reports"


def run_report_dir(dag_id: str, run_id: str, root: Path | None = None) -> Path:
    """One folder per run; the run id made safe as a path segment. ``root`` for a reports folder
    other than this process's (the demo and the tests reading what Airflow wrote)."""
    safe = "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in run_id)
    return (root or reports_root()) / dag_id / safe
