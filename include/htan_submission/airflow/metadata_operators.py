"""Operators of the metadata steps: ``attach_metadata`` and ``verify``; each calls one core
function of ``htan_submission.metadata.batch`` on the batch's manifests staged from S3."""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from htan_submission.airflow.hooks import SynapseHook
from htan_submission.findings import log_findings


class _MetadataOperator(BaseOperator):
    """The center, the batch URL, the schema organization; S3 and Synapse built on first use."""

    template_fields: Sequence[str] = ("center_id", "batch", "release")

    def __init__(self, *, center_id: str, batch: str, aws_conn_id: str = "aws_default",
                 synapse_conn_id: str = SynapseHook.default_conn_name, centers_file: str | None = None,
                 organization: str | None = None, release: str | int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.center_id = center_id
        self.batch = batch
        self.aws_conn_id = aws_conn_id
        self.synapse_conn_id = synapse_conn_id
        self.centers_file = centers_file
        self.organization = organization
        self.release = release  # the run's release (trigger form); None: the center's

    @cached_property
    def s3(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id).get_conn()

    @cached_property
    def synapse(self):
        from htan_submission.synapse.files import SynapseFiles

        hook = SynapseHook(synapse_conn_id=self.synapse_conn_id)
        return SynapseFiles.login(hook.target(), hook.cache_dir)

    def _run(self, step):
        """Stage the manifests, read them, run ``step(files, center, manifests, organization)``."""
        import tempfile

        from htan_submission.config import get_center
        from htan_submission.metadata.batch import read_manifests
        from htan_submission.metadata.records import ORGANIZATION
        from htan_submission.staging import stage_batch

        center = get_center(self.center_id, self.centers_file).for_release(self.release)
        with tempfile.TemporaryDirectory() as work:
            staged = stage_batch(self.s3, self.batch, work)
            manifests, findings = read_manifests(staged.manifests)
            organization = self.organization or os.environ.get("HTAN_SCHEMA_ORGANIZATION") or ORGANIZATION
            return staged.url, findings, step(self.synapse, center, manifests, organization)


class AttachMetadataOperator(_MetadataOperator):
    """Upserts the batch's record manifests into their RecordSets and re-attaches annotations on
    transferred files whose stored annotations differ from their manifest row. Returns counts and
    ids; a finding of severity error fails the task without retries (a person must act)."""

    ui_color = "#d5f5e3"

    def execute(self, context: Any) -> dict:
        from htan_submission.metadata.batch import attach_batch

        url, read_findings, result = self._run(
            lambda files, center, manifests, org: attach_batch(files, center, manifests, organization=org))
        result.findings[:0] = read_findings
        for record in result.record_sets:
            self.log.info("%s: RecordSet %s v%s (%s added, %s updated, %s unchanged)", record.component,
                          record.record_set_id, record.version, record.added, record.updated, record.unchanged)
        self.log.info("files of %s: %s", url, result.files)
        log_findings(self.log, result.findings)
        summary = {"batch": url, "record_sets": [r.to_dict() for r in result.record_sets], "files": result.files,
                   "bindings": len(result.bindings),
                   "errors": sum(f.severity == "error" for f in result.findings)}
        if summary["errors"]:
            raise AirflowFailException(f"{summary['errors']} metadata error(s) attaching {url}")
        return summary


class VerifySubmissionOperator(_MetadataOperator):
    """Reads back every annotation set and asks Synapse's schema validation of every file and
    RecordSet; writes ``verify.json``/``verify.html`` into the run's report folder. Invalid items
    fail the task without retries."""

    template_fields: Sequence[str] = ("center_id", "batch", "release")
    ui_color = "#d4e6f1"

    def __init__(self, *, deadline_s: float = 600.0, interval_s: float = 5.0, **kwargs: Any):
        super().__init__(**kwargs)
        self.deadline_s = deadline_s
        self.interval_s = interval_s

    def execute(self, context: Any) -> dict:
        from htan_submission.metadata.batch import verify_batch
        from htan_submission.reports.batch import run_report_dir, write_reports

        url, read_findings, report = self._run(
            lambda files, center, manifests, org: verify_batch(files, center, manifests, deadline_s=self.deadline_s,
                                                               interval_s=self.interval_s))
        report.extend(read_findings)
        out = run_report_dir(context["dag"].dag_id, context["run_id"])
        write_reports(report, f"Verification of {url} in Synapse", json_path=out / "verify.json",
                      html_path=out / "verify.html")
        summary = report.summary()
        self.log.info("verify %s: %s checked, %s valid, %s invalid, %s not validated; report: %s", url,
                      summary["checked"], summary["valid"], summary["invalid"], summary["not_validated"], out)
        log_findings(self.log, report.sorted_findings())
        if report.errors:
            raise AirflowFailException(f"{report.errors} verification error(s) for {url}: see {out}/verify.html")
        return {"batch": url, "report": str(out / "verify.json"), "html": str(out / "verify.html"),
                "checked": summary["checked"], "valid": summary["valid"], "invalid": summary["invalid"],
                "not_validated": summary["not_validated"], "errors": summary["errors"]}
