"""The scrub step for a batch in S3: PHI in its manifests (found, ages capped when the center's
policy says so) and in its image headers (removed in place in S3, by ranged reads and
server-side copies). What the DAG's ``scrub`` task and ``htan-submit scrub-batch`` run.

Tables are never rewritten to guess a date: a date or identifier in a manifest is an error the
center fixes (``htan-submit scrub-table`` converts dates with the private birth-date file).
Ages over 89 are capped only under ``age_policy: cap``, and every capped cell is reported.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from htan_submission.findings import Finding, Report
from htan_submission.manifests import read_manifest
from htan_submission.phi.ages import CAP_DAYS, cap_value, over_cap_cells
from htan_submission.phi.images.s3_scrub import scrub_s3_prefix
from htan_submission.phi.scrub_table import write_table
from htan_submission.phi.tables import scan_manifest
from htan_submission.staging import StagedBatch, upload_file


@dataclass
class BatchScrub:
    tables: Report
    images: Report

    @property
    def blocking(self) -> list[Finding]:
        """What a person must fix before sign-off: PHI left in a table, an image not cleaned."""
        return [f for f in self.tables.findings + self.images.findings if f.severity == "error"]

    def summary(self) -> dict:
        return {"tables": self.tables.summary(), "images": self.images.summary(),
                "blocking": len(self.blocking)}


def scrub_batch(s3, staged: StagedBatch, *, age_policy: str = "flag") -> BatchScrub:
    tables = Report()
    capped_files = 0
    for path, name in staged.manifests:
        manifest = read_manifest(path, display_name=name)
        tables.inputs.append(name)
        findings = scan_manifest(manifest, age_policy=age_policy, include_read_findings=False)
        if age_policy == "cap":
            cells = over_cap_cells(manifest.frame)
            if cells:
                frame = manifest.frame.copy()
                for position, column, value, unit in cells:
                    frame.iat[position, frame.columns.get_loc(column)] = cap_value(value, unit)
                with tempfile.TemporaryDirectory() as work:
                    local = Path(work) / Path(name).name
                    write_table(frame, local)
                    upload_file(s3, staged.batch, local, name)
                capped_files += 1
                findings = [f if f.rule != "phi.age_over_89" else
                            Finding(file=f.file, row=f.row, column=f.column, rule="phi.age_capped", severity="warning",
                                    component=f.component, message=f"an age over 89 years was capped to {CAP_DAYS} "
                                    "days in the uploaded manifest (center policy: cap)")
                            for f in findings]
        tables.extend(findings)
    tables.extra.update({"age_policy": age_policy, "manifests_capped": capped_files})
    images = scrub_s3_prefix(s3, staged.batch.bucket, staged.batch.prefix)
    return BatchScrub(tables=tables, images=images)
