"""One submission DAG per center in centers.yaml: ``htan_submission__<CENTER>``.

Wiring only: the steps live in ``htan_submission``. Parsing reads centers.yaml and imports
nothing heavy (no pandas, synapseclient, boto3 or tifffile), so the DAG processor stays fast.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param

from htan_submission.airflow.operators import CertificationCheckOperator
from htan_submission.config import Center, load_centers

DOC = """
### HTAN submission for {name} ({center_id})

One run submits one batch of this center to Synapse project `{project}`, into
`{ingest}`. Steps so far:

1. **preflight**: the Synapse user of the `{conn}` connection is a Certified User, has
   two-factor authentication on, has accepted the Terms of Service, and may upload to `{ingest}`.

When **preflight** fails, its log lists every missing step and how to fix it (certification
quiz, 2FA, Terms of Service, access from the data liaison). Fix them in Synapse, then clear the
task: it is not retried automatically, because no retry can fix them.
"""

PREFLIGHT_DOC = """
Logs in with the `synapse_default` connection's token and checks certification, 2FA, Terms of
Service and upload permission on the center's ingest folder. Returns (XCom) the user, the target
folder id and each check's outcome; never the token.

**When it fails**: read the log's `fix:` lines; each names the Synapse page that explains the
step. A Synapse outage (5xx) is retried; a failed check is not.
"""


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
            "note": Param("", type="string", title="Note for the liaison",
                          description="Free text shown to the data liaison with the report."),
        },
        default_args={
            "owner": f"htan-{center.center_id.lower()}",
            "retries": 2,
            "retry_delay": timedelta(minutes=1),
            "retry_exponential_backoff": True,
            "max_retry_delay": timedelta(minutes=30),
        },
    ) as dag:
        CertificationCheckOperator(
            task_id="preflight",
            center_id=center.center_id,
            synapse_conn_id=center.synapse_conn_id,
            execution_timeout=timedelta(minutes=10),
            doc_md=PREFLIGHT_DOC,
        )
    return dag


for _center in load_centers().values():
    globals()[_center.dag_id] = build_dag(_center)
