"""Nightly discovery, one DAG per center: ``htan_nightly_discovery__<CENTER>``.

Finds the center's batch folders marked ready (``READY`` or ``batch.yaml``) and not yet submitted,
claims each with a ``SUBMITTED`` marker in S3, and triggers one ``htan_submission__<CENTER>`` run
per batch. One DAG per center, not one for all: each runs at 02:00 (``discovery_schedule``) in its
own center's time zone, can be paused on its own, fails on its own (one center's bucket outage
does not hide another's batches) and is visible to that center's users only, like the submission
DAG it triggers.

Wiring only: the listing, claiming and confirming are ``htan_submission.discovery`` (Airflow-free),
the task bodies ``htan_submission.airflow.discovery``; nothing heavy is imported at parse time
(boto3 comes with the S3 hook inside the tasks).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, TriggerRule, task

from htan_submission.airflow.dag_defaults import center_default_args
from htan_submission.airflow.discovery import LiteralConfTriggerDagRunOperator
from htan_submission.config import Center, load_centers
from htan_submission.discovery import DEFAULT_MAX_TRIGGERS

DISCOVERY_DAG_PREFIX = "htan_nightly_discovery__"

DOC = """
### Nightly discovery for {name} ({center_id})

At `{schedule}` ({timezone}) lists the batch folders directly under `s3://{bucket}/{prefix}` and
triggers one `{target}` run for each folder that is **ready** and **not yet submitted**.

- **Ready**: the folder holds an object `READY` (empty is fine) or `batch.yaml`, whose optional keys
  become the run's conf: `note` (text for the liaison), `components` (list), `transfer_mode`
  (`index` or `copy`). An unknown key or a wrong value is reported and the batch is not submitted.
- **Not yet submitted**: the folder has no `SUBMITTED` object. Discovery writes `SUBMITTED` (JSON:
  run id, conf, who and when) *before* triggering, then marks it `triggered` once Airflow has the
  run, so a batch is never submitted twice by the schedule, even after a crash or a re-run.
- **Submit again on purpose**: delete `SUBMITTED`, then put `READY` (or `batch.yaml`) again.
  An empty `SUBMITTED` put by hand holds a batch back.

At most {max_triggers} batches are triggered per run; the rest wait for the next night.
"""

DISCOVER_DOC = """
Lists the batch folders and their markers (one S3 listing per folder, no data file is read),
claims each ready, unsubmitted folder by creating `SUBMITTED` (conditional create: two discoveries
cannot both claim it), and returns the runs to trigger. A folder claimed earlier whose run was never
created (a crash between claim and trigger) is triggered again with the same run id.

**When it fails**: S3 is unreachable or access is denied for the `{conn}` connection; it retries.
"""

TRIGGER_DOC = """
One mapped task per claimed batch: triggers `{target}` with the claim's run id and conf (passed
literally, never rendered as a template). If the run already exists (a re-run of this task, or a
recovered claim) the task is skipped, never duplicated.
"""

CONFIRM_DOC = """
Marks each claimed batch whose run Airflow now has as `triggered` in its `SUBMITTED` marker.

**When it fails**: the log lists batches whose run could not be created (they stay claimed and the
next night triggers them again) and batches whose `batch.yaml` is wrong (fix it in S3).
"""


def build_discovery_dag(center: Center) -> DAG:
    with DAG(
        dag_id=f"{DISCOVERY_DAG_PREFIX}{center.center_id}",
        description=f"Trigger {center.dag_id} for each batch of {center.center_id} marked ready",
        doc_md=DOC.format(name=center.name, center_id=center.center_id, schedule=center.discovery_schedule,
                          timezone=center.timezone, bucket=center.s3.bucket, prefix=center.s3.prefix,
                          target=center.dag_id, max_triggers=DEFAULT_MAX_TRIGGERS),
        schedule=CronTriggerTimetable(center.discovery_schedule, timezone=center.timezone),
        start_date=pendulum.datetime(2026, 1, 1, tz=center.timezone),
        catchup=False,
        max_active_runs=1,
        tags=["htan", "discovery", center.center_id],
        default_args=center_default_args(center, retry_delay=timedelta(minutes=2)),
    ) as dag:

        @task(task_id="discover", doc_md=DISCOVER_DOC.format(conn=center.aws_conn_id),
              execution_timeout=timedelta(minutes=30))
        def discover(center_id: str) -> list[dict]:
            from airflow.sdk import get_current_context

            from htan_submission.airflow.discovery import discover_batches

            return discover_batches(center_id, get_current_context()["ti"])

        # all_done: confirm also after a failed or skipped trigger (a run that already existed), and
        # it is the DAG's leaf, so its failure is what marks a run with trouble as failed.
        @task(task_id="confirm", doc_md=CONFIRM_DOC, trigger_rule=TriggerRule.ALL_DONE,
              execution_timeout=timedelta(minutes=30))
        def confirm(center_id: str) -> dict:
            from airflow.sdk import get_current_context

            from htan_submission.airflow.discovery import confirm_batches

            return confirm_batches(center_id, get_current_context()["ti"])

        found = discover(center.center_id)
        trigger = LiteralConfTriggerDagRunOperator.partial(
            task_id="trigger",
            trigger_dag_id=center.dag_id,
            logical_date=None,
            skip_when_already_exists=True,
            openlineage_inject_parent_info=False,
            doc_md=TRIGGER_DOC.format(target=center.dag_id),
            execution_timeout=timedelta(minutes=5),
        ).expand_kwargs(found)
        [found, trigger] >> confirm(center.center_id)
    return dag


for _center in load_centers().values():
    if _center.discovery_schedule:
        globals()[f"{DISCOVERY_DAG_PREFIX}{_center.center_id}"] = build_discovery_dag(_center)
