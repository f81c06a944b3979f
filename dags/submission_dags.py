"""One submission DAG per center in centers.yaml: ``htan_submission__<CENTER>``.

Wiring only: the steps live in ``htan_submission``. Parsing reads centers.yaml and imports
nothing heavy (no pandas, synapseclient, boto3 or tifffile), so the DAG processor stays fast.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.providers.standard.operators.python import ShortCircuitOperator
from airflow.sdk import DAG, Param, TaskGroup

from htan_submission.airflow.dag_defaults import center_default_args
from htan_submission.airflow.metadata_operators import AttachMetadataOperator, VerifySubmissionOperator
from htan_submission.airflow.operators import (
    BatchReportOperator,
    CertificationCheckOperator,
    InventoryOperator,
    ManifestValidationOperator,
    PhiScrubOperator,
    PlanTransferOperator,
    S3ToSynapseOperator,
    SubmissionSummaryOperator,
)
from htan_submission.airflow.sensors import LiaisonSignOffSensor
from htan_submission.config import Center, load_centers

DOC = """
### HTAN submission for {name} ({center_id})

One run submits one batch (an S3 prefix: manifests at the top, data files in sub-folders) of
this center to Synapse project `{project}`, into `{ingest}`:

1. **checks**: `preflight` (the `{conn}` user is certified, has 2FA, accepted the ToS, may
   upload), `inventory` (what is in the batch), `validate` (HTAN2 schemas + the DCC's
   cross-manifest rules), `scrub` (PHI in tables found; PHI in image headers removed in S3).
2. **review**: `report` (one HTML report, uploaded to Synapse; the liaison is told), `dry_run_gate`
   (a dry run stops here), `liaison_signoff` (waits, without a worker, for the liaison's decision:
   the `htan_liaison_review` DAG or annotations on the report entity in Synapse).
3. **transfer**: `plan` (chunks written next to the batch), `copy` (mapped over chunks; index =
   zero-copy, copy = streamed).
4. **metadata**: `attach_metadata` (RecordSets for record-based components; annotations checked),
   `verify` (read back, and Synapse's own schema validation).
5. `summary`.

Every step writes its report under the run's folder; the "HTAN report" link on each task opens it.
A failed check is not retried (a person must act; the log and report say how); outages are.
"""

PREFLIGHT_DOC = """
Logs in with the `synapse_default` connection's token and checks certification, 2FA, Terms of
Service and upload permission on the center's ingest folder. Returns (XCom) the user, the target
folder id and each check's outcome; never the token.

**When it fails**: read the log's `fix:` lines; each names the Synapse page that explains the
step. A Synapse outage (5xx) is retried; a failed check is not.
"""

VALIDATE_DOC = """
Reads the batch's manifests (the CSV/TSV/XLSX files at the top of the batch prefix), checks each
against its component's HTAN2 JSON Schema (compiled to Pandera) and runs the DCC's cross-manifest
rules (unique keys, Demographics per participant, parents by level, ChannelMetadata, every
FILENAME present, size floors, FILE_FORMAT), also against the IDs already in the center's
ingest folder in Synapse. Writes `validation.html/json/csv` with the run.

**When it fails**: open `validation.html`; each finding names the file, row and column and how to
fix it. Fix the manifests in S3 and clear the task. It is not retried: a retry cannot fix data.
"""

SCRUB_DOC = """
Scans every manifest for PHI (dates, ages over 89 years, e-mail, phone, SSN, MRN, ZIP, URL, IP,
card numbers) and removes PHI from the headers of every image in the batch, in place in S3
(TIFF, SVS, OME-TIFF, NDPI, DICOM; label and macro images blanked; pixels untouched).

**When it fails**: `phi_tables.html` lists cells (file, row, column, kind; never the value) that
a person must fix, e.g. dates to convert with `htan-submit scrub-table`; `phi_images.html` lists
images that could not be parsed. Fix them and clear the task.
"""

INVENTORY_DOC = """
Lists the batch prefix (paginated; no byte is read): objects, bytes, manifests. **When it fails**:
the batch location is wrong or holds no manifest at its top; fix the `batch` parameter.
"""

REPORT_DOC = """
Builds `report.html` (validation, PHI in tables, image headers), uploads it to Synapse under
`vN_ingest/_reports`, and tells the center's liaison (centers.yaml `notify`) with the report link,
the review form, the counts and the submitter's note. **When it fails**: Synapse or the
notification channel was unreachable; it is retried.
"""

GATE_DOC = """
A dry run (`dry_run` parameter) stops after the report: everything downstream is skipped.
"""

SIGNOFF_DOC = """
Waits for the liaison's decision on this run's report, without holding a worker (deferrable):
**approved** continues, **rejected** fails with the liaison's comment, no decision within the
center's `signoff_timeout_days` fails and notifies. Decide in the `htan_liaison_review` DAG (form:
center, run id, batch, decision, comment) or by setting `liaison_decision`/`liaison_comment`
annotations on the report entity in Synapse. Only the center's liaisons count; others are logged.

**When it fails**: a rejection carries the liaison's comment: fix the batch and submit it again (a
decision and the timeout are never retried). Anything else (a lost worker, S3 unreachable) is
retried, and the retry finds the decision already made.
"""

PLAN_DOC = """
Lists the batch again (the scrub changed image headers), joins it with the manifests' FILENAMEs
and their typed annotations, and writes the chunk plan next to the batch in S3. **When it fails**:
a referenced file is missing or unsafe; the log names it.
"""

COPY_DOC = """
Moves one chunk (index: zero-copy file handles; copy: streamed multipart) and creates each File
with its annotations. Idempotent: a retry or re-run skips what is already there. **When it
fails**: the log names each file and why; re-run the task after fixing it.
"""

ATTACH_DOC = """
Upserts the record-based manifests into their RecordSets (keyed by the component's key) and
checks/repairs annotations on the transferred files. **When it fails**: a schema is not registered
or a write was refused; the log says which.
"""

VERIFY_DOC = """
Reads annotations back and asks Synapse's schema validation of every file and RecordSet (polling
until it matches the entity's etag); writes `verify.html`. **When it fails**: the report lists the
invalid items; fix the manifest and re-run from `attach_metadata`.
"""

SUMMARY_DOC = """
Counts from every step into `summary.json`, and the final `report.html`.
"""

SYNAPSE_POOL = "synapse_api"  # one submitter's Synapse calls: keep under 3 concurrent requests
# How often the triggerer looks for the liaison's decision (a minute; tests and demos go faster).
SIGNOFF_POLL_SECONDS = float(os.environ.get("HTAN_SIGNOFF_POLL_SECONDS") or 60)


def _not_dry_run(**context) -> bool:
    return not context["params"].get("dry_run")


def build_dag(center: Center) -> DAG:
    with DAG(
        dag_id=center.dag_id,
        description=f"Submit a batch of {center.center_id} to Synapse",
        doc_md=DOC.format(name=center.name, center_id=center.center_id, project=center.synapse_project_id,
                          ingest=center.ingest_folder_name, conn=center.synapse_conn_id),
        schedule=None,
        start_date=pendulum.datetime(2026, 1, 1, tz=center.timezone),
        catchup=False,
        max_active_runs=4,
        tags=["htan", "submission", center.center_id],
        params={
            "batch": Param(f"s3://{center.s3.bucket}/{center.s3.prefix}", type="string", title="Batch location",
                           description="The S3 URI of the batch: manifests at the top, data files in sub-folders.",
                           pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$"),
            "components": Param([], type="array", title="Components to include",
                                description="Leave empty for all components found in the batch."),
            "release": Param(center.release, type="integer", minimum=1, title="Release",
                             description=f"The HTAN release the batch belongs to: files go to v<release>_ingest "
                                         f"(the DCC creates it; {center.center_id} is on {center.release})."),
            "transfer_mode": Param(center.transfer_mode, type="string", enum=["index", "copy"],
                                   title="Transfer mode",
                                   description="index: zero-copy from the registered bucket; "
                                               "copy: into Synapse storage."),
            "dry_run": Param(False, type="boolean", title="Dry run",
                             description="Stop after the report: nothing is sent to the liaison for sign-off or "
                                         "transferred."),
            # null allowed: Airflow's form treats a non-nullable string left empty as missing.
            "note": Param(None, type=["null", "string"], title="Note for the liaison",
                          description="Optional free text shown to the data liaison with the report."),
        },
        default_args=center_default_args(center, retry_delay=timedelta(minutes=1)),
    ) as dag:
        batch = "{{ params.batch }}"
        folder = "{{ ti.xcom_pull(task_ids='preflight')['target_folder_id'] }}"
        common = {"center_id": center.center_id, "aws_conn_id": center.aws_conn_id, "release": "{{ params.release }}"}
        with TaskGroup("checks", prefix_group_id=False, tooltip="submitter, batch, manifests, PHI"):
            preflight = CertificationCheckOperator(
                task_id="preflight", center_id=center.center_id, synapse_conn_id=center.synapse_conn_id,
                release="{{ params.release }}", pool=SYNAPSE_POOL, execution_timeout=timedelta(minutes=10),
                doc_md=PREFLIGHT_DOC)
            inventory = InventoryOperator(task_id="inventory", batch=batch, execution_timeout=timedelta(minutes=30),
                                          doc_md=INVENTORY_DOC, **common)
            validate = ManifestValidationOperator(
                task_id="validate", batch=batch, components="{{ params.components | join(',') }}",
                synapse_folder_id=folder, synapse_conn_id=center.synapse_conn_id, pool=SYNAPSE_POOL,
                execution_timeout=timedelta(hours=1), doc_md=VALIDATE_DOC, **common)
            scrub = PhiScrubOperator(task_id="scrub", batch=batch, execution_timeout=timedelta(hours=6),
                                     doc_md=SCRUB_DOC, **common)
            preflight >> inventory >> validate >> scrub
        with TaskGroup("review", prefix_group_id=False, tooltip="report, liaison sign-off"):
            report = BatchReportOperator(
                task_id="report", batch=batch, note="{{ params.note or '' }}", synapse_folder_id=folder,
                synapse_conn_id=center.synapse_conn_id, pool=SYNAPSE_POOL, execution_timeout=timedelta(minutes=30),
                doc_md=REPORT_DOC, **common)
            gate = ShortCircuitOperator(
                task_id="dry_run_gate", python_callable=_not_dry_run, retries=0,
                execution_timeout=timedelta(minutes=5), doc_md=GATE_DOC)
            signoff = LiaisonSignOffSensor(
                task_id="liaison_signoff", center_id=center.center_id, batch=batch,
                report_entity_id="{{ ti.xcom_pull(task_ids='report')['report_entity_id'] }}",
                report_url="{{ ti.xcom_pull(task_ids='report')['report_url'] }}", poll_interval=SIGNOFF_POLL_SECONDS,
                # A decision or the timeout is final (AirflowFailException / AirflowSensorTimeout are never
                # retried); a lost worker or a resume that Airflow's scheduler races with the trigger is
                # not: the retry pokes once and finds the same decision in the store.
                retry_delay=timedelta(seconds=15), retry_exponential_backoff=False,
                doc_md=SIGNOFF_DOC)
            report >> gate >> signoff
        with TaskGroup("transfer", prefix_group_id=False, tooltip="S3 to Synapse, mapped over chunks"):
            plan = PlanTransferOperator(task_id="plan", batch=batch, execution_timeout=timedelta(hours=1),
                                        doc_md=PLAN_DOC, **common)
            copy = S3ToSynapseOperator.partial(
                task_id="copy", center_id=center.center_id, mode="{{ params.transfer_mode }}",
                release="{{ params.release }}",
                aws_conn_id=center.aws_conn_id, synapse_conn_id=center.synapse_conn_id, pool=SYNAPSE_POOL,
                execution_timeout=timedelta(hours=12), doc_md=COPY_DOC,
            ).expand(chunk_uri=plan.output)
        with TaskGroup("metadata", prefix_group_id=False, tooltip="annotations, RecordSets, verification"):
            attach = AttachMetadataOperator(task_id="attach_metadata", batch=batch,
                                            synapse_conn_id=center.synapse_conn_id, pool=SYNAPSE_POOL,
                                            execution_timeout=timedelta(hours=2), doc_md=ATTACH_DOC, **common)
            verify = VerifySubmissionOperator(task_id="verify", batch=batch, synapse_conn_id=center.synapse_conn_id,
                                              pool=SYNAPSE_POOL, execution_timeout=timedelta(hours=2),
                                              doc_md=VERIFY_DOC, **common)
            attach >> verify
        summary = SubmissionSummaryOperator(task_id="summary", center_id=center.center_id, batch=batch,
                                            chunk_results=copy.output, execution_timeout=timedelta(minutes=10),
                                            doc_md=SUMMARY_DOC)
        scrub >> report
        signoff >> plan
        copy >> attach
        verify >> summary
    return dag


for _center in load_centers().values():
    globals()[_center.dag_id] = build_dag(_center)
