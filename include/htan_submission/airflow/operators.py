"""Operators of the submission DAG; each calls one core function."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from htan_submission.airflow.hooks import SynapseHook
from htan_submission.findings import log_findings


class CertificationCheckOperator(BaseOperator):
    """Preflight: the submitter is certified, has 2FA on, accepted the ToS, and may upload to the
    center's ingest folder. A failed check fails the task without retries (a person must fix
    it; the log lists how); a Synapse outage raises normally, so Airflow's retries apply."""

    template_fields: Sequence[str] = ("center_id", "release")
    ui_color = "#d6eaf8"

    def __init__(self, *, center_id: str, synapse_conn_id: str = SynapseHook.default_conn_name,
                 centers_file: str | None = None, release: str | int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.center_id = center_id
        self.synapse_conn_id = synapse_conn_id
        self.centers_file = centers_file
        self.release = release  # the run's release (trigger form); None: the center's

    @cached_property
    def hook(self) -> SynapseHook:
        return SynapseHook(synapse_conn_id=self.synapse_conn_id)

    def execute(self, context: Any) -> dict:
        from htan_submission.config import get_center
        from htan_submission.synapse.preflight import run_preflight

        center = get_center(self.center_id, self.centers_file).for_release(self.release)
        report = run_preflight(center, self.hook.target(), cache_dir=self.hook.cache_dir)
        self.log.info("%s", report.summary())
        if not report.passed:
            raise AirflowFailException(report.summary())
        return report.to_dict()


def _run_dir(context: Any):
    from htan_submission.reports.batch import run_report_dir

    return run_report_dir(context["dag"].dag_id, context["run_id"])


class _BatchOperator(BaseOperator):
    """Shared by the steps that read a batch in S3: the center, the batch URL, the S3 hook."""

    template_fields: Sequence[str] = ("center_id", "batch", "release")

    def __init__(self, *, center_id: str, batch: str, aws_conn_id: str = "aws_default",
                 centers_file: str | None = None, release: str | int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.center_id = center_id
        self.batch = batch
        self.aws_conn_id = aws_conn_id
        self.centers_file = centers_file
        self.release = release  # the run's release (trigger form); None: the center's

    def center(self):
        """The center as configured, writing into the run's release."""
        from htan_submission.config import get_center

        return get_center(self.center_id, self.centers_file).for_release(self.release)

    @cached_property
    def s3(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id).get_conn()


class ManifestValidationOperator(_BatchOperator):
    """Validates every manifest of the batch against its HTAN2 JSON Schema (compiled to Pandera)
    and the DCC's cross-manifest rules, and writes the report (JSON, CSV, HTML) where the run
    links it. Errors fail the task without retries: the center fixes the manifests and re-runs."""

    template_fields: Sequence[str] = ("center_id", "batch", "release", "components", "synapse_folder_id")
    ui_color = "#fdebd0"

    def __init__(self, *, components: list[str] | str | None = None, synapse_folder_id: str | None = None,
                 synapse_conn_id: str = SynapseHook.default_conn_name, **kwargs: Any):
        super().__init__(**kwargs)
        self.components = components
        self.synapse_folder_id = synapse_folder_id
        self.synapse_conn_id = synapse_conn_id

    def _existing(self):
        """IDs earlier batches put in Synapse (None without a folder): checked against the batch."""
        if not self.synapse_folder_id:
            return None
        from htan_submission.synapse.existing import existing_ids
        from htan_submission.synapse.files import SynapseFiles

        hook = SynapseHook(synapse_conn_id=self.synapse_conn_id)
        return existing_ids(SynapseFiles.login(hook.target(), hook.cache_dir), self.synapse_folder_id)

    def execute(self, context: Any) -> dict:
        import tempfile

        from htan_submission.reports.batch import write_reports
        from htan_submission.staging import stage_batch
        from htan_submission.validation.batch import validate_batch

        components = self.components
        if isinstance(components, str):
            components = [c.strip() for c in components.split(",") if c.strip()]
        with tempfile.TemporaryDirectory() as work:
            staged = stage_batch(self.s3, self.batch, work)
            report = validate_batch(staged.manifests, files=staged.files, synapse=self._existing(),
                                    components=set(components or []) or None)
        out = _run_dir(context)
        write_reports(report, f"Validation of {staged.url}", json_path=out / "validation.json",
                      csv_path=out / "validation.csv", html_path=out / "validation.html")
        summary = report.summary()
        self.log.info("Validated %s manifest(s), %s row(s): %s error(s), %s warning(s); report: %s",
                      summary["inputs"], summary["rows"], summary["errors"], summary["warnings"], out)
        log_findings(self.log, report.sorted_findings())
        if report.errors:
            raise AirflowFailException(f"{report.errors} validation error(s) in {staged.url}: "
                                       f"see {out}/validation.html")
        return {"batch": staged.url, "report": str(out / "validation.json"), "html": str(out / "validation.html"),
                "manifests": summary["inputs"], "rows": summary["rows"], "errors": summary["errors"],
                "warnings": summary["warnings"], "components": summary["components"]}


class PhiScrubOperator(_BatchOperator):
    """Finds PHI in the batch's manifests (dates, ages over 89, identifiers) and removes PHI from
    its image headers in place in S3 (no image is downloaded). Anything a machine must not fix
    (a date in a table, an image it cannot parse) fails the task without retries; the report says
    where, by file, row, column or tag, never the value."""

    ui_color = "#f5b7b1"

    def execute(self, context: Any) -> dict:
        import tempfile

        from htan_submission.phi.batch import scrub_batch
        from htan_submission.reports.batch import write_reports
        from htan_submission.staging import stage_batch

        center = self.center()
        with tempfile.TemporaryDirectory() as work:
            staged = stage_batch(self.s3, self.batch, work)
            result = scrub_batch(self.s3, staged, age_policy=center.age_policy)
        out = _run_dir(context)
        write_reports(result.tables, f"PHI in the manifests of {staged.url}", json_path=out / "phi_tables.json",
                      html_path=out / "phi_tables.html")
        write_reports(result.images, f"Image headers of {staged.url}", json_path=out / "phi_images.json",
                      html_path=out / "phi_images.html")
        summary = result.summary()
        images = summary["images"]
        self.log.info("PHI scan of %s: %s table finding(s); %s image(s) cleaned, %s bytes transferred; report: %s",
                      staged.url, len(result.tables.findings), images.get("cleaned", 0),
                      images.get("bytes_transferred", 0), out)
        log_findings(self.log, result.tables.sorted_findings() + result.images.sorted_findings())
        if result.blocking:
            raise AirflowFailException(f"{len(result.blocking)} PHI problem(s) need a person in {staged.url}: "
                                       f"see {out}/phi_tables.html and {out}/phi_images.html")
        return {"batch": staged.url, "tables": str(out / "phi_tables.json"), "images": str(out / "phi_images.json"),
                "table_findings": len(result.tables.findings), "images_cleaned": images.get("cleaned", 0),
                "bytes_transferred": images.get("bytes_transferred", 0)}


class BatchReportOperator(_BatchOperator):
    """Puts the run's step reports (validation, PHI in tables, image headers) into one HTML report
    for the liaison, uploads it to Synapse as the batch's report entity (where the liaison may
    also decide, by annotations), and tells the liaison it is ready."""

    template_fields: Sequence[str] = ("center_id", "batch", "release", "note", "synapse_folder_id")
    ui_color = "#d5f5e3"

    def __init__(self, *, note: str = "", synapse_folder_id: str | None = None,
                 synapse_conn_id: str = SynapseHook.default_conn_name, **kwargs: Any):
        super().__init__(**kwargs)
        self.note = note
        self.synapse_folder_id = synapse_folder_id
        self.synapse_conn_id = synapse_conn_id

    def execute(self, context: Any) -> dict:
        from htan_submission.airflow.links import report_index_url
        from htan_submission.airflow.notifiers import notify_liaison
        from htan_submission.reports.combined import write_batch_report
        from htan_submission.synapse.reports import report_entity_name, upload_report_entity

        out = _run_dir(context)
        html, counts = write_batch_report(out, title=f"{self.center_id} batch {self.batch}")
        entity_id = None
        if self.synapse_folder_id:
            hook = SynapseHook(synapse_conn_id=self.synapse_conn_id)
            entity_id = upload_report_entity(hook.get_conn(), self.synapse_folder_id, html,
                                             report_entity_name(self.center_id, context["run_id"]))
        url = report_index_url(context["dag"].dag_id, context["run_id"])
        self.log.info("Batch report %s (Synapse entity %s); counts %s", html, entity_id, counts)
        notified = notify_liaison(context, center_id=self.center_id, batch=self.batch, report_url=url,
                                  report_entity_id=entity_id, counts=counts, note=self.note)
        return {"report": str(html), "report_url": url, "report_entity_id": entity_id, "counts": counts,
                "notified": notified.get("channels", [])}


class PlanTransferOperator(_BatchOperator):
    """Lists the batch again (after the scrub changed image headers, so ETags are current),
    joins it with the manifests' FILENAMEs (with each file's typed annotations), and writes the
    chunk plan next to the batch in S3. XCom carries only the chunk URIs (the return value, which
    the mapped copy tasks expand over) and counts (key ``plan``)."""

    ui_color = "#d6eaf8"

    def execute(self, context: Any) -> list[str]:
        import tempfile

        from htan_submission.manifests import read_manifest
        from htan_submission.metadata.files import file_refs_with_annotations
        from htan_submission.staging import stage_batch
        from htan_submission.transfer.plan import plan_batch
        from htan_submission.transfer.store import write_chunks

        center = self.center()
        with tempfile.TemporaryDirectory() as work:
            staged = stage_batch(self.s3, self.batch, work)
            refs, findings = file_refs_with_annotations(
                [read_manifest(path, display_name=name) for path, name in staged.manifests])
        plan = plan_batch(staged.batch, refs, ingest_folder=center.ingest_folder_name, s3=self.s3,
                          manifest_keys=[staged.batch.key(name) for _, name in staged.manifests])
        plan.findings.extend(findings)
        log_findings(self.log, plan.findings, limit=len(plan.findings))
        if plan.errors:
            raise AirflowFailException(f"the transfer plan has {plan.errors} error(s): {plan.summary()}")
        uris = write_chunks(self.s3, plan, context["run_id"])
        self.log.info("%s", plan.summary())
        context["ti"].xcom_push(key="plan", value={"chunks": len(uris), "files": plan.files, "bytes": plan.bytes})
        return uris  # the mapped copy tasks expand over these (small: one URI per chunk)


class S3ToSynapseOperator(BaseOperator):
    """Moves one planned chunk of files from S3 into Synapse (``index``: zero-copy file handles
    on the registered bucket; ``copy``: streamed multipart upload), each File created with its
    annotations. Idempotent: files already there with the same MD5 are skipped, so a retry or a
    re-run resumes. Mapped over the plan's chunks (``.partial().expand(chunk_uri=...)``)."""

    template_fields: Sequence[str] = ("center_id", "chunk_uri", "mode", "release")
    ui_color = "#aed6f1"

    def __init__(self, *, center_id: str, chunk_uri: str, mode: str = "index", aws_conn_id: str = "aws_default",
                 synapse_conn_id: str = SynapseHook.default_conn_name, centers_file: str | None = None,
                 release: str | int | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.center_id = center_id
        self.chunk_uri = chunk_uri
        self.mode = mode
        self.release = release  # the run's release (trigger form); None: the center's
        self.aws_conn_id = aws_conn_id
        self.synapse_conn_id = synapse_conn_id
        self.centers_file = centers_file

    @cached_property
    def s3(self):
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        return S3Hook(aws_conn_id=self.aws_conn_id).get_conn()

    def execute(self, context: Any) -> dict:
        from htan_submission.config import get_center
        from htan_submission.transfer.run import TransferTarget, transfer_chunk
        from htan_submission.transfer.store import read_chunk

        center = get_center(self.center_id, self.centers_file).for_release(self.release)
        hook = SynapseHook(synapse_conn_id=self.synapse_conn_id)
        result = transfer_chunk(read_chunk(self.s3, self.chunk_uri), TransferTarget.for_center(center),
                                self.mode or center.transfer_mode, synapse=hook.target(), s3=self.s3)
        self.log.info("chunk %s: %s, %s bytes, %s REST calls in %.1f s", result.chunk_id, result.counts,
                      result.bytes_sent, result.rest_calls, result.seconds)
        log_findings(self.log, result.findings, limit=len(result.findings))
        failed = [f for f in result.findings if f.severity == "error"]
        if failed:
            raise AirflowFailException(f"{len(failed)} file(s) of chunk {result.chunk_id} were not transferred; "
                                       "see the log; a re-run resumes where this stopped")
        return {"chunk": result.chunk_id, "counts": result.counts, "bytes": result.bytes_sent,
                "rest_calls": result.rest_calls}


class InventoryOperator(_BatchOperator):
    """Lists the batch (one paginated walk; no byte read): how many manifests, files and bytes.
    An empty or unreadable location fails here, before anything else runs."""

    ui_color = "#eaecee"

    def execute(self, context: Any) -> dict:
        from htan_submission.transfer.inventory import list_batch, manifest_keys
        from htan_submission.transfer.keys import parse_batch_url

        batch = parse_batch_url(self.batch)
        objects = list_batch(self.s3, batch)
        manifests = manifest_keys(objects, batch)
        if not manifests:
            raise AirflowFailException(f"{batch.url} holds no manifest (CSV/TSV/XLSX at its top): check the "
                                       "batch location")
        summary = {"batch": batch.url, "objects": len(objects), "manifests": len(manifests),
                   "bytes": sum(o.size for o in objects)}
        self.log.info("Inventory of %s: %s", batch.url, summary)
        return summary


class SubmissionSummaryOperator(BaseOperator):
    """The run's last word: counts from every step, the final batch report rebuilt with them."""

    template_fields: Sequence[str] = ("center_id", "batch", "chunk_results")
    ui_color = "#d5f5e3"

    def __init__(self, *, center_id: str, batch: str, chunk_results: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.center_id = center_id
        self.batch = batch
        self.chunk_results = chunk_results  # the mapped copy tasks' results (an XComArg resolved to a list)

    def execute(self, context: Any) -> dict:
        import json

        from htan_submission.reports.batch import atomic_write
        from htan_submission.reports.combined import write_batch_report

        ti = context["ti"]
        chunks = [r for r in (self.chunk_results or []) if isinstance(r, dict)]
        transferred: dict[str, int] = {}
        for chunk in chunks:
            for action, count in chunk.get("counts", {}).items():
                transferred[action] = transferred.get(action, 0) + count
        summary = {"batch": self.batch, "validation": ti.xcom_pull(task_ids="validate"),
                   "scrub": ti.xcom_pull(task_ids="scrub"), "signoff": ti.xcom_pull(task_ids="liaison_signoff"),
                   "transfer": {"chunks": len(chunks), "files": transferred,
                                "bytes": sum(c.get("bytes", 0) for c in chunks)},
                   "metadata": ti.xcom_pull(task_ids="attach_metadata"), "verify": ti.xcom_pull(task_ids="verify")}
        out = _run_dir(context)
        atomic_write(out / "summary.json", json.dumps(summary, indent=2, default=str) + "\n")
        html, _ = write_batch_report(out, title=f"{self.center_id} batch {self.batch}: submitted")
        self.log.info("Submission of %s done: %s", self.batch, json.dumps(summary["transfer"]))
        return {"batch": self.batch, "report": str(html), "transfer": summary["transfer"]}
